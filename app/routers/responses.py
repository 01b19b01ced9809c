"""Reading responses back for administration: filtered pages, one response, CSV export."""

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from app.db import DatabaseDep, ReadSession
from app.errors import problem_responses
from app.pagination import Cursor, Limit
from app.periods import PERIOD_DESCRIPTION
from app.response_queries import ResponseFilter, export_csv, get_response, list_responses
from app.schemas import Channel, Page, ResponseOut

router = APIRouter(prefix="/v1/responses", tags=["responses"])


def response_filter(
    unit: Annotated[str | None, Query(max_length=64, description="Unit code")] = None,
    subtree: Annotated[bool, Query(description="Include the units below `unit`")] = True,
    service: Annotated[
        str | None, Query(max_length=64, description="Service code (needs unit)")
    ] = None,
    channel: Channel | None = None,
    period: Annotated[str | None, Query(max_length=10, description=PERIOD_DESCRIPTION)] = None,
    date_from: Annotated[
        date | None, Query(alias="from", description="First local day, inclusive")
    ] = None,
    date_to: Annotated[
        date | None, Query(alias="to", description="Last local day, inclusive")
    ] = None,
) -> ResponseFilter:
    """Periods and days are those of each unit's own time zone."""
    return ResponseFilter(unit, subtree, service, channel, period, date_from, date_to)


FilterDep = Annotated[ResponseFilter, Depends(response_filter)]


@router.get("", responses=problem_responses(404, 422))
async def list_(
    session: ReadSession, filters: FilterDep, limit: Limit = 100, cursor: Cursor = None
) -> Page[ResponseOut]:
    """Ordered by collected_at, then id; the cursor stays valid while responses arrive."""
    items, following = await list_responses(session, filters, cursor, limit)
    return Page(items=items, next_cursor=following)


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "CSV, one row per response"},
        **problem_responses(404, 422),
    },
)
async def export(
    session: ReadSession,
    database: DatabaseDep,
    filters: FilterDep,
    suggestions: Annotated[
        bool, Query(description="Include the free-text suggestions (personal data may appear)")
    ] = False,
) -> StreamingResponse:
    """Streams every matching response (flat memory, any size), in the list's order."""
    rows = await export_csv(database, session, filters, suggestions)
    return StreamingResponse(
        rows,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="skm-responses.csv"'},
    )


@router.get("/{response_id}", responses=problem_responses(404, 422))
async def get_one(response_id: uuid.UUID, session: ReadSession) -> ResponseOut:
    return await get_response(session, response_id)
