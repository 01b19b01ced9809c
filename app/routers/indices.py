"""Reading: satisfaction indices for dashboards (ETag + Cache-Control on every answer)."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app import indices, publications
from app.dependencies import ReadConnection, ReadingCaller
from app.errors import FieldProblem, invalid, problem_responses
from app.http_cache import INDICES_CACHE_CONTROL, NOT_MODIFIED, cached_json
from app.periods import PERIOD_DESCRIPTION, Span, window_or_problem
from app.schemas import BreakdownOut, Day, IndexReport, RankingOut, SeriesOut
from app.vocabulary import BreakdownBy, Granularity, Rule

router = APIRouter(
    prefix="/v1/indices",
    tags=["indices"],
    responses={**NOT_MODIFIED, **problem_responses(401, 403, 404, 422, 429)},
)
MAX_RANGE = timedelta(days=3700)  # about ten years


async def window(
    period: Annotated[str | None, Query(max_length=10, description=PERIOD_DESCRIPTION)] = None,
    date_from: Annotated[
        Day | None, Query(alias="from", description="First local day (with `to`)")
    ] = None,
    date_to: Annotated[Day | None, Query(alias="to", description="Last local day")] = None,
) -> Span:
    """A period, or a range of local days; each unit's days are in its own time zone."""
    chosen = window_or_problem(period, date_from, date_to)
    if chosen.start is None or chosen.end is None:
        raise invalid(
            [
                FieldProblem(
                    parameter="period",
                    detail="give a period (e.g. 2026-Q1) or both `from` and `to`",
                    code="missing",
                )
            ]
        )
    if chosen.end - chosen.start > MAX_RANGE:
        raise invalid(
            [FieldProblem(parameter="to", detail="at most ten years", code="range_too_long")]
        )
    return Span(chosen.label, chosen.start, chosen.end)


WindowDep = Annotated[Span, Depends(window)]
ServiceParam = Annotated[
    str | None,
    Query(
        max_length=129,
        description="Only this service: `unit/service` for a service of any unit of the "
        "subtree (as breakdown keys name it), or a bare code for one of the unit itself",
    ),
]
FlaggedParam = Annotated[
    bool, Query(description="Count suspected and confirmed burst responses too")
]


@router.get("/{code}", response_model=IndexReport)
async def unit_index(
    code: str,
    request: Request,
    caller: ReadingCaller,
    conn: ReadConnection,
    period: WindowDep,
    service: ServiceParam = None,
    rule: Annotated[Rule, Query(description="The roll-up behind `ikm` and `grade`")] = "pooled",
    include_children_mean: Annotated[
        bool, Query(description="Also give the plain mean of the children's IKMs")
    ] = False,
    include_flagged: FlaggedParam = False,
) -> Response:
    """The IKM of a unit and its whole subtree over a period: NRR and grade per element, the
    weakest element(s), a 95% confidence interval, sample adequacy when the population served
    is recorded, and the method that produced it."""
    caller.require("admin", "manager", "reader")
    unit = await indices.unit_in_scope(conn, caller, code)
    report = await publications.live_index(
        conn, unit, period, service, rule, include_children_mean, include_flagged
    )
    return cached_json(request, report, INDICES_CACHE_CONTROL)


@router.get("/{code}/breakdown", response_model=BreakdownOut)
async def unit_breakdown(
    code: str,
    request: Request,
    caller: ReadingCaller,
    conn: ReadConnection,
    period: WindowDep,
    by: BreakdownBy,
    service: ServiceParam = None,
    include_flagged: FlaggedParam = False,
) -> Response:
    """The index per service, child unit, channel or respondent profile field, pooled over
    the period. Groups with responses only; `key: null` gathers respondents who left the
    profile field blank."""
    caller.require("admin", "manager", "reader")
    unit = await indices.unit_in_scope(conn, caller, code)
    report = await indices.breakdown(conn, unit, period, by, service, include_flagged)
    return cached_json(request, report, INDICES_CACHE_CONTROL)


@router.get("/{code}/series", response_model=SeriesOut)
async def unit_series(
    code: str,
    request: Request,
    caller: ReadingCaller,
    conn: ReadConnection,
    period: WindowDep,
    granularity: Granularity = "month",
    service: ServiceParam = None,
    include_flagged: FlaggedParam = False,
) -> Response:
    """One point per month (quarter, semester, year) of the period, each pooled over its own
    responses; empty buckets are given with `responses: 0` and null values."""
    caller.require("admin", "manager", "reader")
    unit = await indices.unit_in_scope(conn, caller, code)
    report = await indices.series(conn, unit, period, service, granularity, include_flagged)
    return cached_json(request, report, INDICES_CACHE_CONTROL)


@router.get("/{code}/ranking", response_model=RankingOut)
async def unit_ranking(
    code: str,
    request: Request,
    caller: ReadingCaller,
    conn: ReadConnection,
    period: WindowDep,
    service: ServiceParam = None,
    include_flagged: FlaggedParam = False,
) -> Response:
    """The unit's children by IKM (each pooled over its subtree), highest first."""
    caller.require("admin", "manager", "reader")
    unit = await indices.unit_in_scope(conn, caller, code)
    report = await indices.ranking(conn, unit, period, service, include_flagged)
    return cached_json(request, report, INDICES_CACHE_CONTROL)
