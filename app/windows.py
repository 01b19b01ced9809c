"""The period parameters of the routes, as FastAPI dependencies: a period or a range of local
days (`WindowDep`: indices, documents), and one whole period of the public length
(`PublicWindow`: the public answers and documents). Routers import them from here, never
from one another."""

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Query, Request

from app.dependencies import SettingsDep
from app.errors import FieldProblem, invalid
from app.periods import PERIOD_DESCRIPTION, Span, parse_period, period_length, window_or_problem
from app.schemas import Day

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


PublicPeriodParam = Annotated[
    str,
    Query(
        max_length=10,
        description="A whole period of the length the service publishes (SKM_PUBLIC_PERIOD): "
        "YYYY-Qn, YYYY-Sn or YYYY; served from its newest public published record",
    ),
]
_LENGTH_EXAMPLE = {"quarter": "2026-Q1", "semester": "2026-S1", "year": "2026"}


def _period_problem(detail: str, code: str, parameter: str = "period") -> Exception:
    return invalid([FieldProblem(parameter=parameter, detail=detail, code=code)])


async def public_window(request: Request, period: PublicPeriodParam, settings: SettingsDep) -> Span:
    """One whole period of the public length: never a range of days (two overlapping ranges
    differ by a few respondents) nor a month of a published quarter (nested periods differ
    the same way)."""
    for bound in ("from", "to"):
        if bound in request.query_params:
            raise _period_problem("public figures are given for whole periods", "whole", bound)
    try:
        named = parse_period(period)
    except ValueError as error:
        raise _period_problem(str(error), "bad_period") from None
    if period_length(period) != settings.public_period:
        example = _LENGTH_EXAMPLE[settings.public_period]
        raise _period_problem(
            f"public figures are given per {settings.public_period} only, e.g. {example}",
            "public_period",
        )
    return Span(period, named.start, named.end)


PublicWindow = Annotated[Span, Depends(public_window)]
