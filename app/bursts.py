"""Burst detection: a new response is flagged as suspected when the same device gave
identical answers (same unit and service) less than SKM_BURST_SECONDS before or after it.
Flagged responses are stored, and left out of the indices until reviewed (`app.flags`)."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import SmallInteger, bindparam, select

from app.config import Settings
from app.method import ELEMENTS
from app.schemas import ResponseIn
from app.stored_responses import RESPONSES


def _signature(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["unit_id"], row["service_id"], *(row[e] for e in ELEMENTS))


@cache
def recent_by_device() -> Any:
    columns = ("unit_id", "service_id", "channel", "collected_at", *ELEMENTS)
    return select(*(RESPONSES.c[c] for c in columns)).where(
        RESPONSES.c.device == bindparam("device"),
        RESPONSES.c.collected_at.between(bindparam("first"), bindparam("last")),
    )


@cache
def recent_alike() -> Any:
    """`recent_by_device` narrowed to responses (not on paper) with the given answers: the
    read of a single submission, where a busy kiosk would otherwise fetch its every recent
    response."""
    return recent_by_device().where(
        RESPONSES.c.channel != "paper",
        *(RESPONSES.c[e].is_not_distinct_from(bindparam(e, type_=SmallInteger)) for e in ELEMENTS),
    )


def recent_from_json(found: list[Any] | None) -> list[tuple[Any, ...]]:
    """The JSON arrays of `app.ingest`'s one-statement read as the rows `recent_by_device`
    gives."""
    return [
        (unit_id, service_id, channel, datetime.fromisoformat(collected_at), *scores)
        for unit_id, service_id, channel, collected_at, *scores in found or ()
    ]


def compared_range(
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
    responses around them, as `recent_by_device` gives them: unit id, service id, channel,
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
