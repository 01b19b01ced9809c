"""/v1 paper forms: the printable questionnaire, the import template, imports (upload, job
status, the refused rows, withdrawal), and the correction of one stored paper response."""

import re
import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from app.audit import record as audit
from app.auth import unit_for
from app.dependencies import Caller, ReadSession, SettingsDep, VersionsDep, WriteSession
from app.errors import FieldProblem, invalid, problem_responses
from app.forms import unit_form
from app.imports import corrections, records, template
from app.imports.jobs import Runner
from app.imports.printing import record_run, today_in
from app.imports.schemas import ImportOut, Language, PaperCorrection, PrintRequest
from app.schemas import FormOut, ParamId, ResponseOut
from app.surveys import version_by_id

router = APIRouter(tags=["paper"], responses=problem_responses(401, 403, 404, 422, 429))

PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_PATHS = re.compile(r"^/v1/units/[^/]+/imports$")
FileName = Annotated[str | None, Query(max_length=200, description="Shown in the job's status")]


def _sheets(form: FormOut, codes: list[str], language: Language, day: date) -> bytes:
    from app.documents.sheet import SheetRun, render

    return render(SheetRun(form, codes, language, day))


@router.post(
    "/v1/units/{code}/sheets",
    response_class=Response,
    responses={200: {"content": {PDF: {}}, "description": "The sheets, one A4 page each"}},
)
async def print_sheets(
    code: str, body: PrintRequest, session: WriteSession, caller: Caller, settings: SettingsDep
) -> Response:
    """A print run: `sheets` questionnaires for the unit, each with a new code (written and
    as a QR code) recorded for the unit, so that its import is recognised."""
    caller.require("admin", "manager", "collector")
    unit = await unit_for(session, caller, code)
    form = await unit_form(session, code, settings)
    if body.survey_version_id is not None:
        version = await version_by_id(session, body.survey_version_id, caller.scope_path)
        form = form.model_copy(update={"survey_version": version})
    run, codes = await record_run(
        session, caller.key_id, unit, form.survey_version.id, body.sheets, body.language
    )
    await audit(
        session, caller, "print-sheets", unit.code, {"print_run": run.id, "sheets": body.sheets}
    )
    # Made in the thread pool, where the PDF libraries also load with the first run: the
    # event loop serves the worker's other requests meanwhile (on SQLite the print run's
    # write transaction still holds the database's write turn until the answer).
    pdf = await run_in_threadpool(_sheets, form, codes, body.language, today_in(unit.time_zone))
    return Response(
        pdf,
        media_type=PDF,
        headers={
            "Content-Disposition": f'attachment; filename="skm-{unit.code}-{run.id}.pdf"',
            "X-Print-Run": str(run.id),
        },
    )


@router.get(
    "/v1/units/{code}/import-template",
    response_class=Response,
    responses={200: {"content": {XLSX: {}, "text/csv": {}}, "description": "The template"}},
)
async def get_import_template(
    code: str,
    session: ReadSession,
    caller: Caller,
    settings: SettingsDep,
    format: Literal["xlsx", "csv"] = "xlsx",
    language: Language = "id",
) -> Response:
    """The workbook (or CSV) to transcribe paper sheets into: one row per respondent."""
    caller.require("admin", "manager")
    unit = await unit_for(session, caller, code)
    form = await unit_form(session, code, settings)
    name = f"skm-{unit.code}-v{form.survey_version.id}"
    if format == "csv":
        return Response(
            template.csv_text(form),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return Response(
        await run_in_threadpool(template.workbook, form, language),  # off the event loop
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


def _runner(request: Request) -> Runner:
    runner: Runner = request.app.state.imports
    return runner


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file itself (XLSX or CSV), up to SKM_MAX_UPLOAD_BYTES",
        "content": {
            XLSX: {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "/v1/units/{code}/imports",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(400, 409, 413),
    openapi_extra=UPLOAD_BODY,
)
async def create_import(
    code: str,
    request: Request,
    session: WriteSession,
    caller: Caller,
    response: Response,
    background: BackgroundTasks,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    file_name: FileName = None,
    survey_version_id: ParamId | None = None,
) -> ImportOut:
    """Import a file of transcribed sheets as a job: 202 with its status, then poll
    `GET /v1/imports/{id}`. A dry run reports what would be stored, refused and already
    present, storing nothing; `all_or_nothing` stores nothing unless every row can be."""
    caller.require("admin", "manager")
    unit = await unit_for(session, caller, code)
    content = await request.body()
    if not content:
        raise invalid([FieldProblem(parameter="file", detail="the file is empty", code="empty")])
    record = await records.create(
        session,
        caller.key_id,
        caller.name,
        unit,
        content,
        file_name,
        dry_run,
        all_or_nothing,
        survey_version_id,
    )
    await session.flush()
    runner = _runner(request)
    import_id = record.id
    # Started once the response is sent, so after the request's transaction committed; the
    # job is given the file it would otherwise read back from the database.
    background.add_task(runner.launch, import_id, content)
    response.headers["Location"] = f"/v1/imports/{import_id}"
    return await records.status(session, record, unit)


@router.get("/v1/imports/{import_id}")
async def get_import(import_id: ParamId, session: ReadSession, caller: Caller) -> ImportOut:
    """An import's progress (rows read, stored, refused, percent) and, once done, its
    counts and refusals."""
    caller.require("admin", "manager")
    record, unit = await records.find(session, caller, import_id)
    return await records.status(session, record, unit)


@router.get(
    "/v1/imports/{import_id}/refused.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "The rows not stored"}},
)
async def get_import_refusals(import_id: ParamId, session: ReadSession, caller: Caller) -> Response:
    """The rows not stored, with a column giving every reason: correct them and import the
    workbook again."""
    caller.require("admin", "manager")
    record, _ = await records.find(session, caller, import_id)
    return Response(
        await records.refused_workbook(session, record),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="import-{record.id}-refused.xlsx"'},
    )


@router.post("/v1/imports/{import_id}/withdraw", responses=problem_responses(409))
async def withdraw_import(import_id: ParamId, session: WriteSession, caller: Caller) -> ImportOut:
    """Take every response the import stored out of the indices (audit-logged), e.g.
    before importing a corrected version of a file without sheet codes."""
    caller.require("admin", "manager")
    record, unit = await records.find(session, caller, import_id)
    await records.withdraw(session, caller, record, unit)
    return await records.status(session, record, unit)


@router.patch(
    "/v1/responses/{response_id}",
    responses=problem_responses(409),
)
async def correct_paper_response(
    response_id: uuid.UUID,
    body: PaperCorrection,
    session: WriteSession,
    caller: Caller,
    versions: VersionsDep,
    settings: SettingsDep,
) -> ResponseOut:
    """Correct a transcription error in a stored paper response (the aggregates follow)."""
    caller.require("admin", "manager")
    return await corrections.correct(session, caller, response_id, body, versions, settings)


@router.delete(
    "/v1/responses/{response_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(409),
)
async def withdraw_paper_response(
    response_id: uuid.UUID, session: WriteSession, caller: Caller
) -> Response:
    """Withdraw a stored paper response from the indices; importing its sheet again does not
    bring it back."""
    caller.require("admin", "manager")
    await corrections.withdraw(session, caller, response_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
