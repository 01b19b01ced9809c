"""Administration: units and the services they offer."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app import units
from app.audit import record
from app.auth import Principal, body_unit, forbidden, unit_for
from app.dependencies import Caller, ReadSession, WriteSession
from app.errors import problem_responses
from app.models import Unit
from app.pagination import Cursor, Limit, decode_text_cursor, encode_cursor
from app.schemas import (
    Page,
    ServiceCreate,
    ServiceOut,
    ServiceUpdate,
    UnitCreate,
    UnitOut,
    UnitTree,
    UnitUpdate,
)
from app.vocabulary import UnitKind

router = APIRouter(
    prefix="/v1/units", tags=["units"], responses=problem_responses(401, 404, 422, 429)
)
WRITE = problem_responses(400, 403, 409, 413)  # besides the router's


def _not_scope_root(caller: Principal, unit: Unit, what: str) -> None:
    if caller.role != "admin" and unit.id == caller.scope_unit_id:
        raise forbidden(f"A key cannot {what} the unit at the root of its own scope.")


@router.post("", status_code=status.HTTP_201_CREATED, responses=WRITE)
async def create_unit(
    body: UnitCreate, session: WriteSession, caller: Caller, response: Response
) -> UnitOut:
    """Administrators anywhere; unit managers below a unit of their scope."""
    caller.require("admin", "manager")
    if caller.scope_path is not None:
        if body.parent is None:
            raise forbidden("A scoped key creates units inside its scope: give `parent`.")
        await body_unit(session, caller, body.parent, "/parent")
    created = await units.create_unit(session, body, caller.scope_path)
    await record(session, caller, "unit.create", f"unit:{created.code}", body.model_dump())
    response.headers["Location"] = f"/v1/units/{created.code}"
    return created


@router.get("")
async def list_units(
    session: ReadSession,
    caller: Caller,
    limit: Limit,
    cursor: Cursor = None,
    parent: Annotated[str | None, Query(max_length=64, description="Direct children of")] = None,
    kind: UnitKind | None = None,
    active: bool | None = None,
) -> Page[UnitOut]:
    """Units in the key's scope, by code."""
    after = decode_text_cursor(cursor) if cursor else None
    if parent is not None:
        await unit_for(session, caller, parent)
    items, last = await units.list_units(
        session, parent, kind, active, after, limit, caller.scope_path
    )
    return Page(items=items, next_cursor=encode_cursor(last) if last else None)


@router.get("/{code}")
async def get_unit(code: str, session: ReadSession, caller: Caller) -> UnitOut:
    return await units.unit_out(session, await unit_for(session, caller, code), caller.scope_path)


@router.patch("/{code}", responses=WRITE)
async def update_unit(
    code: str, body: UnitUpdate, session: WriteSession, caller: Caller
) -> UnitOut:
    """Partial update. `active: false` deactivates (responses collected before then are still
    accepted from offline kiosks); `time_zone: null` returns to the parent's zone."""
    caller.require("admin", "manager")
    unit = await unit_for(session, caller, code)
    if "parent" in body.model_fields_set:
        _not_scope_root(caller, unit, "move")
        if body.parent is not None:
            await body_unit(session, caller, body.parent, "/parent")
        elif caller.scope_path is not None:
            raise forbidden("A scoped key cannot make a unit a root.")
    updated = await units.update_unit(session, code, body, caller.scope_path)
    await record(
        session, caller, "unit.update", f"unit:{code}", body.model_dump(exclude_unset=True)
    )
    return updated


@router.delete("/{code}", status_code=status.HTTP_204_NO_CONTENT, responses=WRITE)
async def delete_unit(code: str, session: WriteSession, caller: Caller) -> None:
    """Deletes a unit that was never used; a unit with responses is deactivated instead."""
    caller.require("admin", "manager")
    _not_scope_root(caller, await unit_for(session, caller, code), "delete")
    await units.delete_unit(session, code)
    await record(session, caller, "unit.delete", f"unit:{code}")


@router.get("/{code}/tree")
async def unit_tree(code: str, session: ReadSession, caller: Caller) -> UnitTree:
    await unit_for(session, caller, code)
    return await units.unit_tree(session, code)


@router.post("/{code}/services", status_code=status.HTTP_201_CREATED, responses=WRITE)
async def create_service(
    code: str, body: ServiceCreate, session: WriteSession, caller: Caller, response: Response
) -> ServiceOut:
    caller.require("admin", "manager")
    await unit_for(session, caller, code)
    created = await units.create_service(session, code, body)
    await record(
        session, caller, "service.create", f"service:{code}/{created.code}", body.model_dump()
    )
    response.headers["Location"] = f"/v1/units/{code}/services/{created.code}"
    return created


@router.get("/{code}/services")
async def list_services(
    code: str, session: ReadSession, caller: Caller, active: bool | None = None
) -> list[ServiceOut]:
    await unit_for(session, caller, code)
    return await units.list_services(session, code, active)


@router.get("/{code}/services/{service}")
async def get_service(code: str, service: str, session: ReadSession, caller: Caller) -> ServiceOut:
    unit = await unit_for(session, caller, code)
    return units.service_out(await units.get_service(session, unit, service), unit.code)


@router.patch("/{code}/services/{service}", responses=WRITE)
async def update_service(
    code: str, service: str, body: ServiceUpdate, session: WriteSession, caller: Caller
) -> ServiceOut:
    caller.require("admin", "manager")
    await unit_for(session, caller, code)
    updated = await units.update_service(session, code, service, body)
    await record(
        session,
        caller,
        "service.update",
        f"service:{code}/{service}",
        body.model_dump(exclude_unset=True),
    )
    return updated


@router.delete(
    "/{code}/services/{service}", status_code=status.HTTP_204_NO_CONTENT, responses=WRITE
)
async def delete_service(code: str, service: str, session: WriteSession, caller: Caller) -> None:
    caller.require("admin", "manager")
    await unit_for(session, caller, code)
    await units.delete_service(session, code, service)
    await record(session, caller, "service.delete", f"service:{code}/{service}")
