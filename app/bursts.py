"""Burst detection: a new response is flagged as suspected when the same device gave
identical answers (same unit and service) less than SKM_BURST_SECONDS before or after it.
Flagged responses are stored, and left out of the indices until reviewed (`app.flags`).

Every response not on paper stores its nine scores as one integer, its answers' signature
(`answers_signature`), indexed with the device and collected_at: a submission reads only
the device's stored responses with the same scores in its window, whatever the device's
rate (the index on the device and time alone read every response it stored in the window).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    Date,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    select,
    true,
    tuple_,
    union_all,
)

from app.auth import DEVICE_PREFIX
from app.config import Settings
from app.method import ELEMENTS
from app.models import ApiKey
from app.partitions import next_month
from app.schemas import ResponseIn
from app.statements import JsonRows, one_of
from app.stored_responses import RESPONSES

ONE_DAY = timedelta(days=1)
SCORE_BASE = 5  # a score is 1–4, a blank counts 0: one base-5 digit per element


def answers_signature(scores: Mapping[str, int | None]) -> int:
    """The nine scores as one integer (base 5, the first element the lowest digit; a blank
    is 0): equal exactly when the scores are (0 … 5⁹ − 1, an `integer` column)."""
    signature = 0
    for element in reversed(ELEMENTS):
        signature = signature * SCORE_BASE + (scores[element] or 0)
    return signature


def stored_signature(channel: str, scores: Mapping[str, int | None]) -> int | None:
    """What a response row stores: the signature, or NULL on paper (never compared)."""
    return None if channel == "paper" else answers_signature(scores)


@cache
def recent_alike(
    dialect: str, one: bool, by_token: bool = False, months: tuple[date, date] | None = None
) -> Any:
    """The device's stored responses with the given signature (`one`: bound as `signature`)
    or one of the given signatures (`signatures`), collected in the given range: what the
    submissions are compared with.

    One signature is an equality, so the index is searched on the device, the signature and
    the range: only identical answers are read. Several are, on PostgreSQL, a LATERAL
    search per signature of the list (unnest): each is an index condition, where
    `= ANY(…)` was applied by its planner (15) as a filter on the device's whole range, a
    batch reading every response its device stored in the batch's window. SQLite searches
    the index once per value of an IN list.

    On PostgreSQL the months the range can touch (`months`: the first, and the first after
    the last, of `compared_months`) bound `local_date` too, written into the statement:
    `responses` is partitioned by month of local_date, and only those months are searched
    — pruned when the statement is planned, so that its generic plan holds them alone. With
    the days as parameters, the generic plan held every month, and from about two years of
    months its cost passed that of planning each execution, which PostgreSQL then did: 363
    µs of the server's time per submission against 53, at 29 months. (A statement per pair
    of months: one a month for the live submissions, a few more for backlogs.)

    On PostgreSQL the signature and the window are written as a row comparison,
    (signature, collected_at) between (signature, first) and (signature, last), beside the
    device's equality: only the index on (device, signature, collected_at) can search them,
    and it is positioned on all three. With the time range alone, a month not yet analyzed
    (a new database's, or any month's first minute) cost the same by the index on
    collected_at, and a connection's prepared statement, planned once then, kept reading
    every response of the window on each submission (7,197 rows read for none found, 3.6
    ms, at 1,000 submissions a second) until autovacuum analyzed the month. A comparison
    over the three columns beside the equalities was no better: the search was positioned
    on the device alone and read all it stored in the month (421 pages for 2 rows)."""
    columns = [
        RESPONSES.c[c] for c in ("unit_id", "service_id", "collected_at", "answers_signature")
    ]
    signature = RESPONSES.c.answers_signature
    device: Any = bindparam("device")
    if by_token:
        label = literal(DEVICE_PREFIX) + cast(ApiKey.id, String)
        device = select(label).where(ApiKey.token_hash == bindparam("token_hash"))
        device = device.scalar_subquery()
    collected = RESPONSES.c.collected_at.type
    window: tuple[Any, Any] = (
        bindparam("first", type_=collected),
        bindparam("last", type_=collected),
    )

    def in_range(wanted: Any) -> tuple[Any, ...]:
        """The conditions on the device's responses with the signature `wanted`."""
        same_device = RESPONSES.c.device == device
        if dialect != "postgresql":
            return (same_device, signature == wanted, RESPONSES.c.collected_at.between(*window))
        assert months is not None, "PostgreSQL's search names its months"
        first, after = (literal_column(f"DATE '{month.isoformat()}'", Date) for month in months)
        indexed = tuple_(signature, RESPONSES.c.collected_at)
        lower, upper = (tuple_(wanted, moment) for moment in window)
        in_months = (RESPONSES.c.local_date >= first, RESPONSES.c.local_date < after)
        return (same_device, indexed.between(lower, upper), *in_months)

    if one:
        return select(*columns).where(*in_range(bindparam("signature", type_=Integer)))
    if dialect != "postgresql":
        return select(*columns).where(
            one_of(signature, "signatures", dialect),
            RESPONSES.c.device == device,
            RESPONSES.c.collected_at.between(*window),
        )
    wanted = (
        func.unnest(bindparam("signatures", type_=ARRAY(Integer)))
        .table_valued("value")
        .render_derived(name="wanted")
    )
    # OFFSET 0 keeps the search a subquery run per signature: pulled up into a join, its
    # bounds were a join's filter, and a hash join read the device's whole month.
    alike = select(*columns).where(*in_range(wanted.c.value)).offset(0).lateral("alike")
    return select(*alike.c).select_from(wanted.join(alike, true()))


@cache
def nearest_alike() -> Any:
    """SQLite: of `recent_alike`'s rows, for each submission's signature and collected_at
    (the rows bound as `wanted`) and each unit and service, only the two nearest it — the
    latest at or before it and the earliest at or after it. Burst detection needs no other
    (`flag_bursts` looks for the closest stored response within the window), and a device
    that stores the same answers again and again (a test kiosk, the all-4 respondent) had
    hundreds of rows read, typed and compared for each batch. Each pair is two searches of
    the index on device, signature and time; the minimum and maximum are taken in SQLite."""
    responses = RESPONSES.c
    pairs = (
        func.json_each(bindparam("wanted", type_=JsonRows(Integer(), responses.collected_at.type)))
        .table_valued("value")
        .alias("pair")
    )
    wanted = select(
        func.json_extract(pairs.c.value, "$[0]").label("signature"),
        func.json_extract(pairs.c.value, "$[1]").label("at"),
    ).cte("wanted")

    def nearest(extreme: Any, low: Any, high: Any) -> Any:
        return (
            select(
                responses.unit_id,
                responses.service_id,
                extreme(responses.collected_at).label("collected_at"),
                responses.answers_signature,
            )
            .select_from(wanted)
            .join(
                RESPONSES,
                and_(
                    responses.device == bindparam("device"),
                    responses.answers_signature == wanted.c.signature,
                    responses.collected_at.between(low, high),
                ),
            )
            .group_by(
                wanted.c.signature,
                wanted.c.at,
                responses.unit_id,
                responses.service_id,
            )
        )

    return union_all(
        nearest(func.max, bindparam("first"), wanted.c.at),
        nearest(func.min, wanted.c.at, bindparam("last")),
    )


def nearest_params(
    items: Iterable[ResponseIn],
    scores: Iterable[Mapping[str, int | None]],
    device: str | None,
    compared: tuple[datetime, datetime],
) -> dict[str, Any]:
    """The parameters of `nearest_alike` for these items (`scores`: each one's answers
    dumped)."""
    wanted = {
        (answers_signature(answers), i.collected_at)
        for i, answers in zip(items, scores, strict=True)
        if i.channel != "paper"
    }
    return {"device": device, "first": compared[0], "last": compared[1], "wanted": list(wanted)}


def recent_params(
    items: Iterable[ResponseIn], device: str | None, compared: tuple[datetime, datetime]
) -> dict[str, Any]:
    """The parameters of `recent_alike` for these items (`one` when there is one signature;
    `device` None: `by_token`, the token's hash bound by the caller)."""
    signatures = {answers_signature(i.answers.model_dump()) for i in items if i.channel != "paper"}
    found: dict[str, Any] = {"first": compared[0], "last": compared[1]}
    if device is not None:
        found["device"] = device
    if len(signatures) == 1:
        [found["signature"]] = signatures
    else:
        found["signatures"] = sorted(signatures)
    return found


def compared_months(compared: tuple[datetime, datetime]) -> tuple[date, date]:
    """The months (of `local_date`) a range of collection times can fall in, in any time
    zone (UTC-12 to UTC+14, a day either side): the first month's first day, and the first
    day of the month after the last (`recent_alike`'s `months`)."""
    first = compared[0].astimezone(UTC).date() - ONE_DAY
    last = compared[1].astimezone(UTC).date() + ONE_DAY
    return first.replace(day=1), next_month(last.replace(day=1))


def recent_from_json(found: list[Any] | None) -> list[tuple[Any, ...]]:
    """The JSON arrays of `app.ingest`'s one-statement read as the rows `recent_alike`
    gives."""
    return [
        (unit_id, service_id, datetime.fromisoformat(collected_at), signature)
        for unit_id, service_id, collected_at, signature in found or ()
    ]


def compared_range(
    items: Iterable[ResponseIn], window: timedelta, now: datetime, settings: Settings
) -> tuple[datetime, datetime] | None:
    """Where a burst check of these items must look: around every collected_at that can be
    valid (an item too far in the past or the future is refused, and must not widen the
    read); None when no item is checked (paper forms are not)."""
    earliest = now - timedelta(days=settings.max_collected_age_days)
    latest = now + timedelta(seconds=settings.max_clock_skew_seconds)
    times = [i.collected_at for i in items if i.channel != "paper"]
    if not times:
        return None
    # Bounding is monotonic: the bounded extremes are the extremes of the bounded times.
    return (
        min(max(min(times), earliest), latest) - window,
        min(max(max(times), earliest), latest) + window,
    )


def _key(unit_id: int, service_id: int, signature: int) -> tuple[int, int, int]:
    return (unit_id, service_id, signature)


def flag_bursts(rows: list[dict[str, Any]], recent: Iterable[Any], window: timedelta) -> None:
    """Flag a new response as suspected when the same device gave identical answers (same
    unit and service) less than `window` apart — among `recent` (the device's stored
    responses around them with the same signatures, as `recent_alike` gives them: unit id,
    service id, collected_at, signature), or earlier in this batch. Paper forms are
    transcribed in bulk and are never flagged this way (their rows have no signature)."""
    seen: dict[tuple[int, int, int], list[datetime]] = defaultdict(list)
    for unit_id, service_id, collected_at, signature in recent:
        seen[_key(unit_id, service_id, signature)].append(collected_at)
    candidates = [r for r in rows if r["answers_signature"] is not None]
    for row in sorted(candidates, key=lambda r: r["collected_at"]):
        times = seen[_key(row["unit_id"], row["service_id"], row["answers_signature"])]
        close = [t for t in times if abs(t - row["collected_at"]) < window]
        if close:
            gap = min(abs(t - row["collected_at"]) for t in close).total_seconds()
            row["flag"] = "suspected"
            row["flag_reason"] = (
                f"identical answers from the same device {gap:.0f} s after another response"
            )
        times.append(row["collected_at"])
