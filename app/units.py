"""The service hierarchy: units (with materialised paths) and the services they offer."""

from sqlalchemy import Select, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import FieldProblem, ProblemError, conflict, invalid, not_found
from app.models import ApiKey, PairingCode, Population, Response, Service, Survey, Ticket, Unit
from app.schemas import (
    ServiceCreate,
    ServiceOut,
    ServiceUpdate,
    UnitCreate,
    UnitOut,
    UnitTree,
    UnitUpdate,
)
from app.surveys import check_assignable

DEFAULT_TIME_ZONE = "Asia/Jakarta"


async def find_unit(session: AsyncSession, code: str) -> Unit | None:
    """The unit with this code, in any state and any scope: callers decide what they may see."""
    return await session.scalar(select(Unit).where(Unit.code == code))


async def get_unit(session: AsyncSession, code: str) -> Unit:
    unit = await find_unit(session, code)
    if unit is None:
        raise not_found("unit", code)
    return unit


def subtree_ids(path: str) -> Select[int]:
    """A subquery of the ids of the unit at `path` and everything below it."""
    return select(Unit.id).where(Unit.path.startswith(path, autoescape=True))


def _ids(path: str) -> list[int]:
    return [int(p) for p in path.strip("/").split("/")]


async def unit_out(session: AsyncSession, unit: Unit, scope_path: str | None) -> UnitOut:
    """The unit as a caller scoped to `scope_path` (None: everywhere) sees it. Units above
    the scope do not exist for the caller, so they are not named either: the scope's root
    has no parent and the ancestors begin at that root."""
    ancestor_ids = _ids(unit.path)[:-1]
    if scope_path is not None:
        ancestor_ids = ancestor_ids[len(_ids(scope_path)) - 1 :]
    rows = await session.execute(select(Unit.id, Unit.code).where(Unit.id.in_(ancestor_ids)))
    codes = {row.id: row.code for row in rows}
    ancestors = [codes[i] for i in ancestor_ids]
    return UnitOut(
        code=unit.code,
        name=unit.name,
        kind=unit.kind,
        parent=ancestors[-1] if ancestors else None,
        ancestors=ancestors,
        time_zone=unit.time_zone,
        time_zone_inherited=unit.time_zone_inherited,
        survey_version_id=unit.survey_version_id,
        public=unit.public,
        requires_ticket=unit.requires_ticket,
        active=unit.deactivated_at is None,
        deactivated_at=unit.deactivated_at,
        created_at=unit.created_at,
        updated_at=unit.updated_at,
    )


async def _parent(session: AsyncSession, code: str) -> Unit:
    parent = await find_unit(session, code)
    if parent is None:
        raise invalid([FieldProblem(pointer="/parent", detail="unknown unit", code="unknown_unit")])
    return parent


async def create_unit(session: AsyncSession, body: UnitCreate, scope_path: str | None) -> UnitOut:
    if await session.scalar(select(Unit.id).where(Unit.code == body.code)) is not None:
        raise conflict("code-taken", f"A unit with code '{body.code}' already exists.")
    parent = await _parent(session, body.parent) if body.parent else None
    inherited_zone = parent.time_zone if parent else DEFAULT_TIME_ZONE
    now = utcnow()
    unit = Unit(
        code=body.code,
        name=body.name,
        kind=body.kind,
        parent_id=parent.id if parent else None,
        path="",
        time_zone=body.time_zone or inherited_zone,
        time_zone_inherited=body.time_zone is None,
        public=body.public,
        requires_ticket=body.requires_ticket,
        created_at=now,
        updated_at=now,
    )
    session.add(unit)
    await session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    if body.survey_version_id is not None:
        await check_assignable(session, body.survey_version_id, unit.path)
        unit.survey_version_id = body.survey_version_id
    await session.flush()
    return await unit_out(session, unit, scope_path)


async def _has_responses(session: AsyncSession, unit: Unit) -> bool:
    return bool(
        await session.scalar(select(exists().where(Response.unit_id.in_(subtree_ids(unit.path)))))
    )


async def _set_zone(session: AsyncSession, unit: Unit, zone: str, inherited: bool) -> None:
    """Change a unit's zone and carry it down to the descendants that inherit it."""
    if zone != unit.time_zone and await _has_responses(session, unit):
        raise conflict(
            "time-zone-fixed",
            "Responses already exist in this subtree and were bucketed into days in its time "
            "zone; the time zone can no longer change.",
        )
    unit.time_zone, unit.time_zone_inherited = zone, inherited
    await session.flush()
    children = await session.scalars(
        select(Unit).where(Unit.parent_id == unit.id, Unit.time_zone_inherited.is_(True))
    )
    for child in children:
        await _set_zone(session, child, zone, True)


async def _move(session: AsyncSession, unit: Unit, parent_code: str | None) -> None:
    parent = await _parent(session, parent_code) if parent_code else None
    if parent is not None and parent.path.startswith(unit.path):
        raise invalid(
            [
                FieldProblem(
                    pointer="/parent", detail="a unit cannot move below itself", code="cycle"
                )
            ]
        )
    old_path = unit.path
    new_path = f"{parent.path if parent else '/'}{unit.id}/"
    unit.parent_id = parent.id if parent else None
    await session.execute(
        update(Unit)
        .where(Unit.path.startswith(old_path, autoescape=True))
        .values(path=func.replace(Unit.path, old_path, new_path))
        .execution_options(synchronize_session=False)
    )
    await session.refresh(unit)
    await _check_assignments_after_move(session, unit)
    if unit.time_zone_inherited:
        await _set_zone(session, unit, parent.time_zone if parent else DEFAULT_TIME_ZONE, True)


async def _check_assignments_after_move(session: AsyncSession, unit: Unit) -> None:
    """Every version assigned in the moved subtree must still be usable where it now is (a
    variant owned by a former ancestor is not): otherwise the move is refused."""
    assigned = await session.scalars(
        select(Unit).where(
            Unit.path.startswith(unit.path, autoescape=True), Unit.survey_version_id.is_not(None)
        )
    )
    for member in assigned:
        assert member.survey_version_id is not None
        try:
            await check_assignable(session, member.survey_version_id, member.path)
        except ProblemError:
            raise invalid(
                [
                    FieldProblem(
                        pointer="/parent",
                        detail=f"unit '{member.code}' uses a survey variant owned outside the "
                        "new place; assign it another version first",
                        code="survey_version_not_allowed",
                    )
                ]
            ) from None


async def update_unit(
    session: AsyncSession, code: str, body: UnitUpdate, scope_path: str | None
) -> UnitOut:
    unit = await get_unit(session, code)
    given = body.model_fields_set
    if "name" in given and body.name is not None:
        unit.name = body.name
    if "kind" in given and body.kind is not None:
        unit.kind = body.kind
    if "parent" in given:
        await _move(session, unit, body.parent)
    if "time_zone" in given:
        if body.time_zone is None:
            parent = await session.get(Unit, unit.parent_id) if unit.parent_id else None
            await _set_zone(session, unit, parent.time_zone if parent else DEFAULT_TIME_ZONE, True)
        else:
            await _set_zone(session, unit, body.time_zone, False)
    if "survey_version_id" in given:
        if body.survey_version_id is not None:
            await check_assignable(session, body.survey_version_id, unit.path)
        unit.survey_version_id = body.survey_version_id
    if body.public is not None:
        unit.public = body.public
    if body.requires_ticket is not None:
        unit.requires_ticket = body.requires_ticket
    if "active" in given and body.active is not None:
        if not body.active and unit.deactivated_at is None:
            unit.deactivated_at = utcnow()
        elif body.active:
            unit.deactivated_at = None
    unit.updated_at = utcnow()
    await session.flush()
    return await unit_out(session, unit, scope_path)


async def delete_unit(session: AsyncSession, code: str) -> None:
    """Only a unit that was never used can be deleted; otherwise it is deactivated."""
    unit = await get_unit(session, code)
    if await session.scalar(select(exists().where(Unit.parent_id == unit.id))):
        raise conflict("unit-has-children", "The unit has child units; move or delete them first.")
    if await _has_responses(session, unit):
        raise conflict(
            "unit-has-responses",
            "The unit has responses and is never deleted; deactivate it (active: false).",
        )
    if await session.scalar(select(exists().where(Survey.owner_unit_id == unit.id))):
        raise conflict("unit-owns-surveys", "The unit owns survey variants; deactivate it instead.")
    for column, what in (
        (ApiKey.scope_unit_id, "API keys are scoped to it"),
        (Ticket.unit_id, "it has issued tickets"),
    ):
        if await session.scalar(select(exists().where(column == unit.id))):
            raise conflict("unit-in-use", f"The unit is in use ({what}); deactivate it instead.")
    await session.execute(delete(Population).where(Population.unit_id == unit.id))
    # Codes never exchanged go with it (an exchanged one made a key scoped to it: refused above).
    await session.execute(delete(PairingCode).where(PairingCode.unit_id == unit.id))
    services = await session.scalars(select(Service).where(Service.unit_id == unit.id))
    for service in services:
        await session.delete(service)
    await session.delete(unit)
    await session.flush()


async def list_units(
    session: AsyncSession,
    parent: str | None,
    kind: str | None,
    active: bool | None,
    after: str | None,
    limit: int,
    scope_path: str | None,
) -> tuple[list[UnitOut], str | None]:
    query = select(Unit).order_by(Unit.code).limit(limit + 1)
    if scope_path is not None:
        query = query.where(Unit.path.startswith(scope_path, autoescape=True))
    if parent is not None:
        query = query.where(Unit.parent_id == (await get_unit(session, parent)).id)
    if kind is not None:
        query = query.where(Unit.kind == kind)
    if active is not None:
        query = query.where(
            Unit.deactivated_at.is_(None) if active else Unit.deactivated_at.is_not(None)
        )
    if after is not None:
        query = query.where(Unit.code > after)
    units = list(await session.scalars(query))
    more = len(units) > limit
    units = units[:limit]
    return [await unit_out(session, u, scope_path) for u in units], units[-1].code if more else None


async def unit_tree(session: AsyncSession, code: str) -> UnitTree:
    root = await get_unit(session, code)
    nodes = list(
        await session.scalars(
            select(Unit).where(Unit.path.startswith(root.path, autoescape=True)).order_by(Unit.code)
        )
    )
    children: dict[int | None, list[Unit]] = {}
    for node in nodes:
        children.setdefault(node.parent_id, []).append(node)

    def build(unit: Unit) -> UnitTree:
        return UnitTree(
            code=unit.code,
            name=unit.name,
            kind=unit.kind,
            time_zone=unit.time_zone,
            active=unit.deactivated_at is None,
            children=[build(c) for c in children.get(unit.id, [])],
        )

    return build(root)


# --- services --------------------------------------------------------------------------


def service_out(service: Service, unit_code: str) -> ServiceOut:
    return ServiceOut(
        unit=unit_code,
        code=service.code,
        name=service.name,
        active=service.deactivated_at is None,
        deactivated_at=service.deactivated_at,
        created_at=service.created_at,
        updated_at=service.updated_at,
    )


async def get_service(session: AsyncSession, unit: Unit, code: str) -> Service:
    service = await session.scalar(
        select(Service).where(Service.unit_id == unit.id, Service.code == code)
    )
    if service is None:
        raise not_found("service", f"{unit.code}/{code}")
    return service


async def create_service(session: AsyncSession, unit_code: str, body: ServiceCreate) -> ServiceOut:
    unit = await get_unit(session, unit_code)
    taken = await session.scalar(
        select(Service.id).where(Service.unit_id == unit.id, Service.code == body.code)
    )
    if taken is not None:
        raise conflict("code-taken", f"The unit already offers a service '{body.code}'.")
    now = utcnow()
    service = Service(
        unit_id=unit.id, code=body.code, name=body.name, created_at=now, updated_at=now
    )
    session.add(service)
    await session.flush()
    return service_out(service, unit.code)


async def list_services(
    session: AsyncSession, unit_code: str, active: bool | None
) -> list[ServiceOut]:
    unit = await get_unit(session, unit_code)
    query = select(Service).where(Service.unit_id == unit.id).order_by(Service.code)
    if active is not None:
        query = query.where(
            Service.deactivated_at.is_(None) if active else Service.deactivated_at.is_not(None)
        )
    return [service_out(s, unit.code) for s in await session.scalars(query)]


async def update_service(
    session: AsyncSession, unit_code: str, code: str, body: ServiceUpdate
) -> ServiceOut:
    unit = await get_unit(session, unit_code)
    service = await get_service(session, unit, code)
    if body.name is not None:
        service.name = body.name
    if body.active is False and service.deactivated_at is None:
        service.deactivated_at = utcnow()
    elif body.active is True:
        service.deactivated_at = None
    service.updated_at = utcnow()
    await session.flush()
    return service_out(service, unit.code)


async def delete_service(session: AsyncSession, unit_code: str, code: str) -> None:
    unit = await get_unit(session, unit_code)
    service = await get_service(session, unit, code)
    used = await session.scalar(select(exists().where(Response.service_id == service.id)))
    if used:
        raise conflict(
            "service-has-responses",
            "The service has responses and is never deleted; deactivate it (active: false).",
        )
    await session.delete(service)
    await session.flush()
