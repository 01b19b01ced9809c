"""The one data object a Laporan SKM or a poster is made from.

Every figure in it comes from the functions that serve the API (`app.indices`:
`index_report`, `breakdown`, `series`) — a document never computes a number a second way —
or, when the period was published, from the publication's frozen record. `source` says
which, and the documents print it in their footer and metadata.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app import indices
from app.documents.settings import Settings, read_settings
from app.indices import Node
from app.method import METHOD_ID
from app.models import Survey, SurveyVersion
from app.periods import Span, parse_period
from app.schemas import BreakdownOut, IndexReport, SeriesOut
from app.stored_responses import RESPONSES
from app.units import subtree_ids

PROFILE_FIELDS: Final = ("gender", "age_band", "education", "occupation")
# How many periods of the same length before this one the trend shows.
TREND_BEFORE: Final = {"year": 2, "semester": 3, "quarter": 3, "month": 5}


@dataclass(frozen=True)
class Source:
    """Where the figures come from: the live index, or a publication's frozen record."""

    publication_id: int | None = None
    published_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.publication_id is None

    def metadata(self) -> str:
        if self.publication_id is None:
            return "live, not published"
        return f"publication {self.publication_id}"


LIVE: Final = Source()


@dataclass(frozen=True)
class Questionnaire:
    version_id: int
    survey_code: str
    version: int
    definition: dict[str, Any]


@dataclass(frozen=True)
class Figures:
    unit: Node
    window: Span
    report: IndexReport
    source: Source
    settings: Settings
    # The Laporan only (a poster needs the headline alone):
    profile: dict[str, BreakdownOut] = field(default_factory=dict)
    channels: BreakdownOut | None = None
    services: BreakdownOut | None = None
    trend: SeriesOut | None = None
    suggestions: int | None = None
    questionnaires: tuple[Questionnaire, ...] = ()

    @property
    def method_id(self) -> str:
        return METHOD_ID


def period_length(label: str | None) -> str | None:
    """'year', 'semester', 'quarter' or 'month' for a period label; None for a range."""
    if label is None:
        return None
    if len(label) == 4:
        return "year"
    return {"Q": "quarter", "S": "semester"}.get(label[5], "month")


def trend_window(window: Span) -> tuple[Span, str] | None:
    """The range covering the periods of the same length before this one, and this one."""
    length = period_length(window.label)
    if length is None:
        return None
    months = {"year": 12, "semester": 6, "quarter": 3, "month": 1}[length]
    back = TREND_BEFORE[length] * months
    first = window.start.year * 12 + window.start.month - 1 - back
    start = date(first // 12, first % 12 + 1, 1)
    if start.year < 2000:
        start = date(2000, 1, 1)
    return Span(None, start, window.end), length


async def suggestion_count(conn: AsyncConnection, unit: Node, window: Span) -> int:
    """Respondents who left a written suggestion (counted like the index: flagged responses
    out); the text itself never enters a report."""
    query = select(func.count()).where(
        RESPONSES.c.unit_id.in_(subtree_ids(unit.path)),
        RESPONSES.c.local_date.between(window.start, window.end),
        RESPONSES.c.suggestion.is_not(None),
        RESPONSES.c.flag.is_(None) | (RESPONSES.c.flag == "cleared"),
    )
    return int((await conn.execute(query)).scalar_one())


_VERSIONS = (
    select(SurveyVersion.id, Survey.code, SurveyVersion.version, SurveyVersion.definition)
    .join(Survey, Survey.id == SurveyVersion.survey_id)
    .where(and_(SurveyVersion.id.in_(bindparam("ids", expanding=True))))
    .order_by(SurveyVersion.id)
)


async def questionnaires(conn: AsyncConnection, ids: list[int]) -> tuple[Questionnaire, ...]:
    if not ids:
        return ()
    rows = (await conn.execute(_VERSIONS, {"ids": ids})).all()
    return tuple(Questionnaire(r.id, r.code, r.version, r.definition) for r in rows)


async def figures(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    source: Source = LIVE,
    frozen: IndexReport | None = None,
    frozen_breakdowns: dict[str, BreakdownOut] | None = None,
    full: bool = True,
) -> Figures:
    """The figures of a unit's period: the live index (`source` LIVE), or a publication's
    frozen report and breakdowns (`frozen`, `frozen_breakdowns`, `source` naming it).
    `full=False` gives the headline only (the poster)."""
    report = frozen or await indices.index_report(
        conn, unit, window, None, "pooled", include_children_mean=False
    )
    settings = await read_settings(conn, unit.id)
    if not full:
        return Figures(unit, window, report, source, settings)
    taken = frozen_breakdowns or {}
    profile = {}
    for by in PROFILE_FIELDS:
        profile[by] = taken.get(by) or await indices.breakdown(conn, unit, window, by)
    channels = taken.get("channel") or await indices.breakdown(conn, unit, window, "channel")
    services = taken.get("service") or await indices.breakdown(conn, unit, window, "service")
    trend = None
    around = trend_window(window)
    if around is not None:
        span, length = around
        trend = await indices.series(conn, unit, span, None, length)  # type: ignore[arg-type]
    return Figures(
        unit,
        window,
        report,
        source,
        settings,
        profile=profile,
        channels=channels,
        services=services,
        trend=trend,
        suggestions=await suggestion_count(conn, unit, window),
        questionnaires=await questionnaires(conn, list(report.method.survey_versions)),
    )


def named_period(label: str) -> Span:
    """A period label as a span of local days (raises ValueError on a bad label)."""
    return parse_period(label)
