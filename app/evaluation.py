"""A follow-up plan evaluated in the next comparable period (docs/method.md §8).

For each item, its element's NRR (or, for an item tied to a service, that service's IKM) in
the plan's period and in the period that follows it with the same length, and the unit's
IKM in both: the difference (after − before) with a 95% Welch interval built from the
per-element sums, counts and squares the aggregates keep (for an IKM: from the totals of
the responses answering all nine elements, as the index's own interval), and a verdict.

The arithmetic is at the top (pure, exact until presented); the reading below it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from math import floor
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.aggregates import Scope, Sums, aggregate_totals
from app.errors import not_found
from app.followup import plan_out
from app.followup_schemas import (
    ChangeOut,
    EvaluationOut,
    ItemEvaluation,
    MeasureOut,
    ReportFollowup,
)
from app.indices import exact_ikm
from app.method import (
    ELEMENTS,
    IKM_FACTOR,
    SMALL_SAMPLE,
    grade_for_ikm,
    presented,
    t_critical_95,
)
from app.models import FollowupItem, FollowupPlan, Service, Unit
from app.periods import Span, parse_period
from app.schemas import GradeOut, PeriodOut, UnitRef
from app.vocabulary import Verdict

ENOUGH = SMALL_SAMPLE  # answers needed in each period for a verdict
METHOD = (
    "difference = after − before of the element's NRR (1–4 scale) or of the IKM (25–100); "
    "95% Welch interval: difference ± t(df) · √(s₁²/n₁ + s₂²/n₂), s² each period's sample "
    "variance of the element's scores (for an IKM: of each complete respondent's mean score × "
    "25), df by Welch–Satterthwaite rounded down, t from the index's Student-t table; "
    "verdict 'improved' or 'worse' when the interval excludes 0, 'no_clear_change' when it "
    "includes it, 'not_enough_data' when either period has fewer than 30 answers to the "
    "element (responses, for an IKM); live aggregates, flagged responses left out"
)


def next_period(span: Span) -> Span:
    """The period after a labelled one, of the same length: 2026 → 2027, 2026-S2 → 2027-S1,
    2026-Q4 → 2027-Q1, 2026-12 → 2027-01."""
    label = span.label or ""
    following = span.end + timedelta(days=1)
    year, _, part = label.partition("-")
    if not part:
        return parse_period(str(int(year) + 1))
    if part[0] == "S":
        return parse_period(f"{following.year}-S{(following.month - 1) // 6 + 1}")
    if part[0] == "Q":
        return parse_period(f"{following.year}-Q{(following.month - 1) // 3 + 1}")
    return parse_period(f"{following.year}-{following.month:02d}")


def previous_period(span: Span) -> Span:
    """The period before a labelled one, of the same length: 2026-Q1 → 2025-Q4."""
    label = span.label or ""
    before = span.start - timedelta(days=1)
    year, _, part = label.partition("-")
    if not part:
        return parse_period(str(int(year) - 1))
    if part[0] == "S":
        return parse_period(f"{before.year}-S{(before.month - 1) // 6 + 1}")
    if part[0] == "Q":
        return parse_period(f"{before.year}-Q{(before.month - 1) // 3 + 1}")
    return parse_period(f"{before.year}-{before.month:02d}")


@dataclass(frozen=True)
class Moments:
    """A sample's count, sum and sum of squares."""

    n: int
    total: int
    squares: int

    @property
    def mean(self) -> Fraction:
        return Fraction(self.total, self.n)

    @property
    def variance(self) -> Fraction:
        """The sample variance (n − 1 denominator); needs n ≥ 2."""
        return Fraction(self.squares * self.n - self.total * self.total, self.n * (self.n - 1))


@dataclass(frozen=True)
class Change:
    difference: Fraction
    low: Fraction | None
    high: Fraction | None
    df: int | None


def welch(before: Moments, after: Moments, scale: Fraction, difference: Fraction) -> Change:
    """`difference` with its 95% Welch interval, the moments' variances multiplied by
    `scale`² (a respondent's total T → its mean score × 25: scale = 25/9)."""
    if before.n < 2 or after.n < 2:
        return Change(difference, None, None, None)
    a = before.variance * scale * scale / before.n
    b = after.variance * scale * scale / after.n
    if a + b == 0:
        return Change(difference, difference, difference, None)
    df_exact = (a + b) ** 2 / (a * a / (before.n - 1) + b * b / (after.n - 1))
    df = max(1, floor(df_exact))
    half = t_critical_95(df) * _sqrt(a + b)
    return Change(difference, difference - half, difference + half, df)


def verdict(change: Change, before_n: int, after_n: int) -> Verdict:
    if before_n < ENOUGH or after_n < ENOUGH or change.low is None or change.high is None:
        return "not_enough_data"
    if change.low > 0:
        return "improved"
    if change.high < 0:
        return "worse"
    return "no_clear_change"


def signed(value: Fraction, places: int) -> float:
    """Rounded half away from zero (half-up on the magnitude, as every other figure)."""
    return -presented(-value, places) if value < 0 else presented(value, places)


def _sqrt(value: Fraction) -> Fraction:
    from math import isqrt

    scale = 10**12
    return Fraction(isqrt(value.numerator * scale * scale // value.denominator), scale)


# --- measures of one period ------------------------------------------------------------------


def _period(span: Span) -> PeriodOut:
    return PeriodOut(label=span.label, start=span.start, end=span.end)


def _grade(value: Fraction) -> GradeOut:
    grade = grade_for_ikm(value)
    return GradeOut(mutu=grade.mutu, kinerja=grade.kinerja, kinerja_en=grade.kinerja_en)


def element_change(key: str, spans: tuple[Span, Span], sums: tuple[Sums, Sums]) -> ChangeOut:
    moments = [
        Moments(s.counters[f"{key}_n"], s.counters[f"{key}_sum"], s.counters[f"{key}_sq"])
        for s in sums
    ]
    measures = [
        MeasureOut(
            period=_period(span),
            answers=m.n,
            value=presented(m.mean, 3) if m.n else None,
            value_exact=str(m.mean) if m.n else None,
            grade=_grade(m.mean * IKM_FACTOR) if m.n else None,
        )
        for span, m in zip(spans, moments, strict=True)
    ]
    before, after = moments
    return _change(f"element:{key}", "nrr", measures, before, after, Fraction(1), 3)


def ikm_change(what: str, spans: tuple[Span, Span], sums: tuple[Sums, Sums]) -> ChangeOut:
    ikms = [exact_ikm(s) for s in sums]
    measures = [
        MeasureOut(
            period=_period(span),
            answers=s.responses,
            value=presented(ikm, 2) if ikm is not None else None,
            value_exact=str(ikm) if ikm is not None else None,
            grade=_grade(ikm) if ikm is not None else None,
        )
        for span, s, ikm in zip(spans, sums, ikms, strict=True)
    ]
    complete = [
        Moments(
            s.counters["complete"], s.counters["complete_total"], s.counters["complete_total_sq"]
        )
        for s in sums
    ]
    before_ikm, after_ikm = ikms
    if before_ikm is None or after_ikm is None:
        return ChangeOut(
            what=what,
            scale="ikm",
            before=measures[0],
            after=measures[1],
            difference=None,
            interval_low=None,
            interval_high=None,
            degrees_of_freedom=None,
            verdict="not_enough_data",
        )
    change = welch(
        complete[0], complete[1], Fraction(IKM_FACTOR, len(ELEMENTS)), after_ikm - before_ikm
    )
    return _out(
        what, "ikm", measures, change, verdict(change, sums[0].responses, sums[1].responses), 2
    )


def _change(
    what: str,
    scale: str,
    measures: list[MeasureOut],
    before: Moments,
    after: Moments,
    factor: Fraction,
    places: int,
) -> ChangeOut:
    if before.n == 0 or after.n == 0:
        return ChangeOut(
            what=what,
            scale=scale,
            before=measures[0],
            after=measures[1],
            difference=None,
            interval_low=None,
            interval_high=None,
            degrees_of_freedom=None,
            verdict="not_enough_data",
        )
    change = welch(before, after, factor, (after.mean - before.mean) * factor)
    return _out(what, scale, measures, change, verdict(change, before.n, after.n), places)


def _out(
    what: str, scale: str, measures: list[MeasureOut], change: Change, said: Verdict, places: int
) -> ChangeOut:
    return ChangeOut(
        what=what,
        scale=scale,
        before=measures[0],
        after=measures[1],
        difference=signed(change.difference, places),
        interval_low=signed(change.low, places) if change.low is not None else None,
        interval_high=signed(change.high, places) if change.high is not None else None,
        degrees_of_freedom=change.df,
        verdict=said,
    )


# --- a plan ----------------------------------------------------------------------------------


async def evaluate(session: AsyncSession, unit: Unit, plan: FollowupPlan) -> EvaluationOut:
    before = Span(plan.period, plan.period_start, plan.period_end)
    after = next_period(before)
    spans = (before, after)
    conn = await session.connection()
    items = list(
        await session.scalars(
            select(FollowupItem).where(FollowupItem.plan_id == plan.id).order_by(FollowupItem.id)
        )
    )
    services = {
        row.id: row.code
        for row in await session.execute(
            select(Service.id, Service.code).where(Service.unit_id == unit.id)
        )
    }
    pooled = []
    by_service: list[dict[int, Sums]] = []
    for span in spans:
        totals = await aggregate_totals(conn, Scope(unit, span.start, span.end), ("service_id",))
        pooled.append(totals.pooled())
        by_service.append({key[0]: sums for key, sums in totals.groups.items()})
    sums = (pooled[0], pooled[1])
    evaluated = []
    for item in items:
        if item.element is not None:
            change = element_change(item.element, spans, sums)
        else:
            service_id = item.service_id or 0
            change = ikm_change(
                f"service:{services.get(service_id, '')}",
                spans,
                (
                    by_service[0].get(service_id, Sums()),
                    by_service[1].get(service_id, Sums()),
                ),
            )
        evaluated.append(ItemEvaluation(item_id=item.id, status=item.status, change=change))
    return EvaluationOut(
        unit=UnitRef(code=unit.code, name=unit.name),
        plan_period=_period(before),
        next_period=_period(after),
        unit_change=ikm_change("unit", spans, sums),
        items=evaluated,
        method=METHOD,
    )


# --- for the Laporan SKM (Bab IV) ------------------------------------------------------------


async def report_followup(conn: AsyncConnection, unit_code: str, span: Span) -> ReportFollowup:
    """What the Laporan SKM of a labelled period shows of follow-up (Bab IV): the previous
    period's plan (same length) with its evaluation against this period, and this period's
    own plan; each None where the unit has none. Runs on the report's own connection (in
    its transaction and snapshot)."""
    async with AsyncSession(bind=conn) as session:
        unit = await session.scalar(select(Unit).where(Unit.code == unit_code))
        if unit is None:
            raise not_found("unit", unit_code)
        today = datetime.now(ZoneInfo(unit.time_zone)).date()
        before = previous_period(span)
        plans = {
            plan.period: plan
            for plan in await session.scalars(
                select(FollowupPlan).where(
                    FollowupPlan.unit_id == unit.id,
                    FollowupPlan.period.in_([before.label or "", span.label or ""]),
                )
            )
        }
        previous = plans.get(before.label or "")
        current = plans.get(span.label or "")
        return ReportFollowup(
            previous_plan=await plan_out(session, unit, previous, today) if previous else None,
            previous_evaluation=await evaluate(session, unit, previous) if previous else None,
            current_plan=await plan_out(session, unit, current, today) if current else None,
        )
