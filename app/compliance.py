"""Who complied: the compliance overview of a subtree for a year, the reminders a dashboard
or a scheduled job polls, and the setting of required periods per unit.

A unit must survey and publish every *required period* (its own setting, else its nearest
ancestor's, else yearly); a required period is *overdue* when it ended more than the grace
period (`SKM_COMPLIANCE_GRACE_DAYS`) before the day of reference without a published result.

The overview reads the monthly aggregates (never the response rows), the populations, the
publications and the plans: five statements whatever the subtree's size, then Python rolls
each unit's months up its ancestors once.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from functools import cache
from typing import Any

from sqlalchemy import Date, Select, String, Table, bindparam, case, false, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.aggregates import MONTHLY
from app.db import primary_reads, utcnow
from app.evaluation import signed
from app.followup_schemas import (
    ComplianceOut,
    ComplianceRow,
    ComplianceSummary,
    ItemCounts,
    MissingResult,
    OverdueItem,
    PeriodCompliance,
    RemindersOut,
    RequiredPeriodsOut,
)
from app.indices import Node
from app.method import (
    ELEMENTS,
    IKM_FACTOR,
    grade_for_ikm,
    index_value,
    minimum_sample,
    presented,
)
from app.models import (
    ComplianceSetting,
    FollowupItem,
    FollowupPlan,
    Population,
    Publication,
    Service,
    Unit,
)
from app.periods import Span, buckets
from app.schemas import GradeOut, PeriodOut, UnitRef
from app.statements import fetch_all
from app.vocabulary import RequiredPeriods

DEFAULT_REQUIRED: RequiredPeriods = "year"
POINTS = ("surveyed", "sample_met", "published", "followed_up")
FINISHED = ("done", "dropped")
METHOD = (
    "one row per unit of the subtree, its figures pooled over its own subtree (as its index); "
    "required periods: the unit's setting, else its nearest ancestor's, else yearly; a period "
    "has ended when its last local day is before as_of, and is overdue when it ended more "
    "than grace_days before as_of without a published result (any revision); surveyed: "
    "responses in every ended required period; sample_met: in every ended required period a "
    "population is recorded for its label and the responses reach its Krejcie–Morgan "
    "minimum; published: no required period overdue; followed_up: a plan for every required "
    "period that ended more than grace_days ago with responses, and no plan item of the "
    "year overdue (neither done nor dropped, past its target date); ikm: the year's live "
    "index (flagged responses left out), change = ikm − previous year's ikm"
)


def required_spans(year: int, required: RequiredPeriods) -> list[Span]:
    granularity = {"year": "year", "semester": "semester", "quarter": "quarter"}[required]
    return buckets(date(year, 1, 1), date(year, 12, 31), granularity)


# --- the setting -----------------------------------------------------------------------------


def path_ids(path: str) -> list[int]:
    """The ids of a materialised path, root first."""
    return [int(p) for p in path.strip("/").split("/")]


def effective(
    path: str, own: dict[int, str], codes: dict[int, str]
) -> tuple[RequiredPeriods, str | None]:
    """The unit's required periods and where they come from (the ancestor's code; None when
    its own or the default)."""
    ids = path_ids(path)
    for depth, unit_id in enumerate(reversed(ids)):
        if unit_id in own:
            return own[unit_id], (codes.get(unit_id) if depth else None)  # type: ignore[return-value]
    return DEFAULT_REQUIRED, None


async def _settings(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, str]:
    rows = await conn.execute(
        select(ComplianceSetting.unit_id, ComplianceSetting.required_periods).where(
            ComplianceSetting.unit_id.in_(list(set(ids)))
        )
    )
    return {row.unit_id: row.required_periods for row in rows}


async def required_periods_out(conn: AsyncConnection, unit: Node | Unit) -> RequiredPeriodsOut:
    ids = path_ids(unit.path)
    own = await _settings(conn, ids)
    codes = {
        row.id: row.code
        for row in await conn.execute(select(Unit.id, Unit.code).where(Unit.id.in_(ids)))
    }
    required, inherited_from = effective(unit.path, own, codes)
    return RequiredPeriodsOut(
        unit=unit.code,
        required_periods=required,
        own=own.get(unit.id),
        inherited_from=inherited_from,
    )


async def set_required_periods(
    conn: AsyncConnection, unit: Unit, required: RequiredPeriods | None
) -> None:
    table: Table = ComplianceSetting.__table__  # type: ignore[assignment]
    await conn.execute(table.delete().where(table.c.unit_id == unit.id))
    if required is not None:
        await conn.execute(
            table.insert().values(unit_id=unit.id, required_periods=required, updated_at=utcnow())
        )


# --- reading what the overview needs ---------------------------------------------------------

_SUBTREE = select(
    Unit.id, Unit.code, Unit.name, Unit.kind, Unit.path, Unit.parent_id, Unit.deactivated_at
).where(Unit.path.like(bindparam("subtree", type_=String)))


YEAR_COUNTERS = (
    "responses",
    *(f"{e}_{s}" for e in ELEMENTS for s in ("n", "sum")),
)


@dataclass
class Counted:
    """One unit's counts (its own, then its subtree's once rolled up): responses per month
    of the year, and the counters an IKM needs for the year and the previous one."""

    months: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    year: list[int] = field(default_factory=lambda: [0] * len(YEAR_COUNTERS))
    previous: list[int] = field(default_factory=lambda: [0] * len(YEAR_COUNTERS))

    def add(self, other: "Counted") -> None:
        for month, n in other.months.items():
            self.months[month] += n
        self.year = [a + b for a, b in zip(self.year, other.year, strict=True)]
        self.previous = [a + b for a, b in zip(self.previous, other.previous, strict=True)]


def _in_subtree() -> Any:
    return MONTHLY.c.unit_id.in_(
        select(Unit.id).where(Unit.path.like(bindparam("subtree", type_=String)))
    )


@cache
def _monthly_statements() -> tuple[Select[Any], Select[Any]]:
    """Responses per unit and month of the year; the IKM's counters per unit for the year
    and the previous one (whole months: the monthly table alone), flagged left out."""
    in_range = [
        _in_subtree(),
        MONTHLY.c.flagged.is_(false()),
        MONTHLY.c.month.between(bindparam("first", type_=Date), bindparam("last", type_=Date)),
    ]
    per_month = (
        select(MONTHLY.c.unit_id, MONTHLY.c.month, func.sum(MONTHLY.c.responses))
        .where(*in_range, MONTHLY.c.month >= bindparam("year_start", type_=Date))
        .group_by(MONTHLY.c.unit_id, MONTHLY.c.month)
    )
    this_year = case((MONTHLY.c.month >= bindparam("year_start", type_=Date), 1), else_=0).label(
        "this_year"
    )
    per_year = (
        select(MONTHLY.c.unit_id, this_year, *(func.sum(MONTHLY.c[c]) for c in YEAR_COUNTERS))
        .where(*in_range)
        .group_by(MONTHLY.c.unit_id, this_year)
    )
    return per_month, per_year


async def _counts(
    conn: AsyncConnection, root: Node, year: int, units: Sequence[Any]
) -> dict[int, Counted]:
    """Each unit's counts pooled over its subtree, from the monthly aggregates: two grouped
    statements, then each unit's own counts added to its ancestors in the subtree."""
    per_month, per_year = _monthly_statements()
    params = {
        "subtree": root.path + "%",
        "first": date(year - 1, 1, 1),
        "last": date(year, 12, 1),
        "year_start": date(year, 1, 1),
    }
    own: dict[int, Counted] = defaultdict(Counted)
    for unit_id, month, responses in await fetch_all(conn, per_month, params):
        own[unit_id].months[month] += int(responses)
    for unit_id, this_year, *counters in await fetch_all(conn, per_year, params):
        target = own[unit_id].year if this_year else own[unit_id].previous
        target[:] = [int(c or 0) for c in counters]
    pooled: dict[int, Counted] = {u.id: Counted() for u in units}
    paths = {u.id: u.path for u in units}
    for unit_id, counted in own.items():
        for ancestor in path_ids(paths[unit_id]):
            above = pooled.get(ancestor)
            if above is not None:  # None: above the subtree's root
                above.add(counted)
    return pooled


def counted_ikm(counters: list[int]) -> Fraction | None:
    """The IKM of §2 from a row's counters (responses, then each element's answers and
    total): `method.index_value` × 25, without the per-element results `compute_index`
    also builds, which 1,200 rows of an overview do not need."""
    value = index_value((counters[1 + 2 * i], counters[2 + 2 * i]) for i in range(len(ELEMENTS)))
    return None if value is None else value * IKM_FACTOR


async def _populations(
    conn: AsyncConnection, ids: list[int], labels: set[str]
) -> dict[tuple[int, str], int]:
    rows = await conn.execute(
        select(Population.unit_id, Population.period, Population.served).where(
            Population.unit_id.in_(ids),
            Population.service_code == "",
            Population.period.in_(sorted(labels)),
        )
    )
    return {(row.unit_id, row.period): row.served for row in rows}


async def _publications(
    conn: AsyncConnection, ids: list[int], first: date, last: date
) -> dict[tuple[int, date, date], tuple[int, datetime]]:
    """The newest revision per unit and exact days (half-open end) published in the range
    (read on the primary when `conn` is a replica's)."""
    async with primary_reads(conn) as records:
        rows = await records.execute(
            select(
                Publication.unit_id,
                Publication.period_start,
                Publication.period_end,
                Publication.id,
                Publication.published_at,
                Publication.revision,
            ).where(
                Publication.unit_id.in_(ids),
                Publication.period_start >= first,
                Publication.period_end <= last + timedelta(days=1),
            )
        )
    found: dict[tuple[int, date, date], tuple[int, datetime, int]] = {}
    for row in rows:
        key = (row.unit_id, row.period_start, row.period_end)
        if key not in found or found[key][2] < row.revision:
            found[key] = (row.id, row.published_at, row.revision)
    return {key: (pid, at) for key, (pid, at, _) in found.items()}


@dataclass
class PlanFacts:
    periods: list[str] = field(default_factory=list)
    items: int = 0
    done: int = 0
    dropped: int = 0
    due: int = 0
    overdue: int = 0


async def _plans(
    conn: AsyncConnection, ids: list[int], year: int, as_of: date
) -> dict[int, PlanFacts]:
    """Plans whose period begins in the year, their items counted per status."""
    not_finished = FollowupItem.status.not_in(FINISHED)
    rows = await conn.execute(
        select(
            FollowupPlan.unit_id,
            FollowupPlan.period,
            func.count(FollowupItem.id).label("items"),
            func.count(FollowupItem.id).filter(FollowupItem.status == "done").label("done"),
            func.count(FollowupItem.id).filter(FollowupItem.status == "dropped").label("dropped"),
            func.count(FollowupItem.id)
            .filter(not_finished, FollowupItem.target_date < as_of)
            .label("overdue"),
        )
        .outerjoin(FollowupItem, FollowupItem.plan_id == FollowupPlan.id)
        .where(
            FollowupPlan.unit_id.in_(ids),
            FollowupPlan.period_start >= date(year, 1, 1),
            FollowupPlan.period_start <= date(year, 12, 31),
        )
        .group_by(FollowupPlan.unit_id, FollowupPlan.period)
        .order_by(FollowupPlan.unit_id, FollowupPlan.period)
    )
    facts: dict[int, PlanFacts] = defaultdict(PlanFacts)
    for row in rows:
        plan = facts[row.unit_id]
        plan.periods.append(row.period)
        plan.items += row.items
        plan.done += row.done
        plan.dropped += row.dropped
        plan.overdue += row.overdue
        plan.due += row.items - row.done - row.dropped - row.overdue
    return facts


# --- the overview ----------------------------------------------------------------------------


def _grade(ikm: Fraction | None) -> GradeOut | None:
    if ikm is None:
        return None
    grade = grade_for_ikm(ikm)
    return GradeOut(mutu=grade.mutu, kinerja=grade.kinerja, kinerja_en=grade.kinerja_en)


def _period_row(
    unit_id: int,
    span: Span,
    counted: Counted,
    populations: dict[tuple[int, str], int],
    published: dict[tuple[int, date, date], tuple[int, datetime]],
    as_of: date,
    grace_days: int,
) -> PeriodCompliance:
    responses = sum(n for month, n in counted.months.items() if span.start <= month <= span.end)
    population = populations.get((unit_id, span.label or ""))
    minimum = minimum_sample(population) if population is not None else None
    publication = published.get((unit_id, span.start, span.end + timedelta(days=1)))
    return PeriodCompliance(
        period=PeriodOut(label=span.label, start=span.start, end=span.end),
        ended=span.end < as_of,
        responses=responses,
        population=population,
        minimum_sample=minimum,
        sample_met=responses >= minimum if minimum is not None else None,
        publication_id=publication[0] if publication else None,
        published_at=publication[1] if publication else None,
        overdue=publication is None and (as_of - span.end).days > grace_days,
    )


async def overview(
    conn: AsyncConnection,
    root: Node,
    year: int,
    as_of: date,
    grace_days: int,
    kind: str | None = None,
    failing: str | None = None,
) -> ComplianceOut:
    units = await fetch_all(conn, _SUBTREE, {"subtree": root.path + "%"})
    units = sorted(units, key=lambda u: (u.path.count("/"), u.code))
    ids = [u.id for u in units]
    codes = {u.id: u.code for u in units}
    ancestors = path_ids(root.path)
    own = await _settings(conn, [*ancestors, *ids])
    if len(ancestors) > 1:
        above = await conn.execute(select(Unit.id, Unit.code).where(Unit.id.in_(ancestors)))
        codes.update({row.id: row.code for row in above})
    required = {u.id: effective(u.path, own, codes)[0] for u in units}
    spans = {kind_: required_spans(year, kind_) for kind_ in set(required.values())}
    labels = {s.label or "" for group in spans.values() for s in group}
    counts = await _counts(conn, root, year, units)
    populations = await _populations(conn, ids, labels)
    published = await _publications(conn, ids, date(year, 1, 1), date(year, 12, 31))
    plans = await _plans(conn, ids, year, as_of)
    rows = []
    for unit in units:
        if kind is not None and unit.kind != kind:
            continue
        row = _row(
            unit,
            codes,
            required[unit.id],
            spans[required[unit.id]],
            counts[unit.id],
            populations,
            published,
            plans.get(unit.id, PlanFacts()),
            as_of,
            grace_days,
        )
        if failing == "any" and row.complied:
            continue
        if failing in POINTS and getattr(row, failing):
            continue
        rows.append(row)
    return ComplianceOut(
        unit=UnitRef(code=root.code, name=root.name),
        year=year,
        as_of=as_of,
        grace_days=grace_days,
        summary=ComplianceSummary(
            units=len(rows),
            surveyed=sum(r.surveyed for r in rows),
            sample_met=sum(r.sample_met for r in rows),
            published=sum(r.published for r in rows),
            followed_up=sum(r.followed_up for r in rows),
            complied=sum(r.complied for r in rows),
        ),
        rows=rows,
        method=METHOD,
    )


def _row(
    unit: Any,
    codes: dict[int, str],
    required: RequiredPeriods,
    spans: list[Span],
    counted: Counted,
    populations: dict[tuple[int, str], int],
    published: dict[tuple[int, date, date], tuple[int, datetime]],
    plan: PlanFacts,
    as_of: date,
    grace_days: int,
) -> ComplianceRow:
    periods = [
        _period_row(unit.id, s, counted, populations, published, as_of, grace_days) for s in spans
    ]
    ended = [p for p in periods if p.ended]
    ikm, previous = counted_ikm(counted.year), counted_ikm(counted.previous)
    surveyed = all(p.responses > 0 for p in ended)
    sample_met = all(p.sample_met is True for p in ended)
    published_ok = not any(p.overdue for p in periods)
    needs_plan = [
        p.period.label
        for p in ended
        if p.responses > 0 and (as_of - (p.period.end or as_of)).days > grace_days
    ]
    followed_up = all(label in plan.periods for label in needs_plan) and plan.overdue == 0
    return ComplianceRow(
        unit=UnitRef(code=unit.code, name=unit.name),
        kind=unit.kind,
        parent=codes.get(unit.parent_id) if unit.parent_id is not None else None,
        required_periods=required,
        periods=periods,
        plans=plan.periods,
        plan_items=ItemCounts(
            items=plan.items,
            done=plan.done,
            dropped=plan.dropped,
            due=plan.due,
            overdue=plan.overdue,
        ),
        ikm=presented(ikm, 2) if ikm is not None else None,
        grade=_grade(ikm),
        previous_ikm=presented(previous, 2) if previous is not None else None,
        change=signed(ikm - previous, 2) if ikm is not None and previous is not None else None,
        surveyed=surveyed,
        sample_met=sample_met,
        published=published_ok,
        followed_up=followed_up,
        complied=surveyed and sample_met and published_ok and followed_up,
    )


# --- reminders -------------------------------------------------------------------------------


async def reminders(
    conn: AsyncConnection, root: Node, as_of: date, grace_days: int
) -> RemindersOut:
    """Items past their target date (neither done nor dropped), and required periods of
    this year and the last that ended more than the grace period ago without a published
    result, across the subtree."""
    items = await conn.execute(
        select(
            Unit.code,
            Unit.name,
            FollowupPlan.period,
            FollowupItem.id,
            FollowupItem.element,
            Service.code.label("service"),
            FollowupItem.action,
            FollowupItem.responsible,
            FollowupItem.target_date,
        )
        .join(FollowupPlan, FollowupPlan.id == FollowupItem.plan_id)
        .join(Unit, Unit.id == FollowupPlan.unit_id)
        .outerjoin(Service, Service.id == FollowupItem.service_id)
        .where(
            Unit.path.like(root.path + "%"),
            FollowupItem.status.not_in(FINISHED),
            FollowupItem.target_date < as_of,
        )
        .order_by(FollowupItem.target_date, Unit.code, FollowupItem.id)
    )
    overdue_items = [
        OverdueItem(
            unit=UnitRef(code=row.code, name=row.name),
            plan_period=row.period,
            item_id=row.id,
            element=row.element,
            service=row.service,
            action=row.action,
            responsible=row.responsible,
            target_date=row.target_date,
            days_overdue=(as_of - row.target_date).days,
        )
        for row in items
    ]
    missing: list[MissingResult] = []
    for year in (as_of.year - 1, as_of.year):
        table = await overview(conn, root, year, as_of, grace_days)
        for row in table.rows:
            for period in row.periods:
                if period.overdue and period.period.end is not None:
                    missing.append(
                        MissingResult(
                            unit=row.unit,
                            period=period.period,
                            responses=period.responses,
                            days_overdue=(as_of - period.period.end).days - grace_days,
                        )
                    )
    missing.sort(key=lambda m: (-m.days_overdue, m.unit.code))
    return RemindersOut(
        unit=UnitRef(code=root.code, name=root.name),
        as_of=as_of,
        grace_days=grace_days,
        overdue_items=overdue_items,
        missing_results=missing,
    )
