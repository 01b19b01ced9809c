"""Documents an officer files, downloaded: the processing workbook (XLSX)."""

import asyncio
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from app.dependencies import Caller, DatabaseDep
from app.documents.workbook import Language, generate_workbook
from app.errors import FieldProblem, invalid, problem_responses
from app.periods import PERIOD_DESCRIPTION, Span, window_or_problem
from app.schemas import Day

router = APIRouter(
    prefix="/v1/units",
    tags=["documents"],
    responses=problem_responses(401, 403, 404, 422, 429),
)

# --- the processing workbook ------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WORKBOOK_MAX_RANGE = timedelta(days=3700)  # about ten years, as the indices


async def workbook_window(
    period: Annotated[str | None, Query(max_length=10, description=PERIOD_DESCRIPTION)] = None,
    date_from: Annotated[
        Day | None, Query(alias="from", description="First local day (with `to`)")
    ] = None,
    date_to: Annotated[Day | None, Query(alias="to", description="Last local day")] = None,
) -> Span:
    """A period, or a range of local days; each unit's days are in its own time zone."""
    chosen = window_or_problem(period, date_from, date_to)
    if chosen.start is None or chosen.end is None:
        detail = "give a period (e.g. 2026-Q1) or both `from` and `to`"
        raise invalid([FieldProblem(parameter="period", detail=detail, code="missing")])
    if chosen.end - chosen.start > WORKBOOK_MAX_RANGE:
        raise invalid(
            [FieldProblem(parameter="to", detail="at most ten years", code="range_too_long")]
        )
    return Span(chosen.label, chosen.start, chosen.end)


@router.get(
    "/{code}/documents/workbook.xlsx",
    response_class=FileResponse,
    responses={200: {"content": {XLSX: {}}, "description": "The processing workbook (XLSX)"}},
)
async def workbook(
    code: str,
    caller: Caller,
    database: DatabaseDep,
    period: Annotated[Span, Depends(workbook_window)],
    include_suggestions: Annotated[
        bool,
        Query(description="Add a sheet of the free-text suggestions (personal data may appear)"),
    ] = False,
    lang: Annotated[Language, Query(description="id (Bahasa Indonesia) or en")] = "id",
) -> FileResponse:
    """The processing workbook (*olah data*) of the unit's subtree over a period: one row
    per respondent as answered, and live formulas (with their values cached) from the
    column totals to the NRR, the weighted NRR, the index, the IKM and its grade; the
    respondent profile, per service, per channel, the method. Needs response rows
    (`read_responses`)."""
    caller.require_responses()
    directory = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="skm-workbook-"))
    try:
        path, _ = await generate_workbook(
            database, caller, code, period, include_suggestions, lang, directory
        )
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, directory, True)
        raise
    return FileResponse(
        path,
        media_type=XLSX,
        filename=path.name,
        background=BackgroundTask(shutil.rmtree, directory, True),
    )
