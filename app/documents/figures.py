"""The one data object a Laporan SKM or a poster is made from.

Every figure in it comes from the functions that serve the API (`app.indices`:
`index_report`, `breakdown`, `series`) — a document never computes a number a second way —
or, when the period was published, from the publication's frozen record. `source` says
which, and the documents print it in their footer and metadata. The follow-up of Bab IV is
`app.evaluation.report_followup`'s, as the plans' API gives it (live, on the same
connection).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app import indices
from app.documents.settings import Settings, read_settings
from app.evaluation import report_followup
from app.followup_schemas import ReportFollowup
from app.indices import Node
from app.method import METHOD_ID
from app.models import Survey, SurveyVersion
from app.periods import Span
from app.publications import current_publication, has_public_record
from app.schemas import (
    BreakdownOut,
    FrozenReport,
    IndexReport,
    IndexValue,
    PublicBreakdown,
    PublicIndex,
    PublicValue,
    SeriesOut,
)
from app.stored_responses import RESPONSES
from app.units import subtree_ids

PROFILE_FIELDS: Final = ("gender", "age_band", "education", "occupation")
PROFILE_COLUMNS: Final = (*PROFILE_FIELDS, "channel")
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
        published = self.published_at.isoformat() if self.published_at is not None else ""
        return f"publication {self.publication_id} of {published}"


LIVE: Final = Source()


@dataclass(frozen=True)
class Questionnaire:
    version_id: int
    survey_code: str
    version: int
    definition: dict[str, Any]


# Respondents per option of one profile field or channel, in the order the breakdowns use.
Counts = tuple[tuple[str | None, int], ...]


@dataclass(frozen=True)
class Figures:
    unit: Node
    window: Span
    report: IndexReport
    source: Source
    settings: Settings
    # The Laporan only (a poster needs the headline alone):
    profile: dict[str, Counts] = field(default_factory=dict)
    channels: Counts | None = None
    services: BreakdownOut | None = None
    trend: SeriesOut | None = None
    suggestions: int | None = None
    questionnaires: tuple[Questionnaire, ...] = ()
    # Bab IV: the previous period's follow-up plan with its evaluation, and this period's
    # (None for a range of days, which has no previous period; never in a public document).
    followup: ReportFollowup | None = None
    # A public document: the record's public figures — the unit's own responses under the
    # suppression rule — which are all it shows (PublicReport, the poster's headline).
    public_index: PublicIndex | None = None
    public_services: PublicBreakdown | None = None

    @property
    def headline(self) -> IndexValue | PublicValue:
        """What a poster shows: the public figures of a public document, else the index."""
        if self.public_index is not None and self.public_index.value is not None:
            return self.public_index.value
        return self.report.pooled

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


def _counted(unit: Node, window: Span) -> list[ColumnElement[bool]]:
    """The rows the index counts: the unit's subtree over the period, flagged ones out."""
    return [
        RESPONSES.c.unit_id.in_(subtree_ids(unit.path)),
        RESPONSES.c.local_date.between(window.start, window.end),
        RESPONSES.c.flag.is_(None) | (RESPONSES.c.flag == "cleared"),
    ]


def _ordered(counts: dict[str | None, int]) -> Counts:
    """Like the breakdowns: by key, the blank (None) last."""
    return tuple(sorted(counts.items(), key=lambda item: (item[0] is None, str(item[0]))))


async def respondent_counts(
    conn: AsyncConnection, unit: Node, window: Span
) -> tuple[dict[str, Counts], Counts]:
    """Respondents by each profile field and by channel — the `responses` of the API's
    breakdowns by those fields — in one pass over the period's rows instead of five: one
    GROUP BY over all five columns, folded here by field. On PostgreSQL the index
    ix_responses_unit_day carries the five columns and the flag, so the pass reads the
    index alone (an index-only scan), never the rows."""
    keys = [RESPONSES.c[name] for name in PROFILE_COLUMNS]
    query = select(*keys, func.count().label("n")).where(*_counted(unit, window)).group_by(*keys)
    folded: dict[str, dict[str | None, int]] = {name: {} for name in PROFILE_COLUMNS}
    for row in await conn.execute(query):
        for name, key in zip(PROFILE_COLUMNS, row[:-1], strict=True):
            folded[name][key] = folded[name].get(key, 0) + row.n
    profile = {name: _ordered(folded[name]) for name in PROFILE_FIELDS}
    return profile, _ordered(folded["channel"])


def _from_breakdown(breakdown: BreakdownOut) -> Counts:
    return tuple((group.key, group.value.responses) for group in breakdown.groups)


async def suggestion_count(
    conn: AsyncConnection, unit: Node, window: Span, received_by: datetime | None = None
) -> int:
    """Respondents who left a written suggestion (counted like the index: flagged responses
    out), received by `received_by` when given (a publication's time); the text itself never
    enters a report. PostgreSQL answers it from the partial index ix_responses_suggestion."""
    query = select(func.count()).where(*_counted(unit, window), RESPONSES.c.suggestion.is_not(None))
    if received_by is not None:
        query = query.where(RESPONSES.c.received_at <= received_by)
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


# A publication as the documents read it: where from, its figures, and its stored report
# (which also keeps the report settings it was published with).
Published = tuple[Source, FrozenReport, dict[str, Any]]


async def publication_source(conn: AsyncConnection, unit: Node, window: Span) -> Published | None:
    """The newest record published for the unit over exactly this period, if any."""
    if window.label is None:
        return None
    row = await current_publication(conn, unit.id, window.start, window.end + timedelta(days=1))
    if row is None:
        return None
    return Source(row.id, row.published_at), FrozenReport.model_validate(row.report), row.report


async def figures(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    full: bool = True,
    published: Published | None = None,
    live: bool = False,
) -> Figures:
    """The figures of a unit's period: those of the newest record published for exactly this
    period when there is one (`published`, or looked up unless `live`), the live index
    otherwise. `full=False` gives the headline only (the poster)."""
    if published is None and not live:
        published = await publication_source(conn, unit, window)
    settings = await read_settings(conn, unit.id, published[2] if published else None)
    if published is not None:
        source, frozen, _ = published
        report = frozen.index
    else:
        source, frozen = LIVE, None
        report = await indices.index_report(
            conn, unit, window, None, "pooled", include_children_mean=False
        )
    if not full:
        return Figures(unit, window, report, source, settings)
    if frozen is not None:
        taken = frozen.breakdowns
        profile = {by: _from_breakdown(taken[by]) for by in PROFILE_FIELDS}
        channels = _from_breakdown(taken["channel"])
        services = taken["service"]
    else:
        profile, channels = await respondent_counts(conn, unit, window)
        services = await indices.breakdown(conn, unit, window, "service")
    trend = None
    around = trend_window(window)
    if around is not None:
        span, length = around
        trend = await indices.series(conn, unit, span, None, length)  # type: ignore[arg-type]
        if frozen is not None and trend.points:
            # This period's point is the published one; the periods before it are live.
            last = trend.points[-1]
            points = [*trend.points[:-1], last.model_copy(update={"value": report.pooled})]
            trend = trend.model_copy(update={"points": points})
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
        suggestions=await suggestion_count(conn, unit, window, source.published_at),
        questionnaires=await questionnaires(conn, list(report.method.survey_versions)),
        followup=await report_followup(conn, unit.code, window) if window.label else None,
    )


def public_result_url(base: str, code: str, period: str) -> str:
    """Where a poster's QR code leads: the unit's public result for the period."""
    return f"{base.rstrip('/')}/v1/public/indices/{code}?period={period}"


async def poster_link(
    conn: AsyncConnection, unit: Node, period: str, base: str | None
) -> str | None:
    """The public result a keyed poster's QR code leads to: only for a public unit, a period
    with a public record (elsewhere the link would answer 404 or 422), and a known address."""
    if base is None or not unit.public:
        return None
    if not await has_public_record(conn, unit.code, period):
        return None
    return public_result_url(base, unit.code, period)
