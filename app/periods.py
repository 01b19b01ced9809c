"""Reporting periods as ranges of local calendar days (the unit's own time zone)."""

import re
from dataclasses import dataclass
from datetime import date, timedelta

from app.errors import FieldProblem, invalid

_PATTERN = re.compile(
    r"(?P<year>[0-9]{4})(?:-(?:(?P<month>0[1-9]|1[0-2])|Q(?P<quarter>[1-4])|S(?P<semester>[12])))?"
)
PERIOD_DESCRIPTION = "YYYY (year), YYYY-Sn (semester 1–2), YYYY-Qn (triwulan 1–4), YYYY-MM (month)"


@dataclass(frozen=True)
class Span:
    """A closed range of local days, with its period label when it is one ('2026-Q1')."""

    label: str | None
    start: date  # first local day, inclusive
    end: date  # last local day, inclusive


def _months(label: str, year: int, first: int, count: int) -> Span:
    last_month = first + count - 1
    following = date(year + 1, 1, 1) if last_month == 12 else date(year, last_month + 1, 1)
    return Span(label, date(year, first, 1), following - timedelta(days=1))


def parse_period(text: str) -> Span:
    """'2026', '2026-S1', '2026-Q3', '2026-03' → the local days it covers, labelled so."""
    match = _PATTERN.fullmatch(text)  # not `$`: it would let a trailing newline through
    if not match:
        raise ValueError(f"period must be one of: {PERIOD_DESCRIPTION}")
    year = int(match["year"])
    if year < 2000:
        raise ValueError("period year must be 2000 or later")
    if match["month"]:
        return _months(text, year, int(match["month"]), 1)
    if match["quarter"]:
        return _months(text, year, 3 * int(match["quarter"]) - 2, 3)
    if match["semester"]:
        return _months(text, year, 6 * int(match["semester"]) - 5, 6)
    return _months(text, year, 1, 12)


def period_length(label: str) -> str:
    """The length of a period label that parse_period accepted."""
    if "-Q" in label:
        return "quarter"
    if "-S" in label:
        return "semester"
    return "month" if "-" in label else "year"


def period_label(start: date, end: date) -> str | None:
    """The period (year, semester, quarter or month) whose local days are exactly
    start..end (inclusive), if there is one: a range of days then counts as that period."""
    if start.day != 1 or start.year < 2000 or end >= date.max:
        return None
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    if next_month(end) - timedelta(days=1) != end or start.year != end.year:
        return None
    if months == 1:
        return f"{start.year}-{start.month:02d}"
    if months == 3 and start.month % 3 == 1:
        return f"{start.year}-Q{start.month // 3 + 1}"
    if months == 6 and start.month in (1, 7):
        return f"{start.year}-S{start.month // 6 + 1}"
    if months == 12:
        return f"{start.year}"
    return None


@dataclass(frozen=True)
class Window:
    """What a request asked for: a named period, or a range of local days with either end
    open (a `Span` once the request's bounds close it)."""

    label: str | None
    start: date | None
    end: date | None


class PeriodError(ValueError):
    """A period parameter at fault, and why."""

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(reason)
        self.parameter = parameter
        self.reason = reason


def resolve_window(period: str | None, date_from: date | None, date_to: date | None) -> Window:
    """A `period`, or `from`/`to` days (inclusive)."""
    if period is not None:
        if date_from is not None or date_to is not None:
            raise PeriodError("period", "give a period or from/to, not both")
        try:
            named = parse_period(period)
        except ValueError as error:
            raise PeriodError("period", str(error)) from None
        return Window(period, named.start, named.end)
    if date_from is not None and date_to is not None and date_from > date_to:
        raise PeriodError("from", "must not be after `to`")
    return Window(None, date_from, date_to)


def window_or_problem(period: str | None, date_from: date | None, date_to: date | None) -> Window:
    """resolve_window, with a problem+json 422 naming the parameter at fault."""
    try:
        return resolve_window(period, date_from, date_to)
    except PeriodError as error:
        raise invalid(
            [FieldProblem(parameter=error.parameter, detail=error.reason, code="bad_period")]
        ) from None


def next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


@dataclass(frozen=True)
class Split:
    """A range of days as whole months (first days of the first and last month) plus the
    leftover days at either end."""

    months: tuple[date, date] | None
    days: tuple[tuple[date, date], ...]


def split_months(start: date, end: date) -> Split:
    first_full = start if start.day == 1 else next_month(start)
    # The first day after the last whole month inside the range.
    after_end = end + timedelta(days=1)
    after_full = after_end.replace(day=1)
    if first_full >= after_full:
        return Split(None, ((start, end),))
    last_month = (after_full - timedelta(days=1)).replace(day=1)
    days = _head(start, first_full)
    if after_full <= end:
        days += ((after_full, end),)
    return Split((first_full, last_month), days)


def split_years(
    first_month: date, last_month: date
) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """Whole months first_month..last_month (first days) as the whole calendar years among
    them (the first days of the first and last such year), if any, and the ranges of months
    before and after those years (all of them when there is no whole year)."""
    first_year = first_month.year if first_month.month == 1 else first_month.year + 1
    last_year = last_month.year if last_month.month == 12 else last_month.year - 1
    if first_year > last_year:
        return None, [(first_month, last_month)]
    months = []
    if first_month < date(first_year, 1, 1):
        months.append((first_month, date(first_year - 1, 12, 1)))
    if last_month > date(last_year, 12, 1):
        months.append((date(last_year + 1, 1, 1), last_month))
    return (date(first_year, 1, 1), date(last_year, 1, 1)), months


def _head(start: date, first_full: date) -> tuple[tuple[date, date], ...]:
    return ((start, first_full - timedelta(days=1)),) if start < first_full else ()


def buckets(start: date, end: date, granularity: str) -> list[Span]:
    """Consecutive calendar buckets (month, quarter, semester, year) covering start..end,
    the first and last clipped to the range; labelled like periods ('2026-Q1')."""
    months = {"month": 1, "quarter": 3, "semester": 6, "year": 12}[granularity]
    result = []
    cursor = start
    while cursor <= end:
        first_month = (cursor.month - 1) // months * months + 1
        bucket_start = date(cursor.year, first_month, 1)
        last_month = first_month + months - 1
        following = next_month(date(cursor.year, last_month, 1))
        label = {
            "month": f"{cursor.year}-{first_month:02d}",
            "quarter": f"{cursor.year}-Q{(first_month - 1) // 3 + 1}",
            "semester": f"{cursor.year}-S{(first_month - 1) // 6 + 1}",
            "year": f"{cursor.year}",
        }[granularity]
        bucket_end = min(following - timedelta(days=1), end)
        result.append(Span(label, max(bucket_start, start), bucket_end))
        cursor = following
    return result
