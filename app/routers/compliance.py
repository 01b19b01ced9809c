"""Oversight: the compliance overview of a subtree (JSON, XLSX, PDF), the reminders a
dashboard or a scheduled job polls (with ETag), and the required periods of a unit.

Readers in scope read; the required periods are set by administrators and managers in
scope.
"""

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from app import compliance, indices
from app.audit import record
from app.auth import unit_for
from app.dependencies import Caller, ReadConnection, ReadingCaller, SettingsDep, WriteSession
from app.errors import FieldProblem, invalid, problem_responses
from app.followup_schemas import (
    ComplianceOut,
    RemindersOut,
    RequiredPeriodsIn,
    RequiredPeriodsOut,
)
from app.http_cache import INDICES_CACHE_CONTROL, NOT_MODIFIED, cached_json
from app.indices import Node
from app.schemas import Day
from app.vocabulary import CompliancePoint, Language, UnitKind

router = APIRouter(tags=["compliance"], responses=problem_responses(401, 403, 404, 422, 429))
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Year = Annotated[int, Query(ge=2000, le=2999, description="The calendar year (local days)")]
AsOf = Annotated[
    Day | None,
    Query(description="The day of reference for 'ended' and 'overdue' (default: today, local)"),
]
Failing = CompliancePoint
Lang = Annotated[Language, Query(description="Document language")]


EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)


def _today(node_zone: str) -> date:
    return datetime.now(ZoneInfo(node_zone)).date()


def _as_of(as_of: date | None, zone: str) -> date:
    """The day of reference: given (2000–2999), else today in the unit's zone."""
    if as_of is None:
        return _today(zone)
    if not EARLIEST <= as_of <= LATEST:
        raise invalid(
            [FieldProblem(parameter="as_of", detail="a day of 2000–2999", code="out_of_range")]
        )
    return as_of


async def _root(conn: ReadConnection, caller: ReadingCaller, code: str) -> tuple[Node, str]:
    caller.require("admin", "manager", "reader")
    node = await indices.unit_in_scope(conn, caller, code)
    zones = await indices.subtree_units(conn, node)
    zone = next(u.time_zone for u in zones if u.id == node.id)
    return node, zone


async def _overview(
    conn: ReadConnection,
    caller: ReadingCaller,
    settings: SettingsDep,
    code: str,
    year: int,
    as_of: date | None,
    kind: str | None,
    failing: str | None,
) -> ComplianceOut:
    node, zone = await _root(conn, caller, code)
    return await compliance.overview(
        conn,
        node,
        year,
        _as_of(as_of, zone),
        settings.compliance_grace_days,
        kind,
        failing,
    )


@router.get("/v1/compliance/{code}", responses=NOT_MODIFIED, response_model=ComplianceOut)
async def compliance_overview(
    code: str,
    request: Request,
    caller: ReadingCaller,
    conn: ReadConnection,
    settings: SettingsDep,
    year: Year,
    as_of: AsOf = None,
    kind: Annotated[UnitKind | None, Query(description="Only units of this kind")] = None,
    failing: Annotated[
        Failing | None, Query(description="Only units failing this point ('any': any point)")
    ] = None,
) -> Response:
    """One row per unit of the subtree for a year: responses per required period,
    population and minimum sample, publication, follow-up plans and their items, the IKM
    and its change from the previous year; a summary of how many units complied on each
    point. Sent with an ETag."""
    out = await _overview(conn, caller, settings, code, year, as_of, kind, failing)
    return cached_json(request, out, INDICES_CACHE_CONTROL)


# The documents are made in the thread pool, where their libraries (ReportLab, XlsxWriter)
# also load with the first one: not on the event loop, which serves the worker's other
# requests.


def _workbook(out: ComplianceOut, lang: Language) -> bytes:
    from app.documents.compliance import workbook

    return workbook(out, lang)


def _pdf_table(out: ComplianceOut, lang: Language) -> bytes:
    from app.documents.compliance import pdf_table

    return pdf_table(out, lang)


def _document(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/v1/compliance/{code}/overview.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}, "description": "The overview as a workbook"}},
)
async def compliance_workbook(
    code: str,
    caller: ReadingCaller,
    conn: ReadConnection,
    settings: SettingsDep,
    year: Year,
    as_of: AsOf = None,
    kind: Annotated[UnitKind | None, Query(description="Only units of this kind")] = None,
    failing: Annotated[Failing | None, Query(description="Only units failing this point")] = None,
    lang: Lang = "id",
) -> Response:
    """The overview as an XLSX workbook: summary, one row per unit, one row per unit and
    required period."""
    out = await _overview(conn, caller, settings, code, year, as_of, kind, failing)
    body = await run_in_threadpool(_workbook, out, lang)
    return _document(body, XLSX, f"kepatuhan-skm-{code}-{year}.xlsx")


@router.get(
    "/v1/compliance/{code}/overview.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The overview table"}},
)
async def compliance_table(
    code: str,
    caller: ReadingCaller,
    conn: ReadConnection,
    settings: SettingsDep,
    year: Year,
    as_of: AsOf = None,
    kind: Annotated[UnitKind | None, Query(description="Only units of this kind")] = None,
    failing: Annotated[Failing | None, Query(description="Only units failing this point")] = None,
    lang: Lang = "id",
) -> Response:
    """The overview as a landscape A4 PDF table, for a meeting or an assessor's visit."""
    out = await _overview(conn, caller, settings, code, year, as_of, kind, failing)
    body = await run_in_threadpool(_pdf_table, out, lang)
    return _document(body, "application/pdf", f"kepatuhan-skm-{code}-{year}.pdf")


@router.get("/v1/reminders/{code}", responses=NOT_MODIFIED, response_model=RemindersOut)
async def reminders(
    code: str,
    request: Request,
    caller: ReadingCaller,
    conn: ReadConnection,
    settings: SettingsDep,
    as_of: AsOf = None,
) -> Response:
    """Follow-up items past their target date, and units without a published result for a
    required period (of this year or the last) past the grace period: for a dashboard or a
    scheduled job to poll (ETag; If-None-Match answers 304)."""
    node, zone = await _root(conn, caller, code)
    out = await compliance.reminders(
        conn, node, _as_of(as_of, zone), settings.compliance_grace_days
    )
    return cached_json(request, out, INDICES_CACHE_CONTROL)


@router.get("/v1/units/{code}/required-periods")
async def get_required_periods(
    code: str, caller: ReadingCaller, conn: ReadConnection
) -> RequiredPeriodsOut:
    """Which periods the unit must survey and publish, and where the setting comes from."""
    caller.require("admin", "manager", "reader")
    unit = await indices.unit_in_scope(conn, caller, code)
    return await compliance.required_periods_out(conn, unit)


@router.put("/v1/units/{code}/required-periods", responses=problem_responses(400, 413))
async def set_required_periods(
    code: str, body: RequiredPeriodsIn, session: WriteSession, caller: Caller
) -> RequiredPeriodsOut:
    """Set the unit's required periods (inherited by its subtree); null follows the
    parent again."""
    caller.require("admin", "manager")
    unit = await unit_for(session, caller, code)
    conn = await session.connection()
    await compliance.set_required_periods(conn, unit, body.required_periods)
    await record(session, caller, "required_periods.set", f"unit:{code}", body.model_dump())
    return await compliance.required_periods_out(conn, unit)
