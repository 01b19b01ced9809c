"""The daily, monthly and yearly aggregate tables: their counters, the upserts that keep them
with every insert (and with every review that moves a response in or out of the indices), and
the sums read back from them for a scope of responses: whole years from the yearly table,
the whole months left over from the monthly one, the days left over from the daily one.

On PostgreSQL a key's counts (unit, service, survey version, flagged, day or month) are
spread over AGGREGATE_SLOTS rows, a response's counts going to the slot of its id
(`slot_of`): the kiosks of one busy unit and service then share 8 rows, not one whose lock
every submission would wait for until the one before it commits. On SQLite, whose writers
take turns on the whole database, a key has one row, slot 0 (`slots`): eight only spread a
batch's counts over eight times the pages, each written to the WAL and synced again. Each
slot row counts exactly the responses of its slot (a review moves a response's counts within
its slot), and every reader sums the slots: what it reads is the same as with one row.
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    ColumnElement,
    Date,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateTable

from app.method import ELEMENTS
from app.models import DailyAggregate, MonthlyAggregate, Unit, YearlyAggregate
from app.periods import split_months, split_years
from app.statements import SqliteStatements, dialect_insert, execute_many, fetch_all
from app.stored_responses import RESPONSES
from app.units import subtree_ids

DAILY: Table = DailyAggregate.__table__  # type: ignore[assignment]
MONTHLY: Table = MonthlyAggregate.__table__  # type: ignore[assignment]
YEARLY: Table = YearlyAggregate.__table__  # type: ignore[assignment]
_TABLES = ((DAILY, "local_date"), (MONTHLY, "month"), (YEARLY, "year"))
AGGREGATE_KEY = ("unit_id", "service_id", "survey_version_id", "flagged")
FLAGGED = ("suspected", "confirmed")  # the flags that keep a response out of the indices
AGGREGATE_SLOTS = 8  # rows per key; readers sum them
AGGREGATE_COUNTERS = (
    "responses",
    "complete",
    "complete_total",
    "complete_total_sq",
    *(f"{e}_{s}" for e in ELEMENTS for s in ("n", "sum", "sq")),
)


# --- keeping them ----------------------------------------------------------------------------


def slots(dialect: str) -> int:
    """Rows per key: AGGREGATE_SLOTS on PostgreSQL, one on SQLite (one writer at a time:
    no row lock to share out; migration 0013 folded its slots into slot 0)."""
    return AGGREGATE_SLOTS if dialect == "postgresql" else 1


def slot_of(response_id: uuid.UUID, of: int = AGGREGATE_SLOTS) -> int:
    """The slot a response is counted in, of `of` (`slots`): from its id's last bits (random
    in a uuid4)."""
    return response_id.int % of


def aggregate_rows(
    rows: Iterable[dict[str, Any]],
    bucket: str,
    bucket_of: Callable[[date], date],
    now: datetime,
    of: int = AGGREGATE_SLOTS,
) -> list[dict[str, Any]]:
    """Sum response rows into one counter row per key, time bucket and slot (of `of`), in
    that order (the order writers lock them in)."""
    totals: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(AGGREGATE_COUNTERS))
    for row in rows:
        flagged = row["flag"] in FLAGGED
        key = (
            row["unit_id"],
            row["service_id"],
            row["survey_version_id"],
            flagged,
            bucket_of(row["local_date"]),
            slot_of(row["id"], of),
        )
        counters = totals[key]
        counters[0] += 1
        answered = [row[e] for e in ELEMENTS if row[e] is not None]
        if len(answered) == len(ELEMENTS):
            total = sum(answered)
            counters[1] += 1
            counters[2] += total
            counters[3] += total * total
        for position, element in enumerate(ELEMENTS):
            score = row[element]
            if score is not None:
                counters[4 + 3 * position] += 1
                counters[5 + 3 * position] += score
                counters[6 + 3 * position] += score * score
    return [
        {
            **dict(zip((*AGGREGATE_KEY, bucket, "slot"), key, strict=True)),
            **dict(zip(AGGREGATE_COUNTERS, counters, strict=True)),
            "updated_at": now,
        }
        for key, counters in sorted(totals.items())
    ]


def month_of(day: date) -> date:
    return day.replace(day=1)


def year_of(day: date) -> date:
    return day.replace(month=1, day=1)


def adding(insert: Any, table: Table, bucket: str) -> Any:
    """The insert, adding to every counter of the row already under its key."""
    return insert.on_conflict_do_update(
        index_elements=[*AGGREGATE_KEY, bucket, "slot"],
        set_={
            **{c: table.c[c] + insert.excluded[c] for c in AGGREGATE_COUNTERS},
            "updated_at": insert.excluded.updated_at,
        },
    )


@cache
def _upsert(dialect: str, table: Table, bucket: str) -> Any:
    """INSERT … ON CONFLICT DO UPDATE adding to every counter; built once per table (building
    it costs more than running it)."""
    return adding(dialect_insert(dialect)(table), table, bucket)


async def add_to_aggregates(
    conn: AsyncConnection,
    rows: list[dict[str, Any]],
    now: datetime,
    removed: Iterable[dict[str, Any]] = (),
) -> None:
    """Add the rows' counts to the daily, monthly and yearly aggregates and take the
    `removed` rows' counts out of them.

    Every writer takes aggregate rows in one order — the days, then the months, then the
    years, each in key order — so that no two transactions wait for each other in a circle
    (a deadlock)."""
    for statement, counted in aggregate_upserts(conn.dialect.name, rows, now, removed):
        await execute_many(conn, statement, counted)


def aggregate_upserts(
    dialect: str,
    rows: list[dict[str, Any]],
    now: datetime,
    removed: Iterable[dict[str, Any]] = (),
) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The statements of `add_to_aggregates`, in order, each with its parameter sets (for a
    caller that runs them itself: SQLite's insert runs them in its thread)."""
    removed = list(removed)
    upserts = []
    of = slots(dialect)
    for table, bucket, bucket_of in (
        (DAILY, "local_date", lambda day: day),
        (MONTHLY, "month", month_of),
    ):
        counted = aggregate_rows(rows, bucket, bucket_of, now, of)
        for counters in aggregate_rows(removed, bucket, bucket_of, now, of):
            for name in AGGREGATE_COUNTERS:
                counters[name] = -counters[name]
            counted.append(counters)
        counted.sort(key=lambda c: tuple(c[k] for k in (*AGGREGATE_KEY, bucket, "slot")))
        upserts.append((_upsert(dialect, table, bucket), counted))
    upserts.append((_upsert(dialect, YEARLY, "year"), _years_of(upserts[-1][1], now)))
    return upserts


# SQLite: each table's bucket of a response's local_date (ISO text), by SQLite's date().
_SQLITE_BUCKETS = {"local_date": None, "month": "start of month", "year": "start of year"}

# SQLite: the counts of the responses just inserted per key and day, summed once for the
# three tables (`add_inserted_sqlite`); a temporary table, each connection's own, emptied
# again in the same transaction.
_NEW_COUNTS = Table(
    "skm_new_counts",
    MetaData(),
    *(Column(c, Integer) for c in AGGREGATE_KEY),
    Column("local_date", Date),
    *(Column(c, Integer) for c in AGGREGATE_COUNTERS),
    prefixes=["TEMPORARY"],
)


# SQLite: the rowid of `responses` (a table with a rowid: its key is not an integer).
_responses_rowid = literal_column("responses.rowid", Integer)


@cache
def last_rowid() -> Any:
    """SQLite: the largest rowid in `responses` (0 when empty), read before an insert:
    the rows it inserts are those above it (`add_inserted_sqlite`)."""
    return select(func.coalesce(func.max(_responses_rowid), 0).label("last")).select_from(RESPONSES)


def add_inserted_sqlite(
    statements: SqliteStatements, after: int, inserted: int, now: datetime
) -> bool:
    """SQLite, in its thread: the `inserted` responses just inserted, the rows of
    `responses` above rowid `after` (`last_rowid`), counted in the daily, monthly and
    yearly aggregates (the days, then the months, then the years, in slot 0: `slots`).

    SQLite sums them once per key and day into a temporary table, from which each table is
    added to: one read of the new rows (a range of rowids: SQLite gives a new row the rowid
    after the largest), where each table's sum looked every id up again. False, with
    nothing added, when the rows above `after` are not `inserted` many (SQLite picks rowids
    at random once the largest possible one is taken): the caller counts them otherwise."""
    statements.execute_sql(_new_counts_ddl())
    statements.execute_many(_sum_new_counts(), [{"after": after}])
    [summed] = statements.fetch_all(_new_counts_total(), {})
    all_new = bool(summed.responses == inserted)
    if all_new:
        for statement in _sqlite_inserted_upserts():
            statements.execute_many(statement, [{"updated_at": now}])
    statements.execute_many(delete(_NEW_COUNTS), [{}])
    return all_new


@cache
def _new_counts_ddl() -> str:
    return str(CreateTable(_NEW_COUNTS, if_not_exists=True).compile(dialect=sqlite.dialect()))


@cache
def _sum_new_counts() -> Any:
    """The rows above rowid `after`, summed per key and day into `_NEW_COUNTS`."""
    flagged = case((or_(*(RESPONSES.c.flag == f for f in FLAGGED)), True), else_=False)
    keys = [*(RESPONSES.c[c] for c in AGGREGATE_KEY[:-1]), flagged, RESPONSES.c.local_date]
    counters = [func.coalesce(counter, literal_column("0")) for counter in _counter_sums()]
    summed = (
        select(*keys, *counters)
        .where(_responses_rowid > bindparam("after", type_=Integer))
        .group_by(*keys)
    )
    names = [*AGGREGATE_KEY, "local_date", *AGGREGATE_COUNTERS]
    return insert(_NEW_COUNTS).from_select(names, summed)


@cache
def _new_counts_total() -> Any:
    counted = func.coalesce(func.sum(_NEW_COUNTS.c.responses), 0)
    return select(counted.label("responses"))


@cache
def _sqlite_inserted_upserts() -> list[Any]:
    """The upserts of `add_inserted_sqlite`, from `_NEW_COUNTS`: the days as summed, the
    months and years summed again from them (a few rows)."""
    new = _NEW_COUNTS.c
    keys = [new[c] for c in AGGREGATE_KEY]
    upserts = []
    for table, bucket in _TABLES:
        start_of = _SQLITE_BUCKETS[bucket]
        if start_of is None:
            values: list[Any] = [new.local_date, *(new[c] for c in AGGREGATE_COUNTERS)]
            grouped: list[Any] = []
        else:
            bucket_value = func.date(new.local_date, start_of)
            values = [bucket_value, *(func.sum(new[c]) for c in AGGREGATE_COUNTERS)]
            grouped = [*keys, bucket_value]
        summed = (
            select(
                *keys,
                values[0],
                literal_column("0"),  # the slot: one per key on SQLite
                *values[1:],
                bindparam("updated_at", type_=table.c.updated_at.type),
            )
            # A WHERE before ON CONFLICT: an upsert's SELECT needs one (SQLite's parser).
            .where(true())
            .group_by(*grouped)
        )
        names = [*AGGREGATE_KEY, bucket, "slot", *AGGREGATE_COUNTERS, "updated_at"]
        insert_ = dialect_insert("sqlite")(table).from_select(names, summed)
        upserts.append(adding(insert_, table, bucket))
    return upserts


def _years_of(monthly: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The monthly parameter sets summed per key, year and slot (what is added to a month is
    added to its year), in key order."""
    totals: dict[tuple[Any, ...], list[int]] = {}
    for row in monthly:
        key = (*(row[k] for k in AGGREGATE_KEY), year_of(row["month"]), row["slot"])
        counters = totals.setdefault(key, [0] * len(AGGREGATE_COUNTERS))
        for position, name in enumerate(AGGREGATE_COUNTERS):
            counters[position] += row[name]
    return [
        {
            **dict(zip((*AGGREGATE_KEY, "year", "slot"), key, strict=True)),
            **dict(zip(AGGREGATE_COUNTERS, counters, strict=True)),
            "updated_at": now,
        }
        for key, counters in sorted(totals.items())
    ]


# --- reading them ----------------------------------------------------------------------------


class Subtree(Protocol):
    """A unit as the sums need it (`app.indices.Node` is one)."""

    @property
    def id(self) -> int: ...

    @property
    def path(self) -> str: ...  # "/1/5/17/": the ids from the root


@dataclass(frozen=True)
class Scope:
    """Whose responses, over which local days."""

    unit: Subtree
    start: date
    end: date
    service_id: int | None = None
    include_flagged: bool = False


@dataclass
class Sums:
    """Summed aggregate counters of a set of responses, and when they last changed."""

    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AGGREGATE_COUNTERS, 0))
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> "Sums":
        """From a row with the counters and updated_at as attributes (a SQLAlchemy row, or
        psycopg's on PostgreSQL, whose timestamps come in the session's time zone)."""
        updated_at: datetime | None = row.updated_at
        return cls(
            {c: int(getattr(row, c) or 0) for c in AGGREGATE_COUNTERS},
            updated_at.astimezone(UTC) if updated_at is not None else None,
        )

    def add(self, other: "Sums") -> None:
        for name, value in other.counters.items():
            self.counters[name] += value
        self.updated_at = latest(self.updated_at, other.updated_at)

    @property
    def responses(self) -> int:
        return self.counters["responses"]


def latest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None


@dataclass
class Totals:
    """Aggregate sums over a scope: the counted groups, and what the method must report."""

    groups: dict[tuple[Any, ...], Sums]
    flagged: int  # flagged responses in scope, counted or not
    versions: list[int]  # survey versions of the counted responses
    updated_at: datetime | None  # the latest change to any of them, flagged ones included

    def pooled(self) -> Sums:
        total = Sums()
        for sums in self.groups.values():
            total.add(sums)
        return total


def _bucket_rows(table: Table, bucket: str, low: str, high: str, service: bool) -> Select[Any]:
    # Unit paths hold only digits and '/', so a LIKE prefix needs no escaping.
    subtree = select(Unit.id).where(Unit.path.like(bindparam("subtree", type_=String)))
    query = select(
        table.c.unit_id,
        table.c.service_id,
        table.c.survey_version_id,
        table.c.flagged,
        table.c[bucket].label("bucket"),
        *(table.c[c] for c in AGGREGATE_COUNTERS),
        table.c.updated_at,
    ).where(
        table.c.unit_id.in_(subtree),
        table.c[bucket].between(bindparam(low, type_=Date), bindparam(high, type_=Date)),
    )
    if service:
        query = query.where(table.c.service_id == bindparam("service_id", type_=Integer))
    return query


@cache
def _aggregate_statement(
    group_by: tuple[str, ...], day_ranges: int, month_ranges: int, years: bool, service: bool
) -> Select[Any]:
    """Built once per shape (building costs more than running): whole years from the yearly
    table, the whole months left over from the monthly one, the days left over from the
    daily one, summed per group, survey version and flag."""
    parts = [
        _bucket_rows(DAILY, "local_date", f"day_low_{i}", f"day_high_{i}", service)
        for i in range(day_ranges)
    ]
    parts += [
        _bucket_rows(MONTHLY, "month", f"month_low_{i}", f"month_high_{i}", service)
        for i in range(month_ranges)
    ]
    if years:
        parts.append(_bucket_rows(YEARLY, "year", "year_low", "year_high", service))
    rows = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    keys = [rows.c[g] for g in (*group_by, "survey_version_id", "flagged")]
    return select(
        *keys,
        *(func.sum(rows.c[c]).label(c) for c in AGGREGATE_COUNTERS),
        func.max(rows.c.updated_at).label("updated_at"),
    ).group_by(*keys)


async def aggregate_totals(
    conn: AsyncConnection, scope: Scope, group_by: Sequence[str] = ()
) -> Totals:
    """Counter sums over the scope, grouped by any of unit_id, service_id and bucket (a
    month's first day, or a day outside whole months: grouped by bucket, whole years are
    read as their months)."""
    split = split_months(scope.start, scope.end)
    params: dict[str, Any] = {"subtree": scope.unit.path + "%", "service_id": scope.service_id}
    for i, (low, high) in enumerate(split.days):
        params[f"day_low_{i}"], params[f"day_high_{i}"] = low, high
    month_ranges: list[tuple[date, date]] = []
    years: tuple[date, date] | None = None
    if split.months is not None:
        if "bucket" in group_by:
            month_ranges = [split.months]
        else:
            years, month_ranges = split_years(*split.months)
    for i, (low, high) in enumerate(month_ranges):
        params[f"month_low_{i}"], params[f"month_high_{i}"] = low, high
    if years is not None:
        params["year_low"], params["year_high"] = years
    statement = _aggregate_statement(
        tuple(group_by),
        len(split.days),
        len(month_ranges),
        years is not None,
        scope.service_id is not None,
    )
    totals = Totals({}, 0, [], None)
    versions: set[int] = set()
    width = len(group_by)
    for row in await fetch_all(conn, statement, params):
        sums = Sums.from_row(row)
        if not sums.responses:
            continue
        totals.updated_at = latest(totals.updated_at, sums.updated_at)
        flagged = bool(row[width + 1])
        if flagged:
            totals.flagged += sums.responses
            if not scope.include_flagged:
                continue
        versions.add(row[width])
        totals.groups.setdefault(tuple(row[:width]), Sums()).add(sums)
    totals.versions = sorted(versions)
    return totals


def raw_counter_columns() -> list[ColumnElement[Any]]:
    """The aggregate counters, summed directly over response rows."""
    return [
        counter.label(name)
        for name, counter in zip(AGGREGATE_COUNTERS, _counter_sums(), strict=True)
    ]


def _counter_sums() -> list[ColumnElement[Any]]:
    """`raw_counter_columns`, unnamed."""
    scores = [RESPONSES.c[e] for e in ELEMENTS]
    total: ColumnElement[Any] = scores[0]
    for score in scores[1:]:
        total = total + score  # NULL unless all nine were answered
    columns: list[ColumnElement[Any]] = [
        func.count(),
        func.count(total),
        func.sum(total),
        func.sum(total * total),
    ]
    for score in scores:
        columns += [func.count(score), func.sum(score), func.sum(score * score)]
    return columns


async def raw_sums(
    conn: AsyncConnection, scope: Scope, group_by: ColumnElement[Any] | None = None
) -> dict[Any, Sums]:
    """Counter sums straight from the response rows (optionally grouped by a column)."""
    key = group_by if group_by is not None else literal(None)
    query = (
        select(
            key.label("key"),
            *raw_counter_columns(),
            func.max(RESPONSES.c.received_at).label("updated_at"),
        )
        .where(
            RESPONSES.c.unit_id.in_(subtree_ids(scope.unit.path)),
            RESPONSES.c.local_date.between(scope.start, scope.end),
        )
        .group_by(key)
    )
    if scope.service_id is not None:
        query = query.where(RESPONSES.c.service_id == scope.service_id)
    if not scope.include_flagged:
        query = query.where(RESPONSES.c.flag.is_(None) | (RESPONSES.c.flag == "cleared"))
    return {row.key: Sums.from_row(row) for row in await conn.execute(query) if row.responses}
