"""Operations: counter tickets for public submission, and the review of flagged responses."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app import flags, tickets
from app.audit import record
from app.auth import Caller, unit_for
from app.config import SettingsDep
from app.db import DatabaseDep, ReadSession, WriteSession
from app.errors import ProblemError, problem_responses
from app.pagination import Cursor, Limit
from app.schemas import FlaggedOut, FlagReview, Page, TicketRequest, TicketsOut
from app.vocabulary import FlagState

router = APIRouter(tags=["operations"])
READ = problem_responses(401, 403, 404, 422, 429)
WRITE = problem_responses(400, 401, 403, 404, 409, 413, 422, 429)


@router.post("/v1/units/{code}/tickets", responses=WRITE)
async def issue_tickets(
    code: str,
    body: TicketRequest,
    session: WriteSession,
    caller: Caller,
    settings: SettingsDep,
) -> TicketsOut:
    """One-time codes for a unit's public submission (e.g. printed as a QR code on the queue
    slip); each admits exactly one response, until it expires (SKM_TICKET_HOURS)."""
    caller.require("admin", "manager", "collector")
    unit = await unit_for(session, caller, code)
    if not unit.public:
        raise ProblemError(
            409, "unit-not-public", "Conflict", "The unit is not open to the public."
        )
    return await tickets.issue(session, caller, unit, body.count, settings.ticket_hours)


@router.get("/v1/flags", responses=READ)
async def list_flagged(
    session: ReadSession,
    caller: Caller,
    limit: Limit,
    unit: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
    state: FlagState | None = "suspected",
) -> Page[FlaggedOut]:
    """Flagged responses to review (by default those still only suspected), oldest first."""
    caller.require("admin", "manager")
    scope = caller.scope_path
    if unit is not None:
        scope = (await unit_for(session, caller, unit)).path
    items, following = await flags.list_flagged(session, scope, state, cursor, limit)
    return Page(items=items, next_cursor=following)


@router.post("/v1/responses/{response_id}/review", responses=WRITE)
async def review_flag(
    response_id: uuid.UUID,
    body: FlagReview,
    session: WriteSession,
    database: DatabaseDep,
    caller: Caller,
) -> FlaggedOut:
    """`confirm` keeps the response out of the indices; `clear` counts it again."""
    caller.require("admin", "manager")
    reviewed = await flags.review(session, database.dialect, caller, response_id, body.decision)
    await record(
        session, caller, f"flag.{body.decision}", f"response:{response_id}", {"flag": reviewed.flag}
    )
    return reviewed
