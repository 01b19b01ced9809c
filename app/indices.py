"""Satisfaction indices (IKM) exactly as PermenPAN-RB 14/2017 defines them.

Sums and counts come from SQL (`app.aggregates`: GROUP BY over integer columns of the
pre-aggregated tables, whole months from the monthly table, leftover days from the daily
one); Python only does exact arithmetic on the few numbers that come back. Profile and
channel breakdowns, which the aggregates do not carry, are the same sums over the response
rows of the period.

Reports read on one Core connection in one snapshot (`app.db.ReadConnection`); the
statements every report runs are built once and go through `app.statements.fetch_all`.
The public figures, which follow rules of their own, are in `app.public_figures`.

A little over 450 lines, kept whole: the four keyed reports share the scope, the subtree,
the exact values and the method block, and each reads best beside them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from math import lcm
from typing import Any

from sqlalchemy import String, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.aggregates import (
    Scope,
    Sums,
    Totals,
    aggregate_totals,
    raw_sums,
)
from app.auth import Principal
from app.db import primary_reads
from app.errors import not_found
from app.method import (
    CI_METHOD,
    ELEMENT_NAMES,
    ELEMENTS,
    GRADES,
    IKM_FACTOR,
    INTERVAL_MINIMUM,
    METHOD_ID,
    SMALL_SAMPLE,
    Grade,
    compute_index,
    fraction_text,
    grade_for_hundredths,
    grade_for_ikm,
    interval_hundredths,
    minimum_sample,
    presented,
    ratio_half_up,
)
from app.models import Population, Service, Unit
from app.periods import Span, buckets, period_label
from app.schemas import (
    BreakdownGroup,
    BreakdownOut,
    ChildrenMean,
    ElementOut,
    GradeBand,
    GradeOut,
    IndexReport,
    IndexValue,
    IntervalOut,
    MethodOut,
    PeriodOut,
    RankedUnit,
    RankingOut,
    SampleOut,
    SeriesOut,
    SeriesPoint,
    UnitRef,
)
from app.standard_survey import PROFILE_OPTIONS
from app.statements import fetch_all
from app.stored_responses import RESPONSES
from app.vocabulary import CHANNEL_LABELS, BreakdownBy, Granularity, Rule


@dataclass(frozen=True)
class Node:
    """A unit as reports need it."""

    id: int
    code: str
    name: str
    path: str  # "/1/5/17/": the ids from the root
    public: bool = False
    active: bool = True


_UNIT = select(Unit.id, Unit.code, Unit.name, Unit.path, Unit.public, Unit.deactivated_at).where(
    Unit.code == bindparam("code")
)


async def find_unit(conn: AsyncConnection, code: str) -> Node | None:
    """The unit with this code, if there is one."""
    for row in await fetch_all(conn, _UNIT, {"code": code}):
        return Node(row.id, row.code, row.name, row.path, row.public, row.deactivated_at is None)
    return None


async def unit_in_scope(conn: AsyncConnection, caller: Principal, code: str) -> Node:
    """The unit with this code, if it is in the caller's scope (404 otherwise). Read on the
    primary when `conn` is a replica's, like the caller's key: a unit moved out of a scope or
    deactivated leaves it at once, whatever the replica's lag."""
    async with primary_reads(conn) as current:
        unit = await find_unit(current, code)
    if unit is None:
        raise not_found("unit", code)
    return caller.check(unit)


# --- exact values --------------------------------------------------------------------------


@cache
def _grade_out(grade: Grade) -> GradeOut:
    """One shared model per grade (a ranking shows hundreds)."""
    return GradeOut(mutu=grade.mutu, kinerja=grade.kinerja, kinerja_en=grade.kinerja_en)


def _element_out(key: str, count: int, total: int) -> ElementOut:
    """An answered element: its NRR (total ÷ count) and the NRR taken to the 25–100 scale,
    graded like the IKM; whole-number arithmetic on the two counters (a ranking builds
    thousands of these), equal to rounding the exact fractions."""
    ikm = ratio_half_up(IKM_FACTOR * total, count, 2)
    return ElementOut(
        key=key,
        unsur=ELEMENT_NAMES[key],
        answers=count,
        total=total,
        nrr=ratio_half_up(total, count, 3) / 1000,
        nrr_exact=fraction_text(total, count),
        ikm=ikm / 100,
        grade=_grade_out(grade_for_hundredths(ikm)),
    )


def _ikm_float(ikm: Fraction) -> float:
    return presented(ikm, 2)


def index_value(sums: Sums) -> IndexValue:
    """The exact index of the summed counters, as `app.method.compute_index` defines it, in
    whole numbers: each figure is a half-up quotient or a reduced fraction's text of two
    integers (a ranking computes hundreds of these; tests hold them to the Fractions)."""
    counters = sums.counters
    answered = [
        (e, counters[f"{e}_n"], counters[f"{e}_sum"]) for e in ELEMENTS if counters[f"{e}_n"] > 0
    ]
    if not answered:
        return IndexValue(
            responses=sums.responses,
            ikm=None,
            index=None,
            index_exact=None,
            grade=None,
            weight=None,
            elements=[],
            weakest=[],
            confidence_interval=None,
            confidence_interval_reason="no responses",
            small_sample=sums.responses < SMALL_SAMPLE,
        )
    # The index Σ (total/count) / k over the elements' common denominator, unreduced: every
    # figure below is a floor of its value, which reducing does not change.
    common = lcm(*(count for _, count, _ in answered))
    numerator = sum(total * (common // count) for _, count, total in answered)
    denominator = common * len(answered)
    ikm = ratio_half_up(IKM_FACTOR * numerator, denominator, 2)  # hundredths
    # The lowest NRR total/count, compared crosswise (a/b < c/d ⇔ a·d < c·b).
    _, low_count, low_total = answered[0]
    for _, count, total in answered[1:]:
        if total * low_count < low_total * count:
            low_count, low_total = count, total
    weakest = [e for e, count, total in answered if total * low_count == low_total * count]
    interval = interval_hundredths(
        IKM_FACTOR * numerator,
        denominator,
        counters["complete"],
        counters["complete_total"],
        counters["complete_total_sq"],
    )
    return IndexValue(
        responses=sums.responses,
        ikm=ikm / 100,
        index=ratio_half_up(numerator, denominator, 3) / 1000,
        index_exact=fraction_text(numerator, denominator),
        grade=_grade_out(grade_for_hundredths(ikm)),
        weight=fraction_text(1, len(answered)),
        elements=[_element_out(*item) for item in answered],
        weakest=weakest,
        confidence_interval=(
            IntervalOut(
                ikm_low=interval[0] / 100,
                ikm_high=interval[1] / 100,
                respondents=counters["complete"],
            )
            if interval is not None
            else None
        ),
        confidence_interval_reason=(
            None if interval is not None else interval_reason(counters["complete"])
        ),
        small_sample=sums.responses < SMALL_SAMPLE,
    )


def interval_reason(complete: int) -> str:
    """Why an index has no interval: its spread needs two respondents who answered all nine."""
    return (
        f"fewer than {INTERVAL_MINIMUM} responses answered all nine elements ({complete} did): "
        "the spread behind the interval cannot be estimated"
    )


def exact_ikm(sums: Sums) -> Fraction | None:
    result = compute_index(
        {e: sums.counters[f"{e}_sum"] for e in ELEMENTS},
        {e: sums.counters[f"{e}_n"] for e in ELEMENTS},
    )
    return result.ikm if result is not None else None


# --- the hierarchy -------------------------------------------------------------------------


_SUBTREE = select(Unit.id, Unit.code, Unit.name, Unit.path, Unit.parent_id, Unit.time_zone).where(
    Unit.path.like(bindparam("subtree", type_=String))  # paths need no escaping
)


async def subtree_units(conn: AsyncConnection, unit: Node) -> list[Any]:
    """The units of the subtree: rows of id, code, name, path, parent_id, time_zone."""
    return await fetch_all(conn, _SUBTREE, {"subtree": unit.path + "%"})


async def sums_by_child(
    conn: AsyncConnection, scope: Scope, subtree: Sequence[Any]
) -> tuple[list[tuple[Any, Sums]], Sums, Totals]:
    """Each child's subtree pooled, the node's own responses apart, and the totals."""
    totals = await aggregate_totals(conn, scope, ("unit_id",))
    children = sorted((u for u in subtree if u.parent_id == scope.unit.id), key=lambda u: u.code)
    paths = {u.id: u.path for u in subtree}
    pooled = {child.id: Sums() for child in children}
    own = Sums()
    depth = len(scope.unit.path)
    for (unit_id,), sums in totals.groups.items():
        # A path is the ids from the root, "/1/5/17/": the child is the id after the node's.
        below = paths[unit_id][depth:]
        owner = int(below.split("/", 1)[0]) if below else None
        (pooled[owner] if owner is not None else own).add(sums)
    return [(child, pooled[child.id]) for child in children], own, totals


def children_mean(per_child: list[tuple[Any, Sums]], own: Sums) -> ChildrenMean:
    values = [exact_ikm(sums) for _, sums in per_child]
    own_ikm = exact_ikm(own)
    ikms = [v for v in values if v is not None] + ([own_ikm] if own_ikm is not None else [])
    mean = sum(ikms, Fraction(0)) / len(ikms) if ikms else None
    return ChildrenMean(
        ikm=_ikm_float(mean) if mean is not None else None,
        ikm_exact=str(mean) if mean is not None else None,
        grade=_grade_out(grade_for_ikm(mean)) if mean is not None else None,
        children=sum(1 for v in values if v is not None),
        children_without_responses=sum(1 for v in values if v is None),
        own_responses_counted_as_child=own_ikm is not None,
    )


# --- method metadata -------------------------------------------------------------------------


RULE_TEXT = {
    "pooled": "pooled: every response in the unit's subtree counts once (respondent-weighted)",
    "mean_of_children": "mean_of_children: the plain mean of the IKMs of the unit's children "
    "(each child's subtree pooled); responses on the unit itself count as one more child",
}


def method_out(scope: Scope, rule: str, totals: Totals, subtree: Sequence[Any]) -> MethodOut:
    if scope.include_flagged:
        excluded = f"none: {totals.flagged} flagged response(s) are counted as asked"
    else:
        excluded = (
            f"{totals.flagged} flagged response(s) (suspected or confirmed bursts) are not counted"
        )
    return MethodOut(
        id=METHOD_ID,
        regulation="Peraturan Menteri PANRB Nomor 14 Tahun 2017",
        elements=list(ELEMENTS),
        nrr="per element: sum of its scores ÷ number of responses that answered it",
        weighting="each of the k elements answered at least once weighs exactly 1/k "
        "(k = 9 normally); index = Σ NRR × 1/k",
        ikm="IKM = index × 25 (25–100)",
        rounding="exact fractions throughout; half-up only when presented: IKM 2 decimals, "
        "index and NRR 3 decimals; the grade is read from the IKM rounded to 2 decimals",
        grades=[
            GradeBand(mutu=g.mutu, ikm_from=float(lower), kinerja=g.kinerja) for lower, g in GRADES
        ],
        rule=RULE_TEXT[rule],
        period_cut="each response counts in the local calendar day of its collected_at, in "
        "its unit's own time zone; periods pool all their responses (never an average of "
        "monthly indices)",
        time_zones=sorted({u.time_zone for u in subtree}),
        survey_versions=totals.versions,
        excluded=excluded,
        flagged_responses=totals.flagged,
        flagged_counted=scope.include_flagged,
        confidence_interval=CI_METHOD,
        sample_size="Krejcie & Morgan: s = X²·N·P(1−P) / (d²·(N−1) + X²·P(1−P)), X² = 3.841, "
        "P = 0.5, d = 0.05, rounded to the nearest integer; N = people served in the period",
        source="sums and counts from per-day and per-month aggregates kept with every insert",
    )


# --- reports ---------------------------------------------------------------------------------


def period_out(window: Span) -> PeriodOut:
    return PeriodOut(label=window.label, start=window.start, end=window.end)


_POPULATIONS = select(Population.period, Population.served).where(
    Population.unit_id == bindparam("unit_id"),
    Population.service_code == bindparam("service_code"),
    Population.period.in_(bindparam("periods", expanding=True)),
)
_SERVICES = (
    select(Service.id, Service.code, Service.unit_id, Unit.code.label("unit_code"))
    .join(Unit, Unit.id == Service.unit_id)
    .where(
        Unit.code == bindparam("unit_code"),
        Service.code == bindparam("code"),
        Unit.path.like(bindparam("subtree", type_=String)),
    )
)


@dataclass(frozen=True)
class ServiceRef:
    """A service of a unit of the subtree, named `unit/service` in every answer (the keys
    of a breakdown by service are the same names)."""

    id: int
    unit_id: int
    unit_code: str
    code: str

    @property
    def key(self) -> str:
        return f"{self.unit_code}/{self.code}"


async def find_service(conn: AsyncConnection, unit: Node, service: str) -> ServiceRef:
    """`unit/service` (a service of any unit of the subtree, as breakdown keys name it), or
    a bare code for a service of the unit itself; 404 otherwise."""
    unit_code, _, code = service.rpartition("/")
    params = {"unit_code": unit_code or unit.code, "code": code, "subtree": unit.path + "%"}
    for row in await fetch_all(conn, _SERVICES, params):
        return ServiceRef(row.id, row.unit_id, row.unit_code, row.code)
    raise not_found("service", service if unit_code else f"{unit.code}/{service}")


def _population_candidates(window: Span) -> list[tuple[str, ...]]:
    """The recorded periods that may give the window's population, in order of preference:
    the period itself, then its months, its quarters, its semesters (each set whole). A
    range of days is the period whose days it covers exactly, if any."""
    label = window.label or period_label(window.start, window.end)
    if label is None:
        return []
    candidates: list[tuple[str, ...]] = [(label,)]
    for granularity in ("month", "quarter", "semester"):
        parts = buckets(window.start, window.end, granularity)
        if len(parts) > 1:
            candidates.append(tuple(str(part.label) for part in parts))
    return candidates


@dataclass(frozen=True)
class PopulationFound:
    served: int | None
    periods: list[str]  # the recorded periods it was read from


async def population(
    conn: AsyncConnection, unit_id: int, service_code: str | None, window: Span
) -> PopulationFound:
    """People served in the window: recorded for the period itself, else the sum of its
    months (or quarters, or semesters) when every one of them is recorded."""
    candidates = _population_candidates(window)
    if not candidates:
        return PopulationFound(None, [])
    params = {
        "unit_id": unit_id,
        "service_code": service_code or "",
        "periods": sorted({p for periods in candidates for p in periods}),
    }
    rows = await conn.execute(_POPULATIONS, params)  # an expanding IN: not a prepared one
    recorded = {row.period: int(row.served) for row in rows}
    for periods in candidates:
        if all(p in recorded for p in periods):
            return PopulationFound(sum(recorded[p] for p in periods), list(periods))
    return PopulationFound(None, [])


async def _scope(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    service: str | None,
    include_flagged: bool = False,
) -> tuple[Scope, ServiceRef | None]:
    found = await find_service(conn, unit, service) if service is not None else None
    scope = Scope(unit, window.start, window.end, found.id if found else None, include_flagged)
    return scope, found


async def index_report(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    service: str | None,
    rule: Rule,
    include_children_mean: bool,
    include_flagged: bool = False,
) -> IndexReport:
    scope, found = await _scope(conn, unit, window, service, include_flagged)
    subtree = await subtree_units(conn, unit)
    totals = await aggregate_totals(conn, scope)
    pooled = totals.pooled()
    value = index_value(pooled)
    mean = None
    if rule == "mean_of_children" or include_children_mean:
        per_child, own, _ = await sums_by_child(conn, scope, subtree)
        mean = children_mean(per_child, own)
    headline_ikm, headline_grade = (
        (mean.ikm, mean.grade) if rule == "mean_of_children" and mean else (value.ikm, value.grade)
    )
    served = await population(
        conn, found.unit_id if found else unit.id, found.code if found else None, window
    )
    minimum = minimum_sample(served.served) if served.served is not None else None
    return IndexReport(
        unit=UnitRef(code=unit.code, name=unit.name),
        service=found.key if found else None,
        period=period_out(window),
        rule=rule,
        ikm=headline_ikm,
        grade=headline_grade,
        pooled=value,
        children_mean=mean,
        sample=SampleOut(
            population=served.served,
            population_periods=served.periods,
            minimum=minimum,
            adequate=pooled.responses >= minimum if minimum is not None else None,
        ),
        data_updated_at=totals.updated_at,
        method=method_out(scope, rule, totals, subtree),
    )


def _label(by: BreakdownBy, key: Any, names: dict[Any, str]) -> str | None:
    if key is None:
        return None
    if by in ("service", "child"):
        return names.get(key)
    if by == "channel":
        return CHANNEL_LABELS.get(key)
    return PROFILE_OPTIONS[by].get(key, (None,))[0]


async def breakdown(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    by: BreakdownBy,
    service: str | None = None,
    include_flagged: bool = False,
) -> BreakdownOut:
    scope, found = await _scope(conn, unit, window, service, include_flagged)
    subtree = await subtree_units(conn, unit)
    names: dict[Any, str] = {}
    groups: dict[Any, Sums]
    archived = 0
    if by == "child":
        per_child, own, totals = await sums_by_child(conn, scope, subtree)
        groups = {child.code: sums for child, sums in per_child if sums.responses}
        names = {child.code: child.name for child, _ in per_child}
        if own.responses:
            groups[unit.code] = own
            names[unit.code] = f"{unit.name} (own services)"
    elif by == "service":
        totals = await aggregate_totals(conn, scope, ("service_id",))
        rows = await conn.execute(
            select(Service.id, Service.code, Service.name, Unit.code.label("unit_code"))
            .join(Unit, Unit.id == Service.unit_id)
            .where(Service.id.in_([k[0] for k in totals.groups]))
        )
        codes = {}
        for row in rows:
            codes[row.id] = f"{row.unit_code}/{row.code}"
            names[codes[row.id]] = row.name
        groups = {codes[k[0]]: sums for k, sums in totals.groups.items()}
    else:
        totals = await aggregate_totals(conn, scope)
        groups = await raw_sums(conn, scope, RESPONSES.c[by])
        # The aggregates count every response, the rows only those not archived.
        archived = totals.pooled().responses - sum(g.responses for g in groups.values())
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, str(item[0])))
    return BreakdownOut(
        unit=UnitRef(code=unit.code, name=unit.name),
        service=found.key if found else None,
        period=period_out(window),
        by=by,
        groups=[
            BreakdownGroup(key=key, label=_label(by, key, names), value=index_value(sums))
            for key, sums in ordered
        ],
        archived_responses=archived,
        data_updated_at=totals.updated_at,
        method=method_out(scope, "pooled", totals, subtree),
    )


async def series(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    service: str | None,
    granularity: Granularity,
    include_flagged: bool = False,
) -> SeriesOut:
    scope, found = await _scope(conn, unit, window, service, include_flagged)
    subtree = await subtree_units(conn, unit)
    totals = await aggregate_totals(conn, scope, ("bucket",))
    points = []
    for bucket in buckets(scope.start, scope.end, granularity):
        pooled = Sums()
        for (day,), sums in totals.groups.items():
            if bucket.start <= day <= bucket.end:
                pooled.add(sums)
        points.append(SeriesPoint(period=period_out(bucket), value=index_value(pooled)))
    return SeriesOut(
        unit=UnitRef(code=unit.code, name=unit.name),
        service=found.key if found else None,
        granularity=granularity,
        points=points,
        data_updated_at=totals.updated_at,
        method=method_out(scope, "pooled", totals, subtree),
    )


async def ranking(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    service: str | None = None,
    include_flagged: bool = False,
) -> RankingOut:
    scope, found = await _scope(conn, unit, window, service, include_flagged)
    subtree = await subtree_units(conn, unit)
    per_child, _own, totals = await sums_by_child(conn, scope, subtree)
    # Ranked by the IKM as published (2 decimals): units showing the same IKM share a rank.
    scored = [(child, sums, index_value(sums)) for child, sums in per_child]
    scored.sort(key=lambda item: (item[2].ikm is None, -(item[2].ikm or 0), item[0].code))
    items = []
    previous: float | None = None
    rank = 0
    for position, (child, _sums, value) in enumerate(scored, start=1):
        if value.ikm is not None and value.ikm != previous:
            rank, previous = position, value.ikm
        items.append(
            RankedUnit(
                rank=rank if value.ikm is not None else None,
                unit=UnitRef(code=child.code, name=child.name),
                value=value,
            )
        )
    return RankingOut(
        unit=UnitRef(code=unit.code, name=unit.name),
        service=found.key if found else None,
        period=period_out(window),
        items=items,
        data_updated_at=totals.updated_at,
        method=method_out(scope, "pooled", totals, subtree),
    )
