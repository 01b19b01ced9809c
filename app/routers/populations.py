"""Administration: people served per unit (or service) and period, for sample adequacy."""

from fastapi import APIRouter, status
from sqlalchemy.ext.asyncio import AsyncSession

from app import populations
from app.audit import record
from app.auth import Principal, unit_for
from app.dependencies import Caller, ReadSession, WriteSession
from app.errors import problem_responses
from app.schemas import PopulationIn, PopulationOut

router = APIRouter(
    prefix="/v1/units/{code}",
    tags=["populations"],
    responses=problem_responses(401, 403, 404, 422, 429),
)
WRITE = problem_responses(400, 413)  # besides the router's


async def _allowed(session: AsyncSession, caller: Principal, code: str, write: bool) -> None:
    if write:
        caller.require("admin", "manager")
    else:
        caller.require("admin", "manager", "reader")
    await unit_for(session, caller, code)


@router.get("/populations")
async def list_populations(code: str, session: ReadSession, caller: Caller) -> list[PopulationOut]:
    await _allowed(session, caller, code, write=False)
    return await populations.list_populations(session, code)


@router.put("/populations/{period}", responses=WRITE)
async def set_unit_population(
    code: str, period: str, body: PopulationIn, session: WriteSession, caller: Caller
) -> PopulationOut:
    """People the whole unit served in the period (e.g. last period's volume)."""
    await _allowed(session, caller, code, write=True)
    stored = await populations.set_population(session, code, None, period, body.served)
    await record(session, caller, "population.set", f"unit:{code}/{period}", body.model_dump())
    return stored


@router.get("/populations/{period}")
async def get_unit_population(
    code: str, period: str, session: ReadSession, caller: Caller
) -> PopulationOut:
    await _allowed(session, caller, code, write=False)
    return await populations.get_population(session, code, None, period)


@router.delete("/populations/{period}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_unit_population(
    code: str, period: str, session: WriteSession, caller: Caller
) -> None:
    await _allowed(session, caller, code, write=True)
    await populations.delete_population(session, code, None, period)
    await record(session, caller, "population.delete", f"unit:{code}/{period}")


@router.put("/services/{service}/populations/{period}", responses=WRITE)
async def set_service_population(
    code: str, service: str, period: str, body: PopulationIn, session: WriteSession, caller: Caller
) -> PopulationOut:
    await _allowed(session, caller, code, write=True)
    stored = await populations.set_population(session, code, service, period, body.served)
    await record(
        session, caller, "population.set", f"service:{code}/{service}/{period}", body.model_dump()
    )
    return stored


@router.get("/services/{service}/populations/{period}")
async def get_service_population(
    code: str, service: str, period: str, session: ReadSession, caller: Caller
) -> PopulationOut:
    await _allowed(session, caller, code, write=False)
    return await populations.get_population(session, code, service, period)


@router.delete(
    "/services/{service}/populations/{period}",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_service_population(
    code: str, service: str, period: str, session: WriteSession, caller: Caller
) -> None:
    await _allowed(session, caller, code, write=True)
    await populations.delete_population(session, code, service, period)
    await record(session, caller, "population.delete", f"service:{code}/{service}/{period}")
