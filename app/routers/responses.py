"""Reading responses back for administration: filtered pages, one response, CSV export."""

import uuid
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from app.auth import Principal, unit_for
from app.dependencies import Caller, DatabaseDep, ReadSession
from app.errors import problem_responses
from app.pagination import Cursor, Limit
from app.periods import PERIOD_DESCRIPTION
from app.schemas import Day, Page, ResponseOut
from app.stored_responses import ResponseFilter, export_csv, get_response, list_responses
from app.vocabulary import Channel

router = APIRouter(
    prefix="/v1/responses",
    tags=["responses"],
    responses=problem_responses(401, 403, 404, 422, 429),
)


async def response_filter(
    unit: Annotated[str | None, Query(max_length=64, description="Unit code")] = None,
    subtree: Annotated[bool, Query(description="Include the units below `unit`")] = True,
    service: Annotated[
        str | None, Query(max_length=64, description="Service code (needs unit)")
    ] = None,
    channel: Channel | None = None,
    period: Annotated[str | None, Query(max_length=10, description=PERIOD_DESCRIPTION)] = None,
    date_from: Annotated[
        Day | None, Query(alias="from", description="First local day, inclusive")
    ] = None,
    date_to: Annotated[
        Day | None, Query(alias="to", description="Last local day, inclusive")
    ] = None,
) -> ResponseFilter:
    """Periods and days are those of each unit's own time zone."""
    return ResponseFilter(unit, subtree, service, channel, period, date_from, date_to)


FilterDep = Annotated[ResponseFilter, Depends(response_filter)]


async def _scoped(
    session: ReadSession, caller: Principal, filters: ResponseFilter
) -> ResponseFilter:
    """Response rows for this key: its scope by default, a unit in it when asked."""
    caller.require_responses()
    if filters.unit is not None:
        await unit_for(session, caller, filters.unit)
        return filters
    if caller.scope_code is not None:
        return replace(filters, unit=caller.scope_code, subtree=True)
    return filters


@router.get("")
async def list_(
    session: ReadSession,
    caller: Caller,
    filters: FilterDep,
    limit: Limit,
    cursor: Cursor = None,
) -> Page[ResponseOut]:
    """Ordered by collected_at, then id; the cursor stays valid while responses arrive."""
    filters = await _scoped(session, caller, filters)
    items, following = await list_responses(session, filters, cursor, limit)
    return Page(items=items, next_cursor=following)


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "CSV, one row per response"},
    },
)
async def export(
    session: ReadSession,
    caller: Caller,
    database: DatabaseDep,
    filters: FilterDep,
    suggestions: Annotated[
        bool, Query(description="Include the free-text suggestions (personal data may appear)")
    ] = False,
) -> StreamingResponse:
    """Streams every matching response (flat memory, any size), in the list's order."""
    filters = await _scoped(session, caller, filters)
    rows = await export_csv(database, session, filters, suggestions)
    return StreamingResponse(
        rows,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="skm-responses.csv"'},
    )


@router.get("/{response_id}")
async def get_one(response_id: uuid.UUID, session: ReadSession, caller: Caller) -> ResponseOut:
    caller.require_responses()
    return await get_response(session, response_id, caller.scope_path)
