"""Storing responses: validation against units, services and survey versions
(`app.response_checks`), burst detection (`app.bursts`), idempotent insert keyed by the
client's UUID, daily and monthly aggregates kept atomically with it (`app.aggregates`)."""

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from types import SimpleNamespace
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, literal_column, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from app.aggregates import (
    AGGREGATE_COUNTERS,
    AGGREGATE_KEY,
    DAILY,
    MONTHLY,
    YEARLY,
    add_inserted_sqlite,
    add_to_aggregates,
    adding,
    aggregate_rows,
    aggregate_upserts,
    last_rowid,
    month_of,
    year_of,
)
from app.auth import KEY, KEY_COLUMNS, device_of
from app.bursts import (
    compared_months,
    compared_range,
    flag_bursts,
    nearest_alike,
    nearest_params,
    recent_alike,
    recent_from_json,
    recent_params,
    stored_signature,
)
from app.config import Settings
from app.db import utcnow
from app.errors import FieldProblem, Problem, ProblemError, conflict, invalid
from app.response_checks import (
    NamedService,
    NamedUnit,
    answered_scores,
    check_item,
    references_found,
    references_params,
    references_query,
)
from app.schemas import ResponseIn, ResponseOut
from app.statements import (
    SqliteStatements,
    dialect_insert,
    execute_many,
    fetch_all,
    kept_cursor,
    on_sqlite_thread,
    retrying,
    transaction,
)
from app.stored_responses import (
    REGISTRY,
    RESPONSES,
    Registered,
    by_ids,
    registered_of,
    response_out,
    stored_in_scope,
)
from app.surveys import VersionCache

Status = Literal["created", "duplicate", "conflict", "invalid"]


@dataclass
class Outcome:
    index: int
    id: uuid.UUID | None
    status: Status
    response: ResponseOut | None = None
    problem: Problem | None = None


@dataclass(frozen=True)
class Submitter:
    """Who posts: the key (recorded on each response), its device label for burst detection,
    and its scope (units outside it are unknown to it)."""

    api_key_id: int | None
    device: str | None
    scope_path: str | None
    services: frozenset[int] | None = None  # the key's services, when restricted to some


@dataclass(frozen=True)
class ByToken:
    """A submitter known so far by its key's token: the key is read with the submission's
    first statement (`_read_for_validation`: one round trip saved) and given to `admit`,
    which refuses it (401, 429, 403 raised) or gives the submitter."""

    token_hash: str
    admit: Callable[[Any], Awaitable[Submitter]]


# The canonical form's encoder, made once (json.dumps with options makes one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(item: ResponseIn, scores: Mapping[str, int | None] | None = None) -> str:
    """sha256 of the submission's canonical form: equal for a faithful retry, whatever the
    offset collected_at was written in or whether unanswered elements were null or absent.
    `scores`: the item's answers dumped (`item.answers.model_dump()`), when the caller has
    them."""
    canonical = {
        "unit": item.unit,
        "service": item.service,
        "survey_version_id": item.survey_version_id,
        "channel": item.channel,
        "collected_at": item.collected_at.astimezone(UTC).isoformat(),
        "answers": answered_scores(item, scores),
        "profile": item.profile.model_dump(exclude_none=True),
        "extra_answers": item.extra_answers or {},
        "suggestion": item.suggestion or None,
    }
    return hashlib.sha256(_CANONICAL.encode(canonical).encode()).hexdigest()


def _row(
    item: ResponseIn,
    answers: dict[str, int | None],
    unit: NamedUnit,
    service_id: int,
    digest: str,
    now: datetime,
    submitter: Submitter,
) -> dict[str, Any]:
    local_date = item.collected_at.astimezone(ZoneInfo(unit.time_zone)).date()
    return {
        "id": item.id,
        "unit_id": unit.id,
        "service_id": service_id,
        "survey_version_id": item.survey_version_id,
        "channel": item.channel,
        "collected_at": item.collected_at.astimezone(UTC),
        "received_at": now,
        "local_date": local_date,
        **answers,
        **item.profile.model_dump(),
        "extra_answers": item.extra_answers or None,
        "suggestion": item.suggestion or None,
        "content_hash": digest,
        "answers_signature": stored_signature(item.channel, answers),
        "api_key_id": submitter.api_key_id,
        "device": submitter.device,
        "flag": None,
        "flag_reason": None,
        "flag_reviewed_at": None,
        "flag_reviewed_by_id": None,
    }


@cache
def _register(dialect: str) -> Any:
    """SQLite: the ids of these rows registered (`response_ids`), those new to it returned;
    only those are then inserted (`_insert_new`)."""
    return _insert_plain(dialect, REGISTRY).returning(REGISTRY.c.id)


@cache
def _insert_new(dialect: str) -> Any:
    """SQLite: the response row, its id returned when inserted."""
    return _insert_plain(dialect, RESPONSES).returning(RESPONSES.c.id)


def _registered_insert(*returned: str) -> Any:
    """PostgreSQL: the id registered in `response_ids` and, only if it was new there, the
    response inserted — one statement. `responses` is partitioned by month, its key
    (id, local_date): the registry's key is what keeps an id unique across months (a
    concurrent insert of the same id waits on it, then inserts nothing)."""
    registered = (
        postgresql.insert(REGISTRY)
        .from_select(
            [c.name for c in REGISTRY.c],
            select(*(bindparam(c.name, type_=c.type) for c in REGISTRY.c)),
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(REGISTRY.c.id)
        .cte("registered")
    )
    values = select(*(bindparam(c.name, type_=c.type) for c in RESPONSES.c)).select_from(registered)
    insert = postgresql.insert(RESPONSES).from_select(list(RESPONSES.c.keys()), values)
    return insert.returning(*(RESPONSES.c[c] for c in returned))


@cache
def _insert_new_postgresql() -> Any:
    """PostgreSQL, a batch: `_registered_insert` per row, its id returned when inserted."""
    return _registered_insert("id")


@cache
def _insert_one_counted() -> Any:
    """PostgreSQL, one response: the registry, the insert and, only if it inserted, its
    counters added to the daily, monthly and yearly aggregates — one statement
    (data-modifying WITH), so one round trip. Takes the response row's parameters and the
    counters of `aggregate_rows` for it (`flagged`, `month`, `year`, `slot`, the counters and
    `updated_at`); gives the id when inserted.

    The parts of a WITH run in no promised order, but a part that reads another's RETURNING
    runs after it: the registry's row first, then the response, then the day's row from its
    RETURNING, the month's from the day's and the year's from the month's, so the locks are
    taken in one order, as everywhere else (`add_to_aggregates`). In another order a single
    response and a batch on the same rows deadlock."""
    source: Any = _registered_insert("id", *AGGREGATE_KEY[:-1], "local_date").cte("new")
    new = source
    for table, bucket, bucket_value in (
        (DAILY, "local_date", new.c.local_date),
        (MONTHLY, "month", bindparam("month", type_=MONTHLY.c.month.type)),
        (YEARLY, "year", bindparam("year", type_=YEARLY.c.year.type)),
    ):
        values = select(
            *(source.c[c] for c in AGGREGATE_KEY[:-1]),
            bindparam("flagged", type_=table.c.flagged.type),
            bucket_value,
            bindparam("slot", type_=table.c.slot.type),
            *(bindparam(c, type_=table.c[c].type) for c in AGGREGATE_COUNTERS),
            bindparam("updated_at", type_=table.c.updated_at.type),
        )
        names = [*AGGREGATE_KEY, bucket, "slot", *AGGREGATE_COUNTERS, "updated_at"]
        insert = postgresql.insert(table).from_select(names, values)
        returning = adding(insert, table, bucket).returning(
            *(table.c[c] for c in AGGREGATE_KEY[:-1])
        )
        source = returning.cte(f"added_{table.name}")
    return kept_cursor(select(new.c.id).add_cte(source))


def _id_taken(index: int, item_id: uuid.UUID) -> Outcome:
    """The id is stored with other content. This is also the answer to a valid item whose
    id is stored outside the submitter's scope (its content names a unit in scope, so it
    cannot be the same response): it shows nothing of the stored row, and that the id is
    taken is all it tells (a client's random UUID is not guessed)."""
    return Outcome(
        index,
        item_id,
        "conflict",
        problem=conflict(
            "id-conflict", "A different response was already stored under this id."
        ).problem,
    )


def _replayed(
    index: int, item_id: uuid.UUID, digest: str, stored: Any, respond: bool = True
) -> Outcome:
    if stored.content_hash == digest:
        response = response_out(stored, stored.unit_code, stored.service_code) if respond else None
        return Outcome(index, item_id, "duplicate", response=response)
    return _id_taken(index, item_id)


@cache
def _references_with_recent(one: bool, single: bool, months: tuple[date, date]) -> Any:
    """PostgreSQL: the references (`single`: of one submission), the first row also
    carrying the device's recent responses with the same answers (`recent_alike`, in
    `months`) as one JSON array, `recent`: one statement and one round trip where there
    would be two. Only one row carries it: a batch naming 50 units got 50 copies, each sent
    and decoded."""
    references = references_query("postgresql", single)
    return kept_cursor(references.add_columns(_recent_on_first_row(one, months)))


def _recent_on_first_row(one: bool, months: tuple[date, date], by_token: bool = False) -> Any:
    """The column `recent`: on the statement's first row, the device's recent responses
    alike (`recent_alike`) as one JSON array; null on the others."""
    recent = recent_alike("postgresql", one, by_token, months).subquery()
    as_json = select(func.json_agg(func.json_build_array(*recent.c))).scalar_subquery()
    return case((func.row_number().over() == 1, as_json), else_=None).label("recent")


@cache
def _key_and_references(
    one: bool | None, single: bool = False, months: tuple[date, date] | None = None
) -> Any:
    """PostgreSQL: the submitter's key by its token's hash (`auth.KEY`, its columns named
    key_*), the references (`single`: of one submission) and, unless `one` is None, the
    recent alike of the key's device in `months` (`_references_with_recent`) — one
    statement. It always gives a row: the key's columns are null for an unknown token, the
    unit's when no unit named exists."""
    key = KEY.subquery("caller_key")
    found = references_query("postgresql", single).subquery("found")
    columns: list[Any] = [c.label(f"key_{c.name}") for c in key.c]
    if one is not None:
        assert months is not None, "the recent alike are searched in their months"
        columns.append(_recent_on_first_row(one, months, by_token=True))
    first_row = select(literal_column("1").label("one")).subquery("first_row")
    joined = first_row.outerjoin(key, true()).outerjoin(found, true())
    return kept_cursor(select(*columns, *found.c).select_from(joined))


def _key_row(row: Any) -> Any:
    """The key's part of a `_key_and_references` row, as `auth.KEY` gives it; None for an
    unknown token."""
    if row.key_id is None:
        return None
    return SimpleNamespace(**{name: getattr(row, f"key_{name}") for name in KEY_COLUMNS})


async def _read_for_validation(
    conn: AsyncConnection,
    items: list[ResponseIn],
    device: str | None,
    burst_range: tuple[datetime, datetime] | None,
    scores: list[dict[str, int | None]],
    token_hash: str | None = None,
) -> tuple[dict[str, NamedUnit], dict[tuple[int, str], NamedService], list[Any], Any]:
    """The units and services the items name, the device's stored responses that burst
    detection compares them with (none when it is not done) and, given a `token_hash`, the
    row of its key (None: unknown), the key's device being the one compared; `scores`: each
    item's answers dumped."""
    dialect = conn.dialect.name
    single = dialect == "postgresql" and len(items) == 1
    references = references_params(items, single)
    if token_hash is not None:
        return await _read_with_key(conn, items, references, single, burst_range, token_hash)
    if burst_range is None:
        found = await fetch_all(conn, references_query(dialect, single), references)
        return (*references_found(found), [], None)
    # Only the stored responses with the same answers can make one a burst.
    if dialect == "postgresql":
        alike = recent_params(items, device, burst_range)
        one = "signature" in alike
        statement = _references_with_recent(one, single, compared_months(burst_range))
        found = await fetch_all(conn, statement, references | alike)
        carried = next((r.recent for r in found if r.recent is not None), None)
        return (*references_found(found), recent_from_json(carried), None)
    # SQLite: both statements in one crossing to its thread; for a batch, of the alike only
    # the nearest (one submission's equality search reads few rows: its simpler statement
    # costs less).
    if len(items) == 1:
        alike = recent_params(items, device, burst_range)
        recent_read, recent_params_ = recent_alike(dialect, "signature" in alike), alike
    else:
        recent_read = nearest_alike()
        recent_params_ = nearest_params(items, scores, device, burst_range)
    found, recent = await on_sqlite_thread(
        conn,
        lambda s: (
            s.fetch_all(references_query(dialect), references),
            s.fetch_all(recent_read, recent_params_),
        ),
    )
    return (*references_found(found), recent, None)


async def _read_with_key(
    conn: AsyncConnection,
    items: list[ResponseIn],
    references: dict[str, Any],
    single: bool,
    burst_range: tuple[datetime, datetime] | None,
    token_hash: str,
) -> tuple[dict[str, NamedUnit], dict[tuple[int, str], NamedService], list[Any], Any]:
    """`_read_for_validation` with the key of `token_hash` (`references`: the parameters of
    `references_query`, `single` or not): one statement on PostgreSQL; on SQLite the key,
    the references and the device's recent alike in one crossing."""
    given = {"token_hash": token_hash}
    alike = recent_params(items, None, burst_range) if burst_range is not None else {}
    one = "signature" in alike if alike else None
    if conn.dialect.name == "postgresql":
        months = compared_months(burst_range) if burst_range is not None else None
        statement = _key_and_references(one, single, months)
        rows = await fetch_all(conn, statement, references | alike | given)
        carried = (
            next((r.recent for r in rows if r.recent is not None), None)
            if one is not None
            else None
        )
        named = [r for r in rows if r.id is not None]
        return (*references_found(named), recent_from_json(carried), _key_row(rows[0]))

    def read(s: SqliteStatements) -> tuple[list[Any], list[Any], Any]:
        keys = s.fetch_all(KEY, given)
        key = keys[0] if keys else None
        recent = []
        if key is not None and one is not None:
            device = {"device": device_of(key.id)}
            recent = s.fetch_all(recent_alike("sqlite", one), alike | device)
        return s.fetch_all(references_query("sqlite"), references), recent, key

    found, recent, key = await on_sqlite_thread(conn, read)
    return (*references_found(found), recent, key)


async def _read_outside_transaction(
    conn: AsyncConnection, items: list[ResponseIn], token_hash: str | None
) -> tuple[dict[str, NamedUnit], dict[tuple[int, str], NamedService], Any]:
    """SQLite: the references and, given a `token_hash`, its key's row (None: unknown), in
    one crossing, outside a transaction (each read its own)."""
    references = references_params(items)

    def read(s: SqliteStatements) -> tuple[list[Any], Any]:
        keys = s.fetch_all(KEY, {"token_hash": token_hash}) if token_hash is not None else []
        return s.fetch_all(references_query("sqlite"), references), keys[0] if keys else None

    found, key = await on_sqlite_thread(conn, read, transaction=False)
    return (*references_found(found), key)


async def _insert(
    conn: AsyncConnection, rows: list[dict[str, Any]], now: datetime
) -> set[uuid.UUID]:
    """Insert the rows not stored yet and count them in the aggregates, atomically; their
    ids."""
    dialect = conn.dialect.name
    if dialect == "postgresql" and len(rows) == 1:
        [row] = rows
        [counted] = aggregate_rows(rows, "month", month_of, now)
        counted["year"] = year_of(row["local_date"])
        return {r.id for r in await fetch_all(conn, _insert_one_counted(), {**row, **counted})}
    if dialect == "sqlite":
        # The insert and the aggregates in one crossing to SQLite's thread.
        return await on_sqlite_thread(conn, lambda s: _insert_sqlite(s, rows, now))
    statement = _insert_new_postgresql() if dialect == "postgresql" else _insert_new(dialect)
    async with transaction(conn):
        result = await execute_many(conn, statement, rows, returning=True)
        inserted = {row.id for row in result}
        new_rows = [r for r in rows if r["id"] in inserted]
        if new_rows:
            await add_to_aggregates(conn, new_rows, now)
    return inserted


# SQLite: from this many new rows, their aggregates are summed by SQLite (fewer: in Python,
# one parameter set per row or two, cheaper than SQLite's join and grouping).
_SUMMED_BY_SQLITE = 4


@cache
def _insert_plain(dialect: str, table: Any) -> Any:
    """SQLite: the registry's or the responses' insert without RETURNING."""
    return dialect_insert(dialect)(table).on_conflict_do_nothing(index_elements=["id"])


def _insert_sqlite(
    statements: SqliteStatements, rows: list[dict[str, Any]], now: datetime
) -> set[uuid.UUID]:
    """`_insert` on SQLite, run in its thread: the same statements, synchronously (the
    registry's first, then the rows of the ids new to it).

    Several rows are first inserted without RETURNING, in a savepoint: when every one was
    new (the usual batch), that is all; otherwise it is undone and the ids new to the
    registry are returned as below. Each row RETURNING gives is a step of SQLite, which
    gives the interpreter's lock up and waits to take it back: behind the event loop's
    work, a hundred times per batch of fifty."""
    # The rows this inserts are those above the largest rowid before it.
    after = statements.fetch_all(last_rowid(), {})[0].last if len(rows) >= _SUMMED_BY_SQLITE else 0
    if len(rows) > 1:
        statements.execute_sql("SAVEPOINT skm_new_rows")
        every = statements.inserted_count(_insert_plain("sqlite", REGISTRY), rows) == len(
            rows
        ) and statements.inserted_count(_insert_plain("sqlite", RESPONSES), rows) == len(rows)
        if every:
            statements.execute_sql("RELEASE skm_new_rows")
            _count_sqlite(statements, rows, now, after)
            return {row["id"] for row in rows}
        statements.execute_sql("ROLLBACK TO skm_new_rows")
        statements.execute_sql("RELEASE skm_new_rows")
    registered = {r.id for r in statements.execute_many(_register("sqlite"), rows, True)}
    new_rows = [r for r in rows if r["id"] in registered]
    inserted = {r.id for r in statements.execute_many(_insert_new("sqlite"), new_rows, True)}
    _count_sqlite(statements, [r for r in new_rows if r["id"] in inserted], now, after)
    return inserted


def _count_sqlite(
    statements: SqliteStatements, new_rows: list[dict[str, Any]], now: datetime, after: int
) -> None:
    """SQLite, in its thread: the rows just inserted (those above rowid `after`, read
    before the insert when they were `_SUMMED_BY_SQLITE` or more) counted in the
    aggregates."""
    if len(new_rows) >= _SUMMED_BY_SQLITE and add_inserted_sqlite(
        statements, after, len(new_rows), now
    ):
        return  # counted by SQLite itself, from the rows just inserted
    if new_rows:
        for statement, sums in aggregate_upserts("sqlite", new_rows, now):
            statements.execute_many(statement, sums)


def _write_sqlite(
    statements: SqliteStatements,
    rows: list[dict[str, Any]],
    now: datetime,
    unique: list[tuple[int, ResponseIn]],
    scope: str | None,
    nearest: dict[str, Any] | None,
    window: timedelta,
) -> tuple[set[uuid.UUID], Registered]:
    """SQLite, in its thread, in the write turn: the rows flagged by burst detection
    (`nearest`: the parameters of `nearest_alike`; None: not done), inserted
    (`_insert_sqlite`), then what is stored under the ids of the items not inserted
    (`stored_in_scope`)."""
    if nearest is not None:
        flag_bursts(rows, statements.fetch_all(nearest_alike(), nearest), window)
    rows.sort(key=lambda r: r["id"])
    inserted = _insert_sqlite(statements, rows, now) if rows else set()
    unsettled = [item.id for _, item in unique if item.id not in inserted]
    if not unsettled:
        return inserted, Registered({}, set(), {})
    found = statements.fetch_all(by_ids("sqlite"), {"ids": unsettled})
    return inserted, registered_of(found, scope)


def _first_of_each_id(
    items: Sequence[tuple[int, ResponseIn]],
) -> tuple[list[tuple[int, ResponseIn]], list[tuple[int, ResponseIn]], dict[uuid.UUID, int]]:
    """The items whose id appears for the first time in the batch, those that repeat an
    earlier one, and the index where each id first appears."""
    first_of: dict[uuid.UUID, int] = {}
    repeats: list[tuple[int, ResponseIn]] = []
    unique: list[tuple[int, ResponseIn]] = []
    for index, item in items:
        if item.id in first_of:
            repeats.append((index, item))
        else:
            first_of[item.id] = index
            unique.append((index, item))
    return unique, repeats, first_of


async def _checked_rows(
    conn: AsyncConnection,
    unique: list[tuple[int, ResponseIn]],
    units: dict[str, NamedUnit],
    services: dict[tuple[int, str], NamedService],
    digests: dict[int, str],
    scores: dict[int, dict[str, int | None]],
    versions: VersionCache,
    settings: Settings,
    now: datetime,
    submitter: Submitter,
) -> tuple[list[dict[str, Any]], dict[int, list[FieldProblem]]]:
    """The rows of the valid items, and the problems of each refused one by its index."""
    rows: list[dict[str, Any]] = []
    refused: dict[int, list[FieldProblem]] = {}
    for index, item in unique:
        rules = await versions.rules(conn, item.survey_version_id)
        problems = check_item(
            item,
            units,
            services,
            rules,
            now,
            settings,
            submitter.scope_path,
            submitter.services,
            scores[index],
        )
        if problems:
            refused[index] = problems
            continue
        unit = units[item.unit]
        service = services[(unit.id, item.service)]
        rows.append(_row(item, scores[index], unit, service.id, digests[index], now, submitter))
    return rows, refused


def _settled(
    unique: list[tuple[int, ResponseIn]],
    rows: list[dict[str, Any]],
    inserted: set[uuid.UUID],
    refused: dict[int, list[FieldProblem]],
    digests: dict[int, str],
    known: Registered,
    respond: bool,
) -> dict[int, Outcome]:
    """The outcome of each item whose id is first of its kind in the batch, by its index
    (with the stored response, when `respond`), `known`: the stored responses among those
    not inserted."""
    stored, elsewhere, archived = known.stored, known.elsewhere, known.archived
    rows_by_id = {r["id"]: r for r in rows}
    outcomes: dict[int, Outcome] = {}
    for index, item in unique:
        if item.id in inserted:
            row = rows_by_id[item.id]
            response = _created(item, row) if respond else None
            outcomes[index] = Outcome(index, item.id, "created", response=response)
        elif item.id in stored:
            outcomes[index] = _replayed(index, item.id, digests[index], stored[item.id], respond)
        elif item.id in archived:
            # Its month was archived: the id and content are known, the row is not here to
            # show. The same content is a duplicate without a body; other content, taken.
            if archived[item.id] == digests[index]:
                outcomes[index] = Outcome(index, item.id, "duplicate")
            else:
                outcomes[index] = _id_taken(index, item.id)
        elif item.id in elsewhere and index not in refused:
            outcomes[index] = _id_taken(index, item.id)
        else:
            outcomes[index] = Outcome(
                index, item.id, "invalid", problem=invalid(refused[index]).problem
            )
    return outcomes


def _created(item: ResponseIn, row: dict[str, Any]) -> ResponseOut:
    """A response just stored, as `response_out` shows it, from its validated submission and
    its row: nothing in it is validated again (its answers and profile are the
    submission's own)."""
    return ResponseOut.model_construct(
        id=item.id,
        unit=item.unit,
        service=item.service,
        survey_version_id=item.survey_version_id,
        channel=item.channel,
        collected_at=row["collected_at"],  # in UTC, as `_row` wrote it
        received_at=row["received_at"],
        local_date=row["local_date"],
        answers=item.answers,
        profile=item.profile,
        extra_answers=row["extra_answers"],
        suggestion=row["suggestion"],
        submitted_by_key=row["api_key_id"],
        flag=row["flag"],
    )


def _repeated(
    repeats: list[tuple[int, ResponseIn]],
    first_of: dict[uuid.UUID, int],
    outcomes: dict[int, Outcome],
    digests: dict[int, str],
) -> dict[int, Outcome]:
    """The outcome of each item that repeats an id earlier in the batch: the earlier one's
    when the content is the same, a conflict otherwise."""
    repeated: dict[int, Outcome] = {}
    for index, item in repeats:
        first = outcomes[first_of[item.id]]
        if digests[index] != digests[first_of[item.id]]:
            repeated[index] = Outcome(
                index,
                item.id,
                "conflict",
                problem=conflict(
                    "id-conflict", "This id appears earlier in the batch with other content."
                ).problem,
            )
        elif first.status in ("created", "duplicate"):
            repeated[index] = Outcome(index, item.id, "duplicate", response=first.response)
        else:
            repeated[index] = Outcome(index, item.id, first.status, problem=first.problem)
    return repeated


@dataclass(frozen=True)
class Prepared:
    """What `ingest` works out from the items alone, before it needs the database: each
    item's answers dumped (for its hash, checks, row and signature) and content hash, the
    items whose id comes first in the batch and those repeating one, and the range that
    burst detection reads (None: no item is checked). A caller that must wait for the
    database (SQLite's write turn) can do this first (`prepare`), while another request
    writes."""

    items: Sequence[tuple[int, ResponseIn]]
    now: datetime
    scores: dict[int, dict[str, int | None]]
    digests: dict[int, str]
    unique: list[tuple[int, ResponseIn]]
    repeats: list[tuple[int, ResponseIn]]
    first_of: dict[uuid.UUID, int]
    burst_range: tuple[datetime, datetime] | None


def prepare(items: Sequence[tuple[int, ResponseIn]], settings: Settings, now: datetime) -> Prepared:
    """`Prepared` for these (index, response) pairs, received at `now`."""
    scores = {index: item.answers.model_dump() for index, item in items}
    digests = {index: content_hash(item, scores[index]) for index, item in items}
    unique, repeats, first_of = _first_of_each_id(items)
    window = timedelta(seconds=settings.burst_seconds)
    burst_range = (
        compared_range((item for _, item in unique), window, now, settings)
        if settings.burst_seconds
        else None
    )
    return Prepared(items, now, scores, digests, unique, repeats, first_of, burst_range)


async def ingest(
    conn: AsyncConnection,
    items: Sequence[tuple[int, ResponseIn]],
    versions: VersionCache,
    settings: Settings,
    now: datetime,
    submitter: Submitter | ByToken,
    respond: bool = True,
    prepared: Prepared | None = None,
    written: Callable[[bool], Awaitable[None]] | None = None,
) -> list[Outcome]:
    """Store the given (index, response) pairs; one outcome per pair, in the same order
    (without the stored response when not `respond`: an import wants only the status).
    A submitter `ByToken` is admitted (or refused) once its key is read. `prepared`: the
    items' `prepare`, done already (for the same items and `now`); `written`: awaited once
    the database work is done (everything read and written), before the outcomes are built,
    with whether the transaction is committed already (on SQLite, by the crossing of the
    writes); the batch endpoint commits there, ending SQLite's write turn.

    Valid new responses are inserted (and counted in the daily aggregates) even when others
    are refused. A response whose id is already stored is a duplicate when its content is the
    same, and a conflict otherwise; concurrent identical submissions store exactly one row.
    """
    if prepared is None:
        prepared = prepare(items, settings, now)
    assert prepared.items is items, "prepared for other items"
    scores, digests, unique = prepared.scores, prepared.digests, prepared.unique
    window = timedelta(seconds=settings.burst_seconds)
    by_token = submitter if isinstance(submitter, ByToken) else None
    device = None if isinstance(submitter, ByToken) else submitter.device
    burst_range = prepared.burst_range if by_token is not None or device is not None else None
    token_hash = by_token.token_hash if by_token is not None else None
    unique_items = [item for _, item in unique]
    # SQLite, a caller told when the work is written (the batch endpoint): the key and the
    # references are read in one crossing, outside a transaction; what burst detection
    # compares is read with the writes, in the crossing that commits them.
    in_turn = written is not None and conn.dialect.name == "sqlite"
    if in_turn:
        units, services, key = await _read_outside_transaction(conn, unique_items, token_hash)
        recent: list[Any] = []
    else:
        units, services, recent, key = await _read_for_validation(
            conn,
            unique_items,
            device,
            burst_range,
            [scores[index] for index, _ in unique],
            token_hash,
        )
    if isinstance(submitter, ByToken):
        submitter = await submitter.admit(key)
    rows, refused = await _checked_rows(
        conn, unique, units, services, digests, scores, versions, settings, now, submitter
    )
    inserted: set[uuid.UUID] = set()
    scope = submitter.scope_path
    if in_turn and written is not None:
        nearest = (
            nearest_params(
                unique_items, [scores[i] for i, _ in unique], submitter.device, burst_range
            )
            if rows and burst_range is not None and submitter.device is not None
            else None
        )
        # In one crossing: the turn's reads, the writes and the COMMIT.
        inserted, known = await on_sqlite_thread(
            conn,
            lambda s: _write_sqlite(s, rows, now, unique, scope, nearest, window),
            commit=True,
        )
        await written(True)
    else:
        if rows and burst_range is not None:
            flag_bursts(rows, recent, window)
        rows.sort(key=lambda r: r["id"])  # one lock order for concurrent batches
        if rows:
            inserted = await retrying(conn, lambda: _insert(conn, rows, now))
        # Everything not inserted may be a retry of a stored response (even one that would
        # no longer validate, such as an old collected_at): compare with what is stored.
        unsettled = [item.id for _, item in unique if item.id not in inserted]
        known = await stored_in_scope(conn, unsettled, scope)
        if written is not None:
            await written(False)
    outcomes = _settled(unique, rows, inserted, refused, digests, known, respond)
    outcomes.update(_repeated(prepared.repeats, prepared.first_of, outcomes, digests))
    return [outcomes[index] for index, _ in items]


async def store_one(
    conn: AsyncConnection,
    versions: VersionCache,
    settings: Settings,
    body: ResponseIn,
    submitter: Submitter | ByToken,
) -> Outcome:
    """Ingest one response: the outcome when stored (created or duplicate), otherwise its
    problem raised — a retry of a response whose month was archived too, since its row
    cannot be shown (`response-archived`, 409)."""
    [outcome] = await ingest(conn, [(0, body)], versions, settings, utcnow(), submitter)
    if outcome.problem is not None:
        raise ProblemError.of(outcome.problem)
    if outcome.response is None:
        raise conflict(
            "response-archived",
            "This response was stored before, in a month since archived: it is counted, "
            "and its row is no longer served.",
        )
    return outcome
