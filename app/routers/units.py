"""Administration: units and the services they offer."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app import units
from app.db import ReadSession, WriteSession
from app.errors import problem_responses
from app.pagination import Cursor, Limit, decode_cursor, encode_cursor
from app.schemas import (
    Page,
    ServiceCreate,
    ServiceOut,
    ServiceUpdate,
    UnitCreate,
    UnitKind,
    UnitOut,
    UnitTree,
    UnitUpdate,
)

router = APIRouter(prefix="/v1/units", tags=["units"])


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses=problem_responses(400, 409, 413, 422)
)
async def create_unit(body: UnitCreate, session: WriteSession, response: Response) -> UnitOut:
    created = await units.create_unit(session, body)
    response.headers["Location"] = f"/v1/units/{created.code}"
    return created


@router.get("", responses=problem_responses(404, 422))
async def list_units(
    session: ReadSession,
    limit: Limit = 100,
    cursor: Cursor = None,
    parent: Annotated[str | None, Query(max_length=64, description="Direct children of")] = None,
    kind: UnitKind | None = None,
    active: bool | None = None,
) -> Page[UnitOut]:
    after = decode_cursor(cursor, 1)[0] if cursor else None
    items, last = await units.list_units(session, parent, kind, active, after, limit)
    return Page(items=items, next_cursor=encode_cursor(last) if last else None)


@router.get("/{code}", responses=problem_responses(404))
async def get_unit(code: str, session: ReadSession) -> UnitOut:
    return await units.unit_out(session, await units.get_unit(session, code))


@router.patch("/{code}", responses=problem_responses(400, 404, 409, 413, 422))
async def update_unit(code: str, body: UnitUpdate, session: WriteSession) -> UnitOut:
    """Partial update. `active: false` deactivates (responses collected before then are still
    accepted from offline kiosks); `time_zone: null` returns to the parent's zone."""
    return await units.update_unit(session, code, body)


@router.delete(
    "/{code}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404, 409)
)
async def delete_unit(code: str, session: WriteSession) -> None:
    """Deletes a unit that was never used; a unit with responses is deactivated instead."""
    await units.delete_unit(session, code)


@router.get("/{code}/tree", responses=problem_responses(404))
async def unit_tree(code: str, session: ReadSession) -> UnitTree:
    return await units.unit_tree(session, code)


@router.post(
    "/{code}/services",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 404, 409, 413, 422),
)
async def create_service(
    code: str, body: ServiceCreate, session: WriteSession, response: Response
) -> ServiceOut:
    created = await units.create_service(session, code, body)
    response.headers["Location"] = f"/v1/units/{code}/services/{created.code}"
    return created


@router.get("/{code}/services", responses=problem_responses(404, 422))
async def list_services(
    code: str, session: ReadSession, active: bool | None = None
) -> list[ServiceOut]:
    return await units.list_services(session, code, active)


@router.get("/{code}/services/{service}", responses=problem_responses(404))
async def get_service(code: str, service: str, session: ReadSession) -> ServiceOut:
    unit = await units.get_unit(session, code)
    return units.service_out(await units.get_service(session, unit, service), unit.code)


@router.patch("/{code}/services/{service}", responses=problem_responses(400, 404, 413, 422))
async def update_service(
    code: str, service: str, body: ServiceUpdate, session: WriteSession
) -> ServiceOut:
    return await units.update_service(session, code, service, body)


@router.delete(
    "/{code}/services/{service}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409),
)
async def delete_service(code: str, service: str, session: WriteSession) -> None:
    await units.delete_service(session, code, service)
