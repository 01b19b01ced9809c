"""Flagged responses (identical answers in a burst from one device): listed for review, then
confirmed (left out of the indices) or cleared (counted again) by an administrator or a
manager."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app import flags
from app.audit import record
from app.auth import unit_for
from app.dependencies import Caller, ReadSession, WriteSession
from app.errors import problem_responses
from app.pagination import Cursor, Limit
from app.schemas import FlaggedOut, FlagReview, Page
from app.vocabulary import FlagState

router = APIRouter(tags=["flags"], responses=problem_responses(401, 403, 404, 422, 429))


@router.get("/v1/flags")
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


@router.post("/v1/responses/{response_id}/review", responses=problem_responses(409))
async def review_flag(
    response_id: uuid.UUID,
    body: FlagReview,
    session: WriteSession,
    caller: Caller,
) -> FlaggedOut:
    """`confirm` keeps the response out of the indices; `clear` counts it again."""
    caller.require("admin", "manager")
    reviewed = await flags.review(session, caller, response_id, body.decision)
    await record(
        session, caller, f"flag.{body.decision}", f"response:{response_id}", {"flag": reviewed.flag}
    )
    return reviewed
