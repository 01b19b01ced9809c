"""Reading: satisfaction indices for dashboards (ETag + Cache-Control on every answer)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app import indices, publications
from app.dependencies import ReadConnection, ReadingCaller
from app.errors import problem_responses
from app.http_cache import INDICES_CACHE_CONTROL, NOT_MODIFIED, cached_json
from app.schemas import BreakdownOut, IndexReport, RankingOut, SeriesOut
from app.vocabulary import BreakdownBy, Granularity, Rule
from app.windows import WindowDep

router = APIRouter(
    prefix="/v1/indices",
    tags=["indices"],
    responses={**NOT_MODIFIED, **problem_responses(401, 403, 404, 422, 429)},
)
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
