"""People served per unit (or service) and period: the N of the minimum sample."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import FieldProblem, invalid, not_found
from app.method import minimum_sample
from app.models import Population
from app.periods import parse_period
from app.schemas import PopulationOut
from app.units import get_service, get_unit


def _check_period(period: str) -> None:
    try:
        parse_period(period)
    except ValueError as error:
        raise invalid(
            [FieldProblem(parameter="period", detail=str(error), code="bad_period")]
        ) from None


def _out(row: Population, unit_code: str) -> PopulationOut:
    return PopulationOut(
        unit=unit_code,
        service=row.service_code or None,
        period=row.period,
        served=row.served,
        minimum_sample=minimum_sample(row.served),
        updated_at=row.updated_at,
    )


async def _find(
    session: AsyncSession, unit_code: str, service: str | None, period: str
) -> tuple[int, Population | None]:
    _check_period(period)
    unit = await get_unit(session, unit_code)
    if service is not None:
        await get_service(session, unit, service)
    row = await session.scalar(
        select(Population).where(
            Population.unit_id == unit.id,
            Population.service_code == (service or ""),
            Population.period == period,
        )
    )
    return unit.id, row


async def set_population(
    session: AsyncSession, unit_code: str, service: str | None, period: str, served: int
) -> PopulationOut:
    unit_id, row = await _find(session, unit_code, service, period)
    if row is None:
        row = Population(unit_id=unit_id, service_code=service or "", period=period)
        session.add(row)
    row.served = served
    row.updated_at = utcnow()
    await session.flush()
    return _out(row, unit_code)


async def _recorded(
    session: AsyncSession, unit_code: str, service: str | None, period: str
) -> Population:
    """The recorded population, or 404."""
    _unit_id, row = await _find(session, unit_code, service, period)
    if row is None:
        raise not_found("population", f"{unit_code}/{service or '*'}/{period}")
    return row


async def get_population(
    session: AsyncSession, unit_code: str, service: str | None, period: str
) -> PopulationOut:
    return _out(await _recorded(session, unit_code, service, period), unit_code)


async def delete_population(
    session: AsyncSession, unit_code: str, service: str | None, period: str
) -> None:
    await session.delete(await _recorded(session, unit_code, service, period))
    await session.flush()


async def list_populations(session: AsyncSession, unit_code: str) -> list[PopulationOut]:
    unit = await get_unit(session, unit_code)
    rows = await session.scalars(
        select(Population)
        .where(Population.unit_id == unit.id)
        .order_by(Population.period, Population.service_code)
    )
    return [_out(row, unit.code) for row in rows]
