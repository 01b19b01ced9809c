"""Publications: a unit's result for a period, frozen when a manager publishes it."""

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.models import Publication

PUBLICATIONS = Publication.__table__


async def current_publication(
    conn: AsyncConnection, unit_id: int, start: date, end: date
) -> Any | None:
    """The newest record (highest revision) published for the unit over exactly the local
    days start ≤ day < end (half-open, like `period_start`/`period_end`), or None. A row
    with the columns of `publications`."""
    rows = await conn.execute(
        select(PUBLICATIONS)
        .where(
            PUBLICATIONS.c.unit_id == unit_id,
            PUBLICATIONS.c.period_start == start,
            PUBLICATIONS.c.period_end == end,
        )
        .order_by(PUBLICATIONS.c.revision.desc())
        .limit(1)
    )
    return rows.first()
