"""Reporting periods as ranges of local calendar days (the unit's own time zone)."""

import re
from dataclasses import dataclass
from datetime import date, timedelta

_PATTERN = re.compile(
    r"^(?P<year>\d{4})(?:-(?:(?P<month>0[1-9]|1[0-2])|Q(?P<quarter>[1-4])|S(?P<semester>[12])))?$"
)
PERIOD_DESCRIPTION = "YYYY (year), YYYY-Sn (semester 1–2), YYYY-Qn (triwulan 1–4), YYYY-MM (month)"


@dataclass(frozen=True)
class Period:
    start: date  # first local day, inclusive
    end: date  # last local day, inclusive


def _months(year: int, first: int, count: int) -> Period:
    last_month = first + count - 1
    following = date(year + 1, 1, 1) if last_month == 12 else date(year, last_month + 1, 1)
    return Period(date(year, first, 1), following - timedelta(days=1))


def parse_period(text: str) -> Period:
    """'2026', '2026-S1', '2026-Q3', '2026-03' → the local days it covers."""
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"period must be one of: {PERIOD_DESCRIPTION}")
    year = int(match["year"])
    if year < 2000:
        raise ValueError("period year must be 2000 or later")
    if match["month"]:
        return _months(year, int(match["month"]), 1)
    if match["quarter"]:
        return _months(year, 3 * int(match["quarter"]) - 2, 3)
    if match["semester"]:
        return _months(year, 6 * int(match["semester"]) - 5, 6)
    return _months(year, 1, 12)
