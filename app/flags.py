"""Reviewing flagged responses: suspected bursts are confirmed (still left out of indices)
or cleared (counted again). Nothing is ever deleted."""

import uuid
from typing import Any

from sqlalchemy import Row, Select
from sqlalchemy.ext.asyncio import AsyncSession

from app.aggregates import FLAGGED, add_to_aggregates
from app.auth import Principal
from app.db import utcnow
from app.errors import not_found
from app.models import Unit
from app.pagination import after, instant_cursor
from app.schemas import FlaggedOut
from app.statements import retrying
from app.stored_responses import RESPONSES, response_out, with_codes
from app.vocabulary import FlagDecision, FlagState


def _flagged_out(row: Row[Any] | None) -> FlaggedOut:
    assert row is not None
    mapping = row._mapping
    return FlaggedOut(
        response=response_out(row, mapping["unit_code"], mapping["service_code"]),
        flag=mapping["flag"],
        reason=mapping["flag_reason"],
        reviewed_at=mapping["flag_reviewed_at"],
        reviewed_by=mapping["flag_reviewed_by_id"],
    )


def _query() -> Select[Any]:
    return with_codes().where(RESPONSES.c.flag.is_not(None))


async def list_flagged(
    session: AsyncSession,
    scope_path: str | None,
    state: FlagState | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[FlaggedOut], str | None]:
    """Ordered by (collected_at, id), paged like the list of responses."""
    query = _query().order_by(RESPONSES.c.collected_at, RESPONSES.c.id).limit(limit + 1)
    if scope_path is not None:
        query = query.where(Unit.path.startswith(scope_path, autoescape=True))
    if state is not None:
        query = query.where(RESPONSES.c.flag == state)
    if cursor is not None:
        query = query.where(after(RESPONSES.c.collected_at, RESPONSES.c.id, cursor))
    items = [_flagged_out(row) for row in await session.execute(query)]
    following = None
    if len(items) > limit:
        last = items[limit - 1].response
        following = instant_cursor(last.collected_at, last.id)
    return items[:limit], following


async def review(
    session: AsyncSession,
    caller: Principal,
    response_id: uuid.UUID,
    decision: FlagDecision,
) -> FlaggedOut:
    """Set the review state, moving the response's counts in or out of the indices. A
    deadlock or serialization failure (the aggregate rows are shared with submissions) is
    undone to a savepoint and the review run again (`statements.retrying`)."""
    conn = await session.connection()
    return await retrying(conn, lambda: _review(session, caller, response_id, decision))


async def _review(
    session: AsyncSession,
    caller: Principal,
    response_id: uuid.UUID,
    decision: FlagDecision,
) -> FlaggedOut:
    query = _query().add_columns(Unit.path).where(RESPONSES.c.id == response_id)
    row = (await session.execute(query.with_for_update(of=RESPONSES))).first()
    if row is None or not caller.covers(row.path):
        raise not_found("flagged response", response_id)
    new_flag = "confirmed" if decision == "confirm" else "cleared"
    now = utcnow()
    conn = await session.connection()
    if (row.flag in FLAGGED) != (new_flag in FLAGGED):
        old = dict(row._mapping)
        await add_to_aggregates(conn, [{**old, "flag": new_flag}], now, removed=[old])
    await conn.execute(
        RESPONSES.update()
        .where(RESPONSES.c.id == response_id)
        .values(flag=new_flag, flag_reviewed_at=now, flag_reviewed_by_id=caller.key_id)
    )
    updated = (await session.execute(_query().where(RESPONSES.c.id == response_id))).first()
    return _flagged_out(updated)
