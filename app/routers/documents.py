"""Documents: a unit's report settings, the processing workbook (XLSX), the Laporan SKM (PDF)
and the poster (PDF, PNG)."""

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from app import indices, publications
from app.audit import record
from app.auth import unit_for
from app.config import Settings
from app.dependencies import (
    Caller,
    DatabaseDep,
    PublicReadConnection,
    ReadConnection,
    ReadingCaller,
    ReadSession,
    SettingsDep,
    WriteSession,
    public_client,
)
from app.documents import settings as report_settings
from app.documents.figures import (
    Figures,
    Source,
    figures,
    poster_link,
    public_result_url,
    questionnaires,
)
from app.documents.texts import Lang
from app.errors import FieldProblem, ProblemError, invalid, problem_responses
from app.models import Publication
from app.periods import PERIOD_DESCRIPTION, Span, parse_period
from app.schemas import FrozenReport
from app.vocabulary import Language
from app.windows import PublicWindow, WindowDep

router = APIRouter(
    prefix="/v1/units/{code}",
    tags=["documents"],
    responses=problem_responses(401, 403, 404, 422, 429),
)
WRITE = problem_responses(400, 413)  # besides the router's


# The PDF libraries (ReportLab, Pillow, pypdfium2) load with the first document a worker is
# asked for, and in the thread pool, where the documents are made: not at start, nor on the
# event loop (their import holds every other request of the worker for a moment).


def _laporan_pdf(data: Figures, lang: Lang) -> bytes:
    from app.documents.report import laporan_pdf

    return laporan_pdf(data, lang)


def _poster_pdf(data: Figures, lang: Lang, url: str | None) -> bytes:
    from app.documents.poster import poster_pdf

    return poster_pdf(data, lang, url)


def _poster_png(pdf: bytes) -> bytes:
    from app.documents.poster import poster_png

    return poster_png(pdf)


def _binary(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": what,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        }
    }


PDF = "application/pdf"
PNG = "image/png"
PeriodParam = Annotated[str, Query(max_length=10, description=PERIOD_DESCRIPTION)]
LangParam = Annotated[Lang, Query(description="id (Bahasa Indonesia, the default) or en")]
LiveParam = Annotated[
    bool,
    Query(
        description="true: the live index even when the period was published (by default a "
        "published period's document is made from its newest record)"
    ),
]


def named_period(period: str) -> Span:
    try:
        return parse_period(period)
    except ValueError as error:
        raise invalid(
            [FieldProblem(parameter="period", detail=str(error), code="bad_period")]
        ) from None


def document(body: bytes, media_type: str, filename: str, public: bool = False) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            # A public record never changes; a new revision is a new record.
            "Cache-Control": "public, max-age=300" if public else "private, no-cache",
        },
    )


# --- report settings -------------------------------------------------------------------------


@router.get("/report-settings")
async def get_report_settings(
    code: str, session: ReadSession, caller: Caller
) -> report_settings.ReportSettingsOut:
    """The unit's texts and logo for its Laporan SKM (null: the default text is used)."""
    caller.require("admin", "manager", "reader")
    unit = await unit_for(session, caller, code)
    return await report_settings.get_settings_out(session, unit.id, unit.code)


@router.put("/report-settings", responses=WRITE)
async def put_report_settings(
    code: str, body: report_settings.ReportSettingsIn, session: WriteSession, caller: Caller
) -> report_settings.ReportSettingsOut:
    """Replace the unit's report settings (a field left out goes back to its default)."""
    caller.require("admin", "manager")
    unit = await unit_for(session, caller, code)
    stored = await report_settings.put_settings(session, unit.id, unit.code, body)
    # Which fields are set, never their text (a foreword is free text).
    changed = {
        name: getattr(body, name) is not None
        for name in report_settings.ReportSettingsIn.model_fields
    }
    await record(session, caller, "report_settings.set", f"unit:{code}", changed)
    return stored


# --- the processing workbook ------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/documents/workbook.xlsx",
    response_class=FileResponse,
    responses={200: {"content": {XLSX: {}}, "description": "The processing workbook (XLSX)"}},
)
async def workbook(
    code: str,
    caller: Caller,
    database: DatabaseDep,
    period: WindowDep,
    include_suggestions: Annotated[
        bool,
        Query(description="Add a sheet of the free-text suggestions (personal data may appear)"),
    ] = False,
    lang: Annotated[Language, Query(description="id (Bahasa Indonesia) or en")] = "id",
    live: LiveParam = False,
) -> FileResponse:
    """The processing workbook (*olah data*) of the unit's subtree over a period: one row
    per respondent as answered, and live formulas (with their values cached) from the
    column totals to the NRR, the weighted NRR, the index, the IKM and its grade; the
    respondent profile, per service, per channel, the method. Needs response rows
    (`read_responses`). When the days asked for are exactly those of a published record,
    its newest revision's figures with the rows it counted (received by its time); the live
    workbook, marked "live; differs from publication N", when those rows no longer make
    its figures; `live=true`: the live workbook whatever was published (marked the same
    way when it differs from the record)."""
    caller.require_responses()
    directory = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="skm-workbook-"))
    try:
        from app.documents.workbook import (
            generate_workbook,  # the document libraries load on first use
        )

        path, _ = await generate_workbook(
            database, caller, code, period, include_suggestions, lang, directory, live=live
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


# --- the documents ---------------------------------------------------------------------------


@router.get(
    "/documents/report.pdf",
    response_class=Response,
    responses=_binary(PDF, "The Laporan Hasil SKM of the unit (its subtree) and period"),
)
async def get_report_pdf(
    code: str,
    caller: ReadingCaller,
    conn: ReadConnection,
    period: PeriodParam,
    lang: LangParam = "id",
    live: LiveParam = False,
) -> Response:
    """The Laporan SKM: cover, Kata Pengantar, Bab I–V and annexes, from the newest record
    published for exactly this period when there is one, the live index otherwise; the
    cover, footer and metadata say which (the publication's id and date, or "live, not
    published")."""
    caller.require("admin", "manager", "reader")
    window = named_period(period)
    unit = await indices.unit_in_scope(conn, caller, code)
    data = await figures(conn, unit, window, live=live)
    body = await run_in_threadpool(_laporan_pdf, data, lang)
    return document(body, PDF, f"laporan-skm-{unit.code}-{period}-{lang}.pdf")


async def _poster(
    request: Request,
    code: str,
    caller: ReadingCaller,
    conn: ReadConnection,
    settings: SettingsDep,
    period: str,
    lang: Lang,
    live: bool,
    form: Literal["pdf", "png"],
) -> Response:
    caller.require("admin", "manager", "reader")
    window = named_period(period)
    unit = await indices.unit_in_scope(conn, caller, code)
    data = await figures(conn, unit, window, full=False, live=live)
    base = settings.public_base_url or str(request.base_url)
    url = await poster_link(conn, unit, period, base)

    pdf = await run_in_threadpool(_poster_pdf, data, lang, url)
    name = f"poster-skm-{unit.code}-{period}-{lang}"
    if form == "pdf":
        return document(pdf, PDF, f"{name}.pdf")
    return document(await run_in_threadpool(_poster_png, pdf), PNG, f"{name}.png")


@router.get(
    "/documents/poster.pdf",
    response_class=Response,
    responses=_binary(PDF, "The poster (Infografis SKM): one A4 page"),
)
async def get_poster_pdf(
    request: Request,
    code: str,
    caller: ReadingCaller,
    conn: ReadConnection,
    settings: SettingsDep,
    period: PeriodParam,
    lang: LangParam = "id",
    live: LiveParam = False,
) -> Response:
    """The poster to print: IKM, grade, the nine elements, respondents; a QR code to the
    unit's public result when the unit is public."""
    return await _poster(request, code, caller, conn, settings, period, lang, live, "pdf")


@router.get(
    "/documents/poster.png",
    response_class=Response,
    responses=_binary(PNG, "The poster rendered for screens (150 dpi)"),
)
async def get_poster_png(
    request: Request,
    code: str,
    caller: ReadingCaller,
    conn: ReadConnection,
    settings: SettingsDep,
    period: PeriodParam,
    lang: LangParam = "id",
    live: LiveParam = False,
) -> Response:
    """The poster as a PNG image (A4 at 150 dpi)."""
    return await _poster(request, code, caller, conn, settings, period, lang, live, "png")


# --- public variants ---------------------------------------------------------------------------

# Without a key, for public units only, and only from the period's newest public record: its
# public figures (the unit's own responses under the suppression rule), never free text.
public_router = APIRouter(
    prefix="/v1/public/units/{code}/documents",
    tags=["public"],
    dependencies=[Depends(public_client)],
    responses=problem_responses(404, 409, 422, 429),
)


async def _public_figures(conn: AsyncConnection, code: str, window: Span) -> Figures:
    public = await publications.public_period_figures(conn, code, str(window.label))
    index = public.index
    if index.suppressed or index.value is None or index.publication_id is None:
        raise ProblemError(
            409,
            "suppressed",
            "Suppressed",
            f"The public figures of {window.label} are withheld: fewer than "
            f"{index.min_group} respondents back them, so there is no public document.",
        )
    unit = await indices.find_unit(conn, code)
    assert unit is not None  # public_period_figures answered 404 otherwise
    row = (
        await conn.execute(
            select(Publication.published_at, Publication.report).where(
                Publication.id == index.publication_id
            )
        )
    ).one()
    return Figures(
        unit,
        window,
        FrozenReport.model_validate(row.report).index,  # not shown: the poster reads headline
        Source(index.publication_id, row.published_at),
        await report_settings.read_settings(conn, unit.id, row.report),
        questionnaires=await questionnaires(conn, list(index.method.survey_versions)),
        public_index=index,
        public_services=public.breakdown,
    )


async def _public_poster(
    request: Request,
    code: str,
    window: Span,
    conn: AsyncConnection,
    settings: Settings,
    lang: Lang,
    form: Literal["pdf", "png"],
) -> Response:
    data = await _public_figures(conn, code, window)
    url = public_result_url(
        settings.public_base_url or str(request.base_url), code, str(window.label)
    )

    pdf = await run_in_threadpool(_poster_pdf, data, lang, url)
    name = f"poster-skm-{code}-{window.label}-{lang}"
    if form == "pdf":
        return document(pdf, PDF, f"{name}.pdf", public=True)
    return document(await run_in_threadpool(_poster_png, pdf), PNG, f"{name}.png", public=True)


@public_router.get(
    "/report.pdf",
    response_class=Response,
    responses=_binary(PDF, "The Laporan of the period's newest public record"),
)
async def get_public_report_pdf(
    code: str,
    window: PublicWindow,
    conn: PublicReadConnection,
    lang: LangParam = "id",
) -> Response:
    """The Laporan SKM of a public unit from the period's newest public record: its public
    figures only (the unit's own responses, suppression applied; no profile, channel,
    interval, trend or suggestion count). 404 when the unit is not public or the period has
    no public record (`not-published`); 409 `suppressed` when its figures are withheld."""
    data = await _public_figures(conn, code, window)
    body = await run_in_threadpool(_laporan_pdf, data, lang)
    return document(body, PDF, f"laporan-skm-{code}-{window.label}-{lang}.pdf", public=True)


@public_router.get(
    "/poster.pdf",
    response_class=Response,
    responses=_binary(PDF, "The poster of the period's newest public record (one A4 page)"),
)
async def get_public_poster_pdf(
    request: Request,
    code: str,
    window: PublicWindow,
    conn: PublicReadConnection,
    settings: SettingsDep,
    lang: LangParam = "id",
) -> Response:
    """The poster of a public unit, from the period's newest public record: its public
    figures only (the unit's own responses under the suppression rule). 404 when the unit is
    not public or the period has no public record (`not-published`); 409 `suppressed` when
    the record's public figures are withheld (too few respondents)."""
    return await _public_poster(request, code, window, conn, settings, lang, "pdf")


@public_router.get(
    "/poster.png",
    response_class=Response,
    responses=_binary(PNG, "The public poster rendered for screens (150 dpi)"),
)
async def get_public_poster_png(
    request: Request,
    code: str,
    window: PublicWindow,
    conn: PublicReadConnection,
    settings: SettingsDep,
    lang: LangParam = "id",
) -> Response:
    """The public poster as a PNG image (A4 at 150 dpi); 404 and 409 as for the PDF."""
    return await _public_poster(request, code, window, conn, settings, lang, "png")
