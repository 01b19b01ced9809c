"""Follow-up plans (rencana tindak lanjut) of a unit, per period, and their evaluation.

Managers in scope write; readers in scope read; every change is audit-logged (field names
and statuses, never the free text of actions, names or evidence).
"""

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app import evaluation, followup
from app.audit import record
from app.auth import Principal, unit_for
from app.dependencies import Caller, ReadSession, WriteSession
from app.errors import FieldProblem, problem_responses
from app.followup_schemas import (
    EvaluationOut,
    ItemIn,
    ItemOut,
    ItemPatch,
    PlanIn,
    PlanList,
    PlanOut,
)
from app.models import FollowupPlan, Unit
from app.periods import PERIOD_DESCRIPTION

router = APIRouter(
    prefix="/v1/units/{code}/plans",
    tags=["follow-up plans"],
    responses=problem_responses(401, 403, 404, 422, 429),
)
WRITE = problem_responses(400, 409, 413)  # besides the router's
PeriodPath = Annotated[str, Path(max_length=10, description=PERIOD_DESCRIPTION)]
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def local_today(unit: Unit) -> date:
    """Today in the unit's own time zone: what makes an item overdue."""
    return datetime.now(ZoneInfo(unit.time_zone)).date()


async def _unit(session: AsyncSession, caller: Principal, code: str, write: bool) -> Unit:
    if write:
        caller.require("admin", "manager")
    else:
        caller.require("admin", "manager", "reader")
    return await unit_for(session, caller, code)


async def _plan(
    session: AsyncSession, caller: Principal, code: str, period: str, write: bool
) -> tuple[Unit, FollowupPlan]:
    unit = await _unit(session, caller, code, write)
    followup.plan_period(period, FieldProblem(parameter="period", detail="", code="bad_period"))
    return unit, await followup.find_plan(session, unit, period)


@router.post("", status_code=status.HTTP_201_CREATED, responses=WRITE)
async def create_plan(
    code: str, body: PlanIn, session: WriteSession, caller: Caller, response: Response
) -> PlanOut:
    """Start the unit's plan for a period; with `propose` (the default) it starts with an
    item for each weakest element and each element graded C or D in the period's result
    (the published record where there is one, the live index otherwise), to be edited."""
    unit = await _unit(session, caller, code, write=True)
    plan = await followup.create_plan(session, unit, body.period, body.propose)
    out = await followup.plan_out(session, unit, plan, local_today(unit))
    await record(
        session,
        caller,
        "plan.create",
        f"plan:{code}/{body.period}",
        {"proposed": [i.element for i in out.items], "source": out.source},
    )
    response.headers["Location"] = f"/v1/units/{code}/plans/{body.period}"
    return out


@router.get("")
async def list_plans(code: str, session: ReadSession, caller: Caller) -> PlanList:
    """The unit's plans, oldest period first, with their items counted."""
    unit = await _unit(session, caller, code, write=False)
    return await followup.list_plans(session, unit, local_today(unit))


@router.get("/{period}")
async def get_plan(code: str, period: PeriodPath, session: ReadSession, caller: Caller) -> PlanOut:
    unit, plan = await _plan(session, caller, code, period, write=False)
    return await followup.plan_out(session, unit, plan, local_today(unit))


@router.post("/{period}/items", status_code=status.HTTP_201_CREATED, responses=WRITE)
async def add_plan_item(
    code: str, period: PeriodPath, body: ItemIn, session: WriteSession, caller: Caller
) -> ItemOut:
    """An item of an open plan, tied to one element or one service of the unit."""
    unit, plan = await _plan(session, caller, code, period, write=True)
    item = await followup.add_item(session, unit, plan, body)
    await record(
        session,
        caller,
        "plan.item.add",
        f"plan:{code}/{period}/{item.id}",
        {"element": body.element, "service": body.service, "status": body.status},
    )
    return await _item_out(session, unit, plan, item.id)


async def _item_out(session: AsyncSession, unit: Unit, plan: FollowupPlan, item_id: int) -> ItemOut:
    out = await followup.plan_out(session, unit, plan, local_today(unit))
    return next(i for i in out.items if i.id == item_id)


@router.patch("/{period}/items/{item_id}", responses=WRITE)
async def update_plan_item(
    code: str,
    period: PeriodPath,
    item_id: ItemId,
    body: ItemPatch,
    session: WriteSession,
    caller: Caller,
) -> ItemOut:
    """Change an item; once the plan is closed, only its status and evidence (409
    otherwise, naming the frozen fields)."""
    unit, plan = await _plan(session, caller, code, period, write=True)
    item = await followup.find_item(session, plan, item_id)
    changed = await followup.update_item(plan, item, body)
    await session.flush()
    await record(
        session,
        caller,
        "plan.item.update",
        f"plan:{code}/{period}/{item_id}",
        {
            "fields": sorted(changed),
            **{k: changed[k] for k in ("status", "target_date") if k in changed},
        },
    )
    return await _item_out(session, unit, plan, item_id)


@router.delete("/{period}/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT, responses=WRITE)
async def delete_plan_item(
    code: str, period: PeriodPath, item_id: ItemId, session: WriteSession, caller: Caller
) -> None:
    """Remove an item of an open plan."""
    _unit_row, plan = await _plan(session, caller, code, period, write=True)
    item = await followup.find_item(session, plan, item_id)
    await followup.delete_item(session, plan, item)
    await record(session, caller, "plan.item.delete", f"plan:{code}/{period}/{item_id}")


@router.post("/{period}/close", responses=WRITE)
async def close_plan(
    code: str, period: PeriodPath, session: WriteSession, caller: Caller
) -> PlanOut:
    """Close the plan: from now on only its items' statuses and evidence change."""
    unit, plan = await _plan(session, caller, code, period, write=True)
    followup.close_plan(plan)
    await session.flush()
    await record(session, caller, "plan.close", f"plan:{code}/{period}")
    return await followup.plan_out(session, unit, plan, local_today(unit))


@router.get("/{period}/evaluation")
async def evaluate_plan(
    code: str, period: PeriodPath, session: ReadSession, caller: Caller
) -> EvaluationOut:
    """Each item's element NRR (a service's IKM, for a service's item) and the unit's IKM in
    the plan's period and the next one of the same length: the difference with its 95%
    interval and a verdict (docs/method.md §8)."""
    unit, plan = await _plan(session, caller, code, period, write=False)
    return await evaluation.evaluate(session, unit, plan)
