"""Satisfaction indices (IKM) exactly as PermenPAN-RB 14/2017 defines them.

Sums and counts come from SQL (GROUP BY over integer columns of the pre-aggregated tables:
whole months from the monthly table, leftover days from the daily one); Python only does
exact arithmetic on the few numbers that come back. Profile and channel breakdowns, which the
aggregates do not carry, are the same sums over the response rows of the period.

Reports read on one Core connection in one snapshot (`app.db.ReadConnection`); the
statements every report runs are built once and go through `app.statements.fetch_all`.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth import Principal
from app.errors import not_found
from app.ingest import AGGREGATE_COUNTERS, DAILY, MONTHLY, RESPONSES
from app.method import (
    CI_METHOD,
    ELEMENT_NAMES,
    ELEMENTS,
    GRADES,
    IKM_FACTOR,
    METHOD_ID,
    SMALL_SAMPLE,
    ElementResult,
    Grade,
    compute_index,
    grade_for_ikm,
    ikm_interval,
    minimum_sample,
    presented,
)
from app.models import Population, Service, Unit
from app.periods import Span, buckets, split_months
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
    PublicElement,
    PublicValue,
    RankedUnit,
    RankingOut,
    SampleOut,
    SeriesOut,
    SeriesPoint,
    UnitRef,
)
from app.standard_survey import PROFILE_OPTIONS
from app.statements import fetch_all
from app.units import subtree_ids
from app.vocabulary import CHANNEL_LABELS, BreakdownBy, Granularity, Rule


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
    """The unit with this code, if it is in the caller's scope (404 otherwise)."""
    unit = await find_unit(conn, code)
    if unit is None:
        raise not_found("unit", code)
    return caller.check(unit)


@dataclass(frozen=True)
class Scope:
    """Whose responses, over which local days."""

    unit: Node
    start: date
    end: date
    service_id: int | None = None
    include_flagged: bool = False


# --- SQL ---------------------------------------------------------------------------------


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
    group_by: tuple[str, ...], day_ranges: int, months: bool, service: bool
) -> Select[Any]:
    """Built once per shape (building costs more than running): whole months from the
    monthly table, the days left over from the daily one, summed per group, survey version
    and flag."""
    parts = [
        _bucket_rows(DAILY, "local_date", f"day_low_{i}", f"day_high_{i}", service)
        for i in range(day_ranges)
    ]
    if months:
        parts.append(_bucket_rows(MONTHLY, "month", "month_low", "month_high", service))
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
    month's first day, or a day outside whole months)."""
    split = split_months(scope.start, scope.end)
    params: dict[str, Any] = {"subtree": scope.unit.path + "%", "service_id": scope.service_id}
    for i, (low, high) in enumerate(split.days):
        params[f"day_low_{i}"], params[f"day_high_{i}"] = low, high
    if split.months is not None:
        params["month_low"], params["month_high"] = split.months
    statement = _aggregate_statement(
        tuple(group_by), len(split.days), split.months is not None, scope.service_id is not None
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


def _raw_counter_columns() -> list[ColumnElement[Any]]:
    """The aggregate counters, summed directly over response rows."""
    scores = [RESPONSES.c[e] for e in ELEMENTS]
    total: ColumnElement[Any] = scores[0]
    for score in scores[1:]:
        total = total + score  # NULL unless all nine were answered
    columns: list[ColumnElement[Any]] = [
        func.count().label("responses"),
        func.count(total).label("complete"),
        func.sum(total).label("complete_total"),
        func.sum(total * total).label("complete_total_sq"),
    ]
    for element, score in zip(ELEMENTS, scores, strict=True):
        columns += [
            func.count(score).label(f"{element}_n"),
            func.sum(score).label(f"{element}_sum"),
            func.sum(score * score).label(f"{element}_sq"),
        ]
    return columns


async def raw_sums(
    conn: AsyncConnection, scope: Scope, group_by: ColumnElement[Any] | None = None
) -> dict[Any, Sums]:
    """Counter sums straight from the response rows (optionally grouped by a column)."""
    key = group_by if group_by is not None else literal(None)
    query = (
        select(
            key.label("key"),
            *_raw_counter_columns(),
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


# --- exact values --------------------------------------------------------------------------


@cache
def _grade_out(grade: Grade) -> GradeOut:
    """One shared model per grade (a ranking shows hundreds)."""
    return GradeOut(mutu=grade.mutu, kinerja=grade.kinerja, kinerja_en=grade.kinerja_en)


def _element_out(element: ElementResult) -> ElementOut:
    # An element's grade: its NRR taken to the 25–100 scale, graded like the IKM.
    ikm = element.nrr * IKM_FACTOR
    return ElementOut(
        key=element.key,
        unsur=ELEMENT_NAMES[element.key],
        answers=element.count,
        total=element.total,
        nrr=presented(element.nrr, 3),
        nrr_exact=str(element.nrr),
        ikm=_ikm_float(ikm),
        grade=_grade_out(grade_for_ikm(ikm)),
    )


def _ikm_float(ikm: Fraction) -> float:
    return presented(ikm, 2)


def index_value(sums: Sums) -> IndexValue:
    totals = {e: sums.counters[f"{e}_sum"] for e in ELEMENTS}
    counts = {e: sums.counters[f"{e}_n"] for e in ELEMENTS}
    result = compute_index(totals, counts)
    if result is None:
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
            small_sample=sums.responses < SMALL_SAMPLE,
        )
    interval = ikm_interval(
        result.ikm,
        sums.counters["complete"],
        sums.counters["complete_total"],
        sums.counters["complete_total_sq"],
    )
    return IndexValue(
        responses=sums.responses,
        ikm=_ikm_float(result.ikm),
        index=presented(result.index, 3),
        index_exact=str(result.index),
        grade=_grade_out(result.grade),
        weight=str(result.weight),
        elements=[_element_out(e) for e in result.elements],
        weakest=list(result.weakest),
        confidence_interval=(
            IntervalOut(
                ikm_low=_ikm_float(interval.low),
                ikm_high=_ikm_float(interval.high),
                respondents=interval.respondents,
            )
            if interval is not None
            else None
        ),
        small_sample=sums.responses < SMALL_SAMPLE,
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


_POPULATION = select(Population.served).where(
    Population.unit_id == bindparam("unit_id"),
    Population.service_code == bindparam("service_code"),
    Population.period == bindparam("period"),
)
_SERVICE = select(Service.id).where(
    Service.unit_id == bindparam("unit_id"), Service.code == bindparam("code")
)


async def _population(
    conn: AsyncConnection, unit: Node, service_code: str | None, window: Span
) -> int | None:
    if window.label is None:
        return None
    params = {"unit_id": unit.id, "service_code": service_code or "", "period": window.label}
    for row in await fetch_all(conn, _POPULATION, params):
        served: int = row.served
        return served
    return None


async def _scope(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    service: str | None,
    include_flagged: bool = False,
) -> Scope:
    service_id = None
    if service is not None:
        found = await fetch_all(conn, _SERVICE, {"unit_id": unit.id, "code": service})
        if not found:
            raise not_found("service", f"{unit.code}/{service}")
        service_id = found[0].id
    return Scope(unit, window.start, window.end, service_id, include_flagged)


async def index_report(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    service: str | None,
    rule: Rule,
    include_children_mean: bool,
    include_flagged: bool = False,
) -> IndexReport:
    scope = await _scope(conn, unit, window, service, include_flagged)
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
    population = await _population(conn, unit, service, window)
    minimum = minimum_sample(population) if population is not None else None
    return IndexReport(
        unit=UnitRef(code=unit.code, name=unit.name),
        service=service,
        period=period_out(window),
        rule=rule,
        ikm=headline_ikm,
        grade=headline_grade,
        pooled=value,
        children_mean=mean,
        sample=SampleOut(
            population=population,
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
    conn: AsyncConnection, unit: Node, window: Span, by: BreakdownBy
) -> BreakdownOut:
    scope = await _scope(conn, unit, window, None)
    subtree = await subtree_units(conn, unit)
    names: dict[Any, str] = {}
    groups: dict[Any, Sums]
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
    ordered = sorted(groups.items(), key=lambda item: (item[0] is None, str(item[0])))
    return BreakdownOut(
        unit=UnitRef(code=unit.code, name=unit.name),
        period=period_out(window),
        by=by,
        groups=[
            BreakdownGroup(key=key, label=_label(by, key, names), value=index_value(sums))
            for key, sums in ordered
        ],
        data_updated_at=totals.updated_at,
        method=method_out(scope, "pooled", totals, subtree),
    )


async def series(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    service: str | None,
    granularity: Granularity,
) -> SeriesOut:
    scope = await _scope(conn, unit, window, service)
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
        service=service,
        granularity=granularity,
        points=points,
        data_updated_at=totals.updated_at,
        method=method_out(scope, "pooled", totals, subtree),
    )


async def ranking(conn: AsyncConnection, unit: Node, window: Span) -> RankingOut:
    scope = await _scope(conn, unit, window, None)
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
        period=period_out(window),
        items=items,
        data_updated_at=totals.updated_at,
        method=method_out(scope, "pooled", totals, subtree),
    )


# --- public figures ----------------------------------------------------------------------
# What the keyless endpoints read (see app.disclosure and the README's "Public figures"):
# a public unit's own responses only (never its children's), over one whole period, never
# counting a response flagged at arrival (a later review would otherwise revise a figure).


@dataclass(frozen=True)
class PublicUnit:
    id: int
    code: str
    name: str
    time_zone: str


_PUBLIC_UNIT = select(Unit.id, Unit.code, Unit.name, Unit.time_zone).where(
    Unit.code == bindparam("code"), Unit.public.is_(True), Unit.deactivated_at.is_(None)
)


async def public_unit(conn: AsyncConnection, code: str) -> PublicUnit | None:
    """The unit with this code if it publishes: opted in and not deactivated."""
    for row in await fetch_all(conn, _PUBLIC_UNIT, {"code": code}):
        return PublicUnit(row.id, row.code, row.name, row.time_zone)
    return None


@dataclass
class PublicTotals:
    """A public unit's own responses over a period: the total, per service, and what the
    method block must say."""

    total: Sums
    services: dict[str, Sums]  # by service code
    names: dict[str, str]  # service code → name
    flagged: int  # left out: flagged at arrival, whatever their review
    versions: list[int]


@cache
def _public_statement() -> Select[Any]:
    keys = [
        Service.code.label("service_code"),
        Service.name.label("service_name"),
        RESPONSES.c.survey_version_id,
        RESPONSES.c.flag,
    ]
    return (
        select(*keys, *_raw_counter_columns())
        .select_from(RESPONSES.join(Service, Service.id == RESPONSES.c.service_id))
        .where(
            RESPONSES.c.unit_id == bindparam("unit_id", type_=Integer),
            RESPONSES.c.local_date.between(
                bindparam("start", type_=Date), bindparam("end", type_=Date)
            ),
        )
        .group_by(*keys)
    )


async def public_totals(conn: AsyncConnection, unit: PublicUnit, window: Span) -> PublicTotals:
    """Sums straight from the unit's own response rows of the period (public traffic is
    light; the aggregates cannot tell a never-flagged response from a cleared one)."""
    params = {"unit_id": unit.id, "start": window.start, "end": window.end}
    totals = PublicTotals(Sums(), {}, {}, 0, [])
    versions: set[int] = set()
    for row in await fetch_all(conn, _public_statement(), params):
        sums = Sums({c: int(getattr(row, c) or 0) for c in AGGREGATE_COUNTERS})
        if row.flag is not None:
            totals.flagged += sums.responses
            continue
        versions.add(row.survey_version_id)
        totals.total.add(sums)
        totals.services.setdefault(row.service_code, Sums()).add(sums)
        totals.names[row.service_code] = row.service_name
    totals.versions = sorted(versions)
    return totals


def public_value(sums: Sums) -> PublicValue:
    """The keyed value, rounded figures only: no sums, no per-element counts, no exact
    fractions, no interval (a sum of squares), which would let published figures be
    subtracted exactly."""
    value = index_value(sums)
    return PublicValue(
        responses=value.responses,
        ikm=value.ikm,
        index=value.index,
        grade=value.grade,
        elements=[
            PublicElement(key=e.key, unsur=e.unsur, nrr=e.nrr, ikm=e.ikm, grade=e.grade)
            for e in value.elements
        ],
        weakest=value.weakest,
        small_sample=value.small_sample,
    )


def public_method(unit: PublicUnit, totals: PublicTotals) -> MethodOut:
    """The method block of a public answer: the keyed one, with the public rules."""
    scope = Scope(Node(unit.id, unit.code, unit.name, ""), date.min, date.max)
    keyed = method_out(
        scope,
        "pooled",
        Totals({}, totals.flagged, totals.versions, None),
        [_Zone(unit.time_zone)],
    )
    return keyed.model_copy(
        update={
            "rule": "public: the unit's own responses only (never its child units'), over "
            "one whole period",
            "excluded": f"{totals.flagged} response(s) flagged at arrival as a suspected "
            "burst are not counted, whatever their review",
            "confidence_interval": "not published",
            "source": "sums and counts over the unit's own response rows of the period",
        }
    )


@dataclass(frozen=True)
class _Zone:
    time_zone: str
