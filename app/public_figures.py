"""Public figures, frozen by a publication for the keyless endpoints (see `app.disclosure`
and the README's "Public figures"): a public unit's own responses only (never its
children's), over one whole period, never counting a response flagged at arrival (a later
review would otherwise revise a figure). The values and the method block are the keyed
ones (`app.indices`), rounded figures only."""

from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import Date, Integer, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app import disclosure, indices
from app.aggregates import AGGREGATE_COUNTERS, Scope, Sums, Totals, raw_counter_columns
from app.models import Service, Unit
from app.periods import Span
from app.schemas import (
    MethodOut,
    PublicBreakdown,
    PublicElement,
    PublicGroup,
    PublicIndex,
    PublicValue,
    UnitRef,
)
from app.statements import fetch_all
from app.stored_responses import RESPONSES


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
        select(*keys, *raw_counter_columns())
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
    value = indices.index_value(sums)
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
    scope = Scope(indices.Node(unit.id, unit.code, unit.name, ""), date.min, date.max)
    keyed = indices.method_out(
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


def public_index(
    unit: PublicUnit, window: Span, totals: PublicTotals, min_group: int
) -> PublicIndex:
    """The index of the unit's own responses over the period, if at least `min_group`
    respondents back it (and as many answers to each element answered at all)."""
    shown = disclosure.publishable(totals.total, min_group)
    return PublicIndex(
        unit=UnitRef(code=unit.code, name=unit.name),
        period=indices.period_out(window),
        suppressed=not shown,
        min_group=min_group,
        value=public_value(totals.total) if shown else None,
        method=public_method(unit, totals),
    )


def public_breakdown(
    unit: PublicUnit, window: Span, totals: PublicTotals, min_group: int
) -> PublicBreakdown:
    """Per service of the unit, with complementary suppression: shown groups and the rest of
    the total each count `min_group` respondents or none."""
    shown = disclosure.published_groups(totals.total, totals.services, min_group)
    return PublicBreakdown(
        unit=UnitRef(code=unit.code, name=unit.name),
        period=indices.period_out(window),
        by="service",
        min_group=min_group,
        suppressed=not disclosure.publishable(totals.total, min_group),
        groups=[
            PublicGroup(key=key, label=totals.names[key], value=public_value(totals.services[key]))
            for key in sorted(shown)
        ],
        suppressed_groups=len(totals.services) - len(shown),
        method=public_method(unit, totals),
    )
