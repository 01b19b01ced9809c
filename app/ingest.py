"""Storing responses: validation against units, services and survey versions; idempotent
insert keyed by the client's UUID; daily and monthly aggregates kept atomically with it."""

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import SmallInteger, Table, and_, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings
from app.db import utcnow
from app.errors import FieldProblem, Problem, ProblemError, conflict, invalid
from app.method import ELEMENTS
from app.models import DailyAggregate, MonthlyAggregate, Response, Service, Unit
from app.schemas import Answers, Profile, ResponseIn, ResponseOut
from app.statements import execute_many, fetch_all, one_of, retrying, transaction
from app.surveys import VersionCache, VersionRules
from app.vocabulary import PROFILE_FIELDS

RESPONSES: Table = Response.__table__  # type: ignore[assignment]
DAILY: Table = DailyAggregate.__table__  # type: ignore[assignment]
MONTHLY: Table = MonthlyAggregate.__table__  # type: ignore[assignment]
AGGREGATE_KEY = ("unit_id", "service_id", "survey_version_id", "flagged")
FLAGGED = ("suspected", "confirmed")
AGGREGATE_COUNTERS = (
    "responses",
    "complete",
    "complete_total",
    "complete_total_sq",
    *(f"{e}_{s}" for e in ELEMENTS for s in ("n", "sum", "sq")),
)

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


@dataclass(frozen=True)
class _UnitRef:
    id: int
    path: str
    time_zone: str
    deactivated_at: datetime | None


@dataclass(frozen=True)
class _ServiceRef:
    id: int
    deactivated_at: datetime | None


def content_hash(item: ResponseIn) -> str:
    """sha256 of the submission's canonical form: equal for a faithful retry, whatever the
    offset collected_at was written in or whether unanswered elements were null or absent."""
    canonical = {
        "unit": item.unit,
        "service": item.service,
        "survey_version_id": item.survey_version_id,
        "channel": item.channel,
        "collected_at": item.collected_at.astimezone(UTC).isoformat(),
        "answers": item.answers.model_dump(exclude_none=True),
        "profile": item.profile.model_dump(exclude_none=True),
        "extra_answers": item.extra_answers or {},
        "suggestion": item.suggestion or None,
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _dialect_insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@cache
def _references(dialect: str) -> Any:
    return (
        select(
            Unit.id,
            Unit.code,
            Unit.path,
            Unit.time_zone,
            Unit.deactivated_at,
            Service.id.label("service_id"),
            Service.code.label("service_code"),
            Service.deactivated_at.label("service_deactivated_at"),
        )
        .outerjoin(
            Service,
            and_(Service.unit_id == Unit.id, one_of(Service.code, "service_codes", dialect)),
        )
        .where(one_of(Unit.code, "unit_codes", dialect))
    )


def _references_params(items: Iterable[ResponseIn]) -> dict[str, list[str]]:
    unit_codes, service_codes = set(), set()
    for item in items:
        unit_codes.add(item.unit)
        service_codes.add(item.service)
    return {"unit_codes": sorted(unit_codes), "service_codes": sorted(service_codes)}


def _references_found(
    rows: Iterable[Any],
) -> tuple[dict[str, _UnitRef], dict[tuple[int, str], _ServiceRef]]:
    units: dict[str, _UnitRef] = {}
    services: dict[tuple[int, str], _ServiceRef] = {}
    for row in rows:
        units[row.code] = _UnitRef(row.id, row.path, row.time_zone, row.deactivated_at)
        if row.service_id is not None:
            services[(row.id, row.service_code)] = _ServiceRef(
                row.service_id, row.service_deactivated_at
            )
    return units, services


def _check_version(
    rules: VersionRules | None, unit: _UnitRef, item: ResponseIn
) -> list[FieldProblem]:
    if rules is None:
        return [
            FieldProblem(
                pointer="/survey_version_id",
                detail="no published survey version with this id",
                code="unknown_survey_version",
            )
        ]
    problems = []
    ancestors = {int(p) for p in unit.path.strip("/").split("/")}
    if rules.owner_unit_id is not None and rules.owner_unit_id not in ancestors:
        problems.append(
            FieldProblem(
                pointer="/survey_version_id",
                detail="this survey version belongs to another unit's variant",
                code="survey_version_not_allowed",
            )
        )
    answered = item.answers.model_dump(exclude_none=True)
    # A paper form is transcribed as filled in: a blank stays blank (NULL, its own denominator).
    if item.channel != "paper":
        problems.extend(
            FieldProblem(
                pointer=f"/answers/{key}",
                detail="required by this survey version",
                code="missing",
            )
            for key in ELEMENTS
            if key in rules.required_elements and key not in answered
        )
    if not answered:
        problems.append(
            FieldProblem(pointer="/answers", detail="no element was answered", code="no_answers")
        )
    extra = item.extra_answers or {}
    for key, value in extra.items():
        if key not in rules.extra_options:
            problems.append(
                FieldProblem(
                    pointer=f"/extra_answers/{key}",
                    detail="not a question of this survey version",
                    code="unknown_question",
                )
            )
        elif value not in rules.extra_options[key]:
            problems.append(
                FieldProblem(
                    pointer=f"/extra_answers/{key}",
                    detail="not an option of this question",
                    code="unknown_option",
                )
            )
    problems.extend(
        FieldProblem(
            pointer=f"/extra_answers/{key}",
            detail="required by this survey version",
            code="missing",
        )
        for key in rules.required_extra
        if key not in extra
    )
    return problems


def _check_item(
    item: ResponseIn,
    units: dict[str, _UnitRef],
    services: dict[tuple[int, str], _ServiceRef],
    rules: VersionRules | None,
    now: datetime,
    settings: Settings,
    scope: str | None,
) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    if item.collected_at > now + timedelta(seconds=settings.max_clock_skew_seconds):
        problems.append(
            FieldProblem(
                pointer="/collected_at",
                detail=f"in the future by more than {settings.max_clock_skew_seconds} s "
                "(check the device clock)",
                code="collected_in_future",
            )
        )
    if item.collected_at < now - timedelta(days=settings.max_collected_age_days):
        problems.append(
            FieldProblem(
                pointer="/collected_at",
                detail=f"older than {settings.max_collected_age_days} days",
                code="collected_too_old",
            )
        )
    unit = units.get(item.unit)
    if unit is None or (scope is not None and not unit.path.startswith(scope)):
        problems.append(FieldProblem(pointer="/unit", detail="unknown unit", code="unknown_unit"))
        return problems
    if unit.deactivated_at is not None and item.collected_at >= unit.deactivated_at:
        problems.append(
            FieldProblem(
                pointer="/unit", detail="the unit was deactivated before then", code="unit_inactive"
            )
        )
    service = services.get((unit.id, item.service))
    if service is None:
        problems.append(
            FieldProblem(
                pointer="/service",
                detail="the unit does not offer this service",
                code="unknown_service",
            )
        )
    elif service.deactivated_at is not None and item.collected_at >= service.deactivated_at:
        problems.append(
            FieldProblem(
                pointer="/service",
                detail="the service was deactivated before then",
                code="service_inactive",
            )
        )
    problems.extend(_check_version(rules, unit, item))
    return problems


def _row(
    item: ResponseIn,
    unit: _UnitRef,
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
        **item.answers.model_dump(),
        **item.profile.model_dump(),
        "extra_answers": item.extra_answers or None,
        "suggestion": item.suggestion or None,
        "content_hash": digest,
        "api_key_id": submitter.api_key_id,
        "device": submitter.device,
        "flag": None,
        "flag_reason": None,
        "flag_reviewed_at": None,
        "flag_reviewed_by_id": None,
    }


def response_out(row: Any, unit_code: str, service_code: str) -> ResponseOut:
    """A stored response (a row or a row dict) as the API shows it."""
    get = row.get if isinstance(row, dict) else row._asdict().get
    # Rows read on the raw driver come in the session's time zone: shown in UTC.
    collected_at = cast(datetime, get("collected_at"))
    received_at = cast(datetime, get("received_at"))
    return ResponseOut(
        id=get("id"),
        unit=unit_code,
        service=service_code,
        survey_version_id=get("survey_version_id"),
        channel=get("channel"),
        collected_at=collected_at.astimezone(UTC),
        received_at=received_at.astimezone(UTC),
        local_date=get("local_date"),
        answers=Answers(**{e: get(e) for e in ELEMENTS}),
        profile=Profile(**{f: get(f) for f in PROFILE_FIELDS}),
        extra_answers=get("extra_answers"),
        suggestion=get("suggestion"),
        submitted_by_key=get("api_key_id"),
        flag=get("flag"),
    )


def aggregate_rows(
    rows: Iterable[dict[str, Any]], bucket: str, bucket_of: Callable[[date], date], now: datetime
) -> list[dict[str, Any]]:
    """Sum response rows into one counter row per key and time bucket, in key order."""
    totals: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(AGGREGATE_COUNTERS))
    for row in rows:
        flagged = row["flag"] in FLAGGED
        key = (
            row["unit_id"],
            row["service_id"],
            row["survey_version_id"],
            flagged,
            bucket_of(row["local_date"]),
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
            **dict(zip((*AGGREGATE_KEY, bucket), key, strict=True)),
            **dict(zip(AGGREGATE_COUNTERS, counters, strict=True)),
            "updated_at": now,
        }
        for key, counters in sorted(totals.items())
    ]


def month_of(day: date) -> date:
    return day.replace(day=1)


def _adding(insert: Any, table: Table, bucket: str) -> Any:
    """The insert, adding to every counter of the row already under its key."""
    return insert.on_conflict_do_update(
        index_elements=[*AGGREGATE_KEY, bucket],
        set_={
            **{c: table.c[c] + insert.excluded[c] for c in AGGREGATE_COUNTERS},
            "updated_at": insert.excluded.updated_at,
        },
    )


@cache
def _upsert(dialect: str, table: Table, bucket: str) -> Any:
    """INSERT … ON CONFLICT DO UPDATE adding to every counter; built once per table (building
    it costs more than running it)."""
    return _adding(_dialect_insert(dialect)(table), table, bucket)


@cache
def _insert_new(dialect: str) -> Any:
    insert = _dialect_insert(dialect)(RESPONSES).on_conflict_do_nothing(index_elements=["id"])
    return insert.returning(RESPONSES.c.id)


@cache
def _insert_one_counted() -> Any:
    """PostgreSQL, one response: the insert and, only if it inserted, its counters added to
    the daily and monthly aggregates — one statement (data-modifying WITH), so one round
    trip. Takes the response row's parameters and the counters of `aggregate_rows` for it
    (`flagged`, `month`, the counters and `updated_at`); gives the id when inserted.

    The parts of a WITH run in no promised order, but a part that reads another's RETURNING
    runs after it: the month's row is added from the day's RETURNING, so the day's row is
    locked first, as everywhere else (`add_to_aggregates`). In the other order a single
    response and a batch on the same rows deadlock."""
    source: Any = (
        postgresql.insert(RESPONSES)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(*(RESPONSES.c[c] for c in ("id", *AGGREGATE_KEY[:-1], "local_date")))
        .cte("new")
    )
    new = source
    for table, bucket, bucket_value in (
        (DAILY, "local_date", new.c.local_date),
        (MONTHLY, "month", bindparam("month", type_=MONTHLY.c.month.type)),
    ):
        values = select(
            *(source.c[c] for c in AGGREGATE_KEY[:-1]),
            bindparam("flagged", type_=table.c.flagged.type),
            bucket_value,
            *(bindparam(c, type_=table.c[c].type) for c in AGGREGATE_COUNTERS),
            bindparam("updated_at", type_=table.c.updated_at.type),
        )
        names = [*AGGREGATE_KEY, bucket, *AGGREGATE_COUNTERS, "updated_at"]
        insert = postgresql.insert(table).from_select(names, values)
        returning = _adding(insert, table, bucket).returning(
            *(table.c[c] for c in AGGREGATE_KEY[:-1])
        )
        source = returning.cte(f"added_{table.name}")
    return select(new.c.id).add_cte(source)


def _same_day(day: date) -> date:
    return day


async def add_to_aggregates(
    conn: AsyncConnection,
    dialect: str,
    rows: list[dict[str, Any]],
    now: datetime,
    removed: Iterable[dict[str, Any]] = (),
) -> None:
    """Add the rows' counts to the daily and monthly aggregates and take the `removed` rows'
    counts out of them.

    Every writer takes aggregate rows in one order — the days, then the months, each in key
    order — so that no two transactions wait for each other in a circle (a deadlock)."""
    removed = list(removed)
    for table, bucket, bucket_of in (
        (DAILY, "local_date", _same_day),
        (MONTHLY, "month", month_of),
    ):
        counted = aggregate_rows(rows, bucket, bucket_of, now)
        for counters in aggregate_rows(removed, bucket, bucket_of, now):
            for name in AGGREGATE_COUNTERS:
                counters[name] = -counters[name]
            counted.append(counters)
        counted.sort(key=lambda c: tuple(c[k] for k in (*AGGREGATE_KEY, bucket)))
        await execute_many(conn, _upsert(dialect, table, bucket), counted)


@cache
def _stored_statement(dialect: str) -> Any:
    return (
        select(
            RESPONSES,
            Unit.code.label("unit_code"),
            Unit.path.label("unit_path"),
            Service.code.label("service_code"),
        )
        .join(Unit, Unit.id == RESPONSES.c.unit_id)
        .join(Service, Service.id == RESPONSES.c.service_id)
        .where(one_of(RESPONSES.c.id, "ids", dialect))
    )


async def _stored(
    conn: AsyncConnection, ids: Iterable[uuid.UUID], scope: str | None
) -> tuple[dict[uuid.UUID, Any], set[uuid.UUID]]:
    """The stored responses with these ids that are in the submitter's scope, and the ids
    stored outside it. A response outside the scope does not exist for the submitter: it is
    never replayed to it (that would show another unit's row: its received_at, key, flag
    and suggestion)."""
    wanted = list(ids)
    if not wanted:
        return {}, set()
    rows = await fetch_all(conn, _stored_statement(conn.dialect.name), {"ids": wanted})
    inside = {r.id: r for r in rows if scope is None or r.unit_path.startswith(scope)}
    return inside, {r.id for r in rows} - inside.keys()


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


def _replayed(index: int, item_id: uuid.UUID, digest: str, stored: Any) -> Outcome:
    if stored.content_hash == digest:
        return Outcome(
            index,
            item_id,
            "duplicate",
            response=response_out(stored, stored.unit_code, stored.service_code),
        )
    return _id_taken(index, item_id)


def _signature(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["unit_id"], row["service_id"], *(row[e] for e in ELEMENTS))


@cache
def _recent_by_device() -> Any:
    columns = ("unit_id", "service_id", "channel", "collected_at", *ELEMENTS)
    return select(*(RESPONSES.c[c] for c in columns)).where(
        RESPONSES.c.device == bindparam("device"),
        RESPONSES.c.collected_at.between(bindparam("first"), bindparam("last")),
    )


@cache
def _recent_alike() -> Any:
    """`_recent_by_device` narrowed to responses (not on paper) with the given answers: the
    read of a single submission, where a busy kiosk would otherwise fetch its every recent
    response."""
    return _recent_by_device().where(
        RESPONSES.c.channel != "paper",
        *(RESPONSES.c[e].is_not_distinct_from(bindparam(e, type_=SmallInteger)) for e in ELEMENTS),
    )


@cache
def _references_with_recent(alike: bool) -> Any:
    """PostgreSQL: the references, each row also carrying the device's recent responses
    (`_recent_alike` or `_recent_by_device`) as one JSON array, `recent`: one statement and
    one round trip where there would be two."""
    recent = (_recent_alike() if alike else _recent_by_device()).subquery()
    as_json = select(func.json_agg(func.json_build_array(*recent.c))).scalar_subquery()
    return _references("postgresql").add_columns(as_json.label("recent"))


def _recent_from_json(found: list[Any] | None) -> list[tuple[Any, ...]]:
    """The JSON arrays of `_references_with_recent` as the rows `_recent_by_device` gives."""
    return [
        (unit_id, service_id, channel, datetime.fromisoformat(collected_at), *scores)
        for unit_id, service_id, channel, collected_at, *scores in found or ()
    ]


async def _read_for_validation(
    conn: AsyncConnection,
    dialect: str,
    items: list[ResponseIn],
    device: str | None,
    burst_range: tuple[datetime, datetime] | None,
) -> tuple[dict[str, _UnitRef], dict[tuple[int, str], _ServiceRef], list[Any]]:
    """The units and services the items name, and the device's stored responses that burst
    detection compares them with (none when it is not done)."""
    references = _references_params(items)
    if burst_range is None:
        found = await fetch_all(conn, _references(dialect), references)
        return (*_references_found(found), [])
    since, until = burst_range
    recent_params: dict[str, Any] = {"device": device, "first": since, "last": until}
    # One response: only the stored ones with its answers can make it a burst.
    alike = len(items) == 1
    if alike:
        recent_params.update(items[0].answers.model_dump())
    if dialect == "postgresql":
        found = await fetch_all(conn, _references_with_recent(alike), references | recent_params)
        return (*_references_found(found), _recent_from_json(found[0].recent if found else None))
    found = await fetch_all(conn, _references(dialect), references)
    recent = await fetch_all(conn, _recent_alike() if alike else _recent_by_device(), recent_params)
    return (*_references_found(found), recent)


def _burst_range(
    items: Iterable[ResponseIn], window: timedelta, now: datetime, settings: Settings
) -> tuple[datetime, datetime] | None:
    """Where a burst check of these items must look: around every collected_at that can be
    valid (an item too far in the past or the future is refused, and must not widen the
    read); None when no item is checked (paper forms are not)."""
    earliest = now - timedelta(days=settings.max_collected_age_days)
    latest = now + timedelta(seconds=settings.max_clock_skew_seconds)
    times = [min(max(i.collected_at, earliest), latest) for i in items if i.channel != "paper"]
    if not times:
        return None
    return min(times) - window, max(times) + window


def flag_bursts(rows: list[dict[str, Any]], recent: Iterable[Any], window: timedelta) -> None:
    """Flag a new response as suspected when the same device gave identical answers (same
    unit and service) less than `window` apart — among `recent` (the device's stored
    responses around them, as `_recent_by_device` gives them: unit id, service id, channel,
    collected_at, the nine scores), or earlier in this batch. Paper forms are transcribed
    in bulk and are never flagged this way."""
    seen: dict[tuple[Any, ...], list[datetime]] = defaultdict(list)
    for unit_id, service_id, channel, collected_at, *scores in recent:
        if channel != "paper":
            seen[(unit_id, service_id, *scores)].append(collected_at)
    candidates = [r for r in rows if r["channel"] != "paper"]
    for row in sorted(candidates, key=lambda r: r["collected_at"]):
        times = seen[_signature(row)]
        close = [t for t in times if abs(t - row["collected_at"]) < window]
        if close:
            gap = min(abs(t - row["collected_at"]) for t in close).total_seconds()
            row["flag"] = "suspected"
            row["flag_reason"] = (
                f"identical answers from the same device {gap:.0f} s after another response"
            )
        times.append(row["collected_at"])


async def _insert(
    conn: AsyncConnection, dialect: str, rows: list[dict[str, Any]], now: datetime
) -> set[uuid.UUID]:
    """Insert the rows not stored yet and count them in the aggregates, atomically; their
    ids."""
    if dialect == "postgresql" and len(rows) == 1:
        [row] = rows
        [counted] = aggregate_rows(rows, "month", month_of, now)
        return {r.id for r in await fetch_all(conn, _insert_one_counted(), {**row, **counted})}
    async with transaction(conn):
        result = await execute_many(conn, _insert_new(dialect), rows, returning=True)
        inserted = {row.id for row in result}
        new_rows = [r for r in rows if r["id"] in inserted]
        if new_rows:
            await add_to_aggregates(conn, dialect, new_rows, now)
    return inserted


async def ingest(
    conn: AsyncConnection,
    dialect: str,
    items: Sequence[tuple[int, ResponseIn]],
    versions: VersionCache,
    settings: Settings,
    now: datetime,
    submitter: Submitter,
) -> list[Outcome]:
    """Store the given (index, response) pairs; one outcome per pair, in the same order.

    Valid new responses are inserted (and counted in the daily aggregates) even when others
    are refused. A response whose id is already stored is a duplicate when its content is the
    same, and a conflict otherwise; concurrent identical submissions store exactly one row.
    """
    outcomes: dict[int, Outcome] = {}
    digests = {index: content_hash(item) for index, item in items}
    first_of: dict[uuid.UUID, int] = {}
    repeats: list[tuple[int, ResponseIn]] = []
    unique: list[tuple[int, ResponseIn]] = []
    for index, item in items:
        if item.id in first_of:
            repeats.append((index, item))
        else:
            first_of[item.id] = index
            unique.append((index, item))

    window = timedelta(seconds=settings.burst_seconds)
    burst_range = (
        _burst_range((item for _, item in unique), window, now, settings)
        if submitter.device is not None and settings.burst_seconds
        else None
    )
    units, services, recent = await _read_for_validation(
        conn, dialect, [item for _, item in unique], submitter.device, burst_range
    )
    rows: list[dict[str, Any]] = []
    refused: dict[int, list[FieldProblem]] = {}
    for index, item in unique:
        rules = await versions.rules(conn, item.survey_version_id)
        problems = _check_item(item, units, services, rules, now, settings, submitter.scope_path)
        if problems:
            refused[index] = problems
            continue
        unit = units[item.unit]
        service = services[(unit.id, item.service)]
        rows.append(_row(item, unit, service.id, digests[index], now, submitter))

    inserted: set[uuid.UUID] = set()
    if rows and burst_range is not None:
        flag_bursts(rows, recent, window)
    if rows:
        rows.sort(key=lambda r: r["id"])  # one lock order for concurrent batches
        inserted = await retrying(conn, lambda: _insert(conn, dialect, rows, now))

    # Everything not inserted may be a retry of a stored response (even one that would no
    # longer validate, such as an old collected_at): compare with what is stored.
    unsettled = [(i, item) for i, item in unique if item.id not in inserted]
    stored, elsewhere = await _stored(
        conn, (item.id for _, item in unsettled), submitter.scope_path
    )
    rows_by_id = {r["id"]: r for r in rows}
    for index, item in unique:
        if item.id in inserted:
            row = rows_by_id[item.id]
            outcomes[index] = Outcome(
                index, item.id, "created", response=response_out(row, item.unit, item.service)
            )
        elif item.id in stored:
            outcomes[index] = _replayed(index, item.id, digests[index], stored[item.id])
        elif item.id in elsewhere and index not in refused:
            outcomes[index] = _id_taken(index, item.id)
        else:
            outcomes[index] = Outcome(
                index, item.id, "invalid", problem=invalid(refused[index]).problem
            )

    for index, item in repeats:
        first = outcomes[first_of[item.id]]
        if digests[index] != digests[first_of[item.id]]:
            outcomes[index] = Outcome(
                index,
                item.id,
                "conflict",
                problem=conflict(
                    "id-conflict", "This id appears earlier in the batch with other content."
                ).problem,
            )
        elif first.status in ("created", "duplicate"):
            outcomes[index] = Outcome(index, item.id, "duplicate", response=first.response)
        else:
            outcomes[index] = Outcome(index, item.id, first.status, problem=first.problem)
    return [outcomes[index] for index, _ in items]


async def store_one(
    conn: AsyncConnection,
    versions: VersionCache,
    settings: Settings,
    body: ResponseIn,
    submitter: Submitter,
) -> Outcome:
    """Ingest one response: the outcome when stored (created or duplicate), otherwise its
    problem raised."""
    [outcome] = await ingest(
        conn, conn.dialect.name, [(0, body)], versions, settings, utcnow(), submitter
    )
    if outcome.problem is not None:
        raise ProblemError.of(outcome.problem)
    return outcome
