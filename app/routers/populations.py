"""Administration: people served per unit (or service) and period, for sample adequacy."""

from fastapi import APIRouter, status

from app import populations
from app.db import ReadSession, WriteSession
from app.errors import problem_responses
from app.schemas import PopulationIn, PopulationOut

router = APIRouter(prefix="/v1/units/{code}", tags=["populations"])
WRITE = problem_responses(400, 404, 413, 422)
READ = problem_responses(404, 422)


@router.get("/populations", responses=READ)
async def list_populations(code: str, session: ReadSession) -> list[PopulationOut]:
    return await populations.list_populations(session, code)


@router.put("/populations/{period}", responses=WRITE)
async def set_unit_population(
    code: str, period: str, body: PopulationIn, session: WriteSession
) -> PopulationOut:
    """People the whole unit served in the period (e.g. last period's volume)."""
    return await populations.set_population(session, code, None, period, body.served)


@router.get("/populations/{period}", responses=READ)
async def get_unit_population(code: str, period: str, session: ReadSession) -> PopulationOut:
    return await populations.get_population(session, code, None, period)


@router.delete("/populations/{period}", status_code=status.HTTP_204_NO_CONTENT, responses=READ)
async def delete_unit_population(code: str, period: str, session: WriteSession) -> None:
    await populations.delete_population(session, code, None, period)


@router.put("/services/{service}/populations/{period}", responses=WRITE)
async def set_service_population(
    code: str, service: str, period: str, body: PopulationIn, session: WriteSession
) -> PopulationOut:
    return await populations.set_population(session, code, service, period, body.served)


@router.get("/services/{service}/populations/{period}", responses=READ)
async def get_service_population(
    code: str, service: str, period: str, session: ReadSession
) -> PopulationOut:
    return await populations.get_population(session, code, service, period)


@router.delete(
    "/services/{service}/populations/{period}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=READ,
)
async def delete_service_population(
    code: str, service: str, period: str, session: WriteSession
) -> None:
    await populations.delete_population(session, code, service, period)
