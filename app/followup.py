"""Follow-up plans (*rencana tindak lanjut*): a unit's items for one period's result, each
tied to one element or one service, proposed from that result and edited by its managers.

A plan starts with items proposed for the weakest element(s) and every element graded C or
D in the period's result (`period_result`: the published record where there is one, the
live index otherwise). Closing a plan freezes everything but its items' statuses and
evidence. Every change is audit-logged by the router, in the same transaction.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from babel.numbers import format_decimal
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.aggregates import Scope, aggregate_totals
from app.db import utcnow
from app.errors import FieldProblem, ProblemError, conflict, invalid, not_found
from app.followup_schemas import (
    ItemIn,
    ItemOut,
    ItemPatch,
    PlanList,
    PlanOut,
    PlanSummary,
)
from app.method import (
    ELEMENT_NAMES,
    ELEMENTS,
    IKM_FACTOR,
    compute_index,
    grade_for_ikm,
    round_half_up,
)
from app.models import FollowupItem, FollowupPlan, Service, Unit
from app.periods import Span, parse_period
from app.publications import current_publication
from app.schemas import PeriodOut, UnitRef
from app.vocabulary import ItemStatus

OPEN: ItemStatus = "planned"
FINISHED = ("done", "dropped")  # an item in either is never due nor overdue
# What may still change once a plan is closed.
AFTER_CLOSING = frozenset({"status", "status_reason", "evidence_note", "evidence_links"})


LAST_PLAN_YEAR = 2998  # the period after a plan's must still be a period (years ≤ 2999)


def plan_period(text: str, where: FieldProblem) -> Span:
    try:
        span = parse_period(text)
    except ValueError as error:
        where.detail = str(error)
        raise invalid([where]) from None
    if span.end.year > LAST_PLAN_YEAR:
        where.detail = f"a plan's period ends in {LAST_PLAN_YEAR} at the latest"
        raise invalid([where])
    return span


# --- the period's result ---------------------------------------------------------------------


@dataclass(frozen=True)
class ElementGrade:
    key: str
    nrr: Fraction
    mutu: str


@dataclass(frozen=True)
class PeriodResult:
    """What a plan is proposed from: each answered element's NRR and grade, the weakest."""

    elements: tuple[ElementGrade, ...]
    weakest: tuple[str, ...]
    publication_id: int | None  # None: the live index


async def period_result(conn: AsyncConnection, unit: Unit, span: Span) -> PeriodResult:
    """The unit's result for the period (its subtree pooled, flagged responses left out):
    from its published record where there is one, else the live aggregates."""
    published = await published_result(conn, unit, span)
    if published is not None:
        return published
    totals = await aggregate_totals(conn, Scope(unit, span.start, span.end))
    sums = totals.pooled().counters
    result = compute_index(
        {e: sums[f"{e}_sum"] for e in ELEMENTS}, {e: sums[f"{e}_n"] for e in ELEMENTS}
    )
    if result is None:
        return PeriodResult((), (), None)
    return PeriodResult(
        tuple(
            ElementGrade(e.key, e.nrr, grade_for_ikm(e.nrr * IKM_FACTOR).mutu)
            for e in result.elements
        ),
        result.weakest,
        None,
    )


async def published_result(conn: AsyncConnection, unit: Unit, span: Span) -> PeriodResult | None:
    """The period's current published record (its newest revision), read as a result; None
    when the unit has published none for exactly these days."""
    record = await current_publication(conn, unit.id, span.start, span.end + timedelta(days=1))
    if record is None:
        return None
    return frozen_result(record.id, record.report)


def frozen_result(publication_id: int, report: dict[str, Any]) -> PeriodResult:
    """A frozen report (`FrozenReport` of app.publications: its `index` is an `IndexReport`)
    as a result: each element's exact NRR and grade as published, and the weakest as
    published."""
    pooled = (report.get("index") or {}).get("pooled") or {}
    elements = tuple(
        ElementGrade(e["key"], Fraction(e["nrr_exact"]), e["grade"]["mutu"])
        for e in pooled.get("elements") or []
    )
    return PeriodResult(elements, tuple(pooled.get("weakest") or ()), publication_id)


def proposals(result: PeriodResult) -> list[tuple[str, list[str]]]:
    """(element, reasons) for the weakest element(s) and every element graded C or D, in
    questionnaire order."""
    chosen = []
    for element in result.elements:
        reasons = []
        if element.key in result.weakest:
            reasons.append("weakest")
        if element.mutu in ("C", "D"):
            reasons.append(f"grade_{element.mutu}")
        if reasons:
            chosen.append((element.key, reasons))
    return chosen


def proposed_action(key: str, reasons: Sequence[str], nrr: Fraction) -> str:
    """The text a proposed item starts with, for the officer to rewrite."""
    why = ", ".join(
        {"weakest": "unsur terendah", "grade_C": "mutu C", "grade_D": "mutu D"}[r] for r in reasons
    )
    # Half-up to 3 decimals as the method presents an NRR (a float's format rounds
    # differently: 3.2125 would read 3,212), written the Indonesian way by Babel.
    shown = format_decimal(round_half_up(nrr, 3), format="0.000", locale="id_ID")
    return f"Tindak lanjut {ELEMENT_NAMES[key]} (NRR {shown}; {why})"


# The figures `proposed_action` writes into a proposed item's text: the period's pooled
# result, which the public must not see where the public figures are suppressed or differ
# (a parent unit's subtree).
_PROPOSED_FIGURES = re.compile(r"\s*\(NRR [0-9.,]+;[^()]*\)")


def without_figures(action: str) -> str:
    """An item's action as the public sees it: without the figures a proposal wrote in."""
    return _PROPOSED_FIGURES.sub("", action).strip()


# --- reading -------------------------------------------------------------------------------


def _overdue(item: FollowupItem, today: date) -> bool:
    return item.status not in FINISHED and item.target_date is not None and item.target_date < today


def _because(item: FollowupItem, plan_reasons: dict[str, list[str]]) -> list[str]:
    if not item.proposed or item.element is None:
        return []
    return plan_reasons.get(item.element, [])


def item_out(
    item: FollowupItem, services: dict[int, str], reasons: dict[str, list[str]], today: date
) -> ItemOut:
    return ItemOut(
        id=item.id,
        element=item.element,
        unsur=ELEMENT_NAMES.get(item.element) if item.element else None,
        service=services.get(item.service_id) if item.service_id is not None else None,
        action=item.action,
        responsible=item.responsible,
        target_date=item.target_date,
        status=item.status,
        status_reason=item.status_reason,
        evidence_note=item.evidence_note,
        evidence_links=list(item.evidence_links),
        proposed=item.proposed,
        proposed_because=_because(item, reasons),
        overdue=_overdue(item, today),
        updated_at=item.updated_at,
    )


def _period_out(plan: FollowupPlan) -> PeriodOut:
    return PeriodOut(label=plan.period, start=plan.period_start, end=plan.period_end)


async def _services(session: AsyncSession, unit: Unit) -> dict[int, str]:
    rows = await session.execute(select(Service.id, Service.code).where(Service.unit_id == unit.id))
    return {row.id: row.code for row in rows}


async def _reasons(session: AsyncSession, unit: Unit, plan: FollowupPlan) -> dict[str, list[str]]:
    """Why each element would be proposed from the plan's result as it stands."""
    span = Span(plan.period, plan.period_start, plan.period_end)
    result = await period_result(await session.connection(), unit, span)
    return dict(proposals(result))


async def plan_out(session: AsyncSession, unit: Unit, plan: FollowupPlan, today: date) -> PlanOut:
    items = await session.scalars(
        select(FollowupItem).where(FollowupItem.plan_id == plan.id).order_by(FollowupItem.id)
    )
    services = await _services(session, unit)
    reasons = await _reasons(session, unit, plan)
    return PlanOut(
        unit=UnitRef(code=unit.code, name=unit.name),
        period=_period_out(plan),
        state=plan.state,
        source="publication" if plan.source_publication_id is not None else "live",
        source_publication_id=plan.source_publication_id,
        items=[item_out(i, services, reasons, today) for i in items],
        created_at=plan.created_at,
        updated_at=plan.updated_at,
        closed_at=plan.closed_at,
    )


async def find_plan(session: AsyncSession, unit: Unit, period: str) -> FollowupPlan:
    plan = await session.scalar(
        select(FollowupPlan).where(FollowupPlan.unit_id == unit.id, FollowupPlan.period == period)
    )
    if plan is None:
        raise not_found("plan", f"{unit.code}/{period}")
    return plan


async def list_plans(session: AsyncSession, unit: Unit, today: date) -> PlanList:
    counted = (
        select(
            FollowupPlan,
            func.count(FollowupItem.id).label("items"),
            func.count(FollowupItem.id).filter(FollowupItem.status == "done").label("done"),
            func.count(FollowupItem.id)
            .filter(FollowupItem.status.not_in(FINISHED), FollowupItem.target_date < today)
            .label("overdue"),
        )
        .outerjoin(FollowupItem, FollowupItem.plan_id == FollowupPlan.id)
        .where(FollowupPlan.unit_id == unit.id)
        .group_by(FollowupPlan.id)
        .order_by(FollowupPlan.period_start, FollowupPlan.period_end)
    )
    rows = await session.execute(counted)
    return PlanList(
        unit=UnitRef(code=unit.code, name=unit.name),
        plans=[
            PlanSummary(
                period=_period_out(plan),
                state=plan.state,
                items=items,
                done=done,
                overdue=overdue,
                updated_at=plan.updated_at,
            )
            for plan, items, done, overdue in rows
        ],
    )


# --- writing -------------------------------------------------------------------------------


async def create_plan(
    session: AsyncSession, unit: Unit, period: str, propose: bool
) -> FollowupPlan:
    span = plan_period(period, FieldProblem(pointer="/period", detail="", code="bad_period"))
    taken = await session.scalar(
        select(FollowupPlan.id).where(
            FollowupPlan.unit_id == unit.id, FollowupPlan.period == period
        )
    )
    if taken is not None:
        raise conflict("plan-exists", f"Unit '{unit.code}' already has a plan for {period}.")
    now = utcnow()
    result = await period_result(await session.connection(), unit, span)
    plan = FollowupPlan(
        unit_id=unit.id,
        period=period,
        period_start=span.start,
        period_end=span.end,
        state="open",
        source_publication_id=result.publication_id,
        created_at=now,
        updated_at=now,
    )
    session.add(plan)
    await session.flush()
    if propose:
        nrrs = {e.key: e.nrr for e in result.elements}
        for key, reasons in proposals(result):
            session.add(
                FollowupItem(
                    plan_id=plan.id,
                    element=key,
                    action=proposed_action(key, reasons, nrrs[key]),
                    status=OPEN,
                    evidence_links=[],
                    proposed=True,
                    created_at=now,
                    updated_at=now,
                )
            )
        await session.flush()
    return plan


def _open(plan: FollowupPlan) -> None:
    if plan.state != "open":
        raise conflict(
            "plan-closed",
            f"The plan for {plan.period} is closed: only its items' statuses and evidence change.",
        )


async def _service_id(session: AsyncSession, unit: Unit, code: str) -> int:
    found = await session.scalar(
        select(Service.id).where(Service.unit_id == unit.id, Service.code == code)
    )
    if found is None:
        raise invalid(
            [FieldProblem(pointer="/service", detail="unknown service", code="unknown_service")]
        )
    return found


async def add_item(
    session: AsyncSession, unit: Unit, plan: FollowupPlan, body: ItemIn
) -> FollowupItem:
    _open(plan)
    now = utcnow()
    item = FollowupItem(
        plan_id=plan.id,
        element=body.element,
        service_id=await _service_id(session, unit, body.service) if body.service else None,
        action=body.action,
        responsible=body.responsible,
        target_date=body.target_date,
        status=body.status,
        status_reason=body.status_reason,
        evidence_note=body.evidence_note,
        evidence_links=list(body.evidence_links),
        proposed=False,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    plan.updated_at = now
    await session.flush()
    return item


async def find_item(session: AsyncSession, plan: FollowupPlan, item_id: int) -> FollowupItem:
    item = await session.scalar(
        select(FollowupItem).where(FollowupItem.id == item_id, FollowupItem.plan_id == plan.id)
    )
    if item is None:
        raise not_found("item", item_id)
    return item


def changes(body: ItemPatch) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


async def update_item(plan: FollowupPlan, item: FollowupItem, body: ItemPatch) -> dict[str, Any]:
    """Apply the patch; the fields changed (for the audit log)."""
    changed = changes(body)
    if plan.state != "open":
        frozen = sorted(set(changed) - AFTER_CLOSING)
        if frozen:
            raise ProblemError(
                409,
                "plan-closed",
                "Conflict",
                f"The plan for {plan.period} is closed: only status, status_reason and "
                "evidence change.",
                [
                    FieldProblem(pointer=f"/{name}", detail="frozen", code="frozen")
                    for name in frozen
                ],
            )
    for name in ("action", "status", "evidence_links"):
        if name in changed and changed[name] is None:
            raise invalid([FieldProblem(pointer=f"/{name}", detail="may not be null", code="null")])
    for name, value in changed.items():
        setattr(item, name, list(value) if name == "evidence_links" else value)
    if item.status == "dropped" and not item.status_reason:
        raise invalid(
            [
                FieldProblem(
                    pointer="/status_reason", detail="a dropped item needs a reason", code="missing"
                )
            ]
        )
    if item.status != "dropped" and "status" in changed and "status_reason" not in changed:
        item.status_reason = None
    now = utcnow()
    item.updated_at = plan.updated_at = now
    return {k: (str(v) if isinstance(v, date) else v) for k, v in changed.items()}


async def delete_item(session: AsyncSession, plan: FollowupPlan, item: FollowupItem) -> None:
    _open(plan)
    await session.delete(item)
    plan.updated_at = utcnow()
    await session.flush()


def close_plan(plan: FollowupPlan) -> None:
    _open(plan)
    plan.state = "closed"
    plan.closed_at = plan.updated_at = utcnow()
