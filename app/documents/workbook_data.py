"""The processing workbook's data: its figures (one `FigureSource`: the live index, or a
published record), the breakdowns beside them, and the respondent rows they count, streamed
in batches from the same snapshot."""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app import indices
from app.documents.workbook_style import Language, text
from app.indices import Node
from app.method import ELEMENTS
from app.models import Service, Unit
from app.periods import Span
from app.schemas import BreakdownOut, IndexReport
from app.stored_responses import RESPONSES
from app.units import subtree_ids
from app.vocabulary import PROFILE_FIELDS, BreakdownBy

BATCH: Final = 2000
BREAKDOWNS: Final[tuple[BreakdownBy, ...]] = (
    "service",
    "channel",
    "gender",
    "age_band",
    "education",
    "occupation",
)


@dataclass(frozen=True)
class FigureSource:
    """Where the headline figures come from: the live index, or a published record (its
    frozen report and id). The workbook names it in its metadata and in a visible cell."""

    report: IndexReport
    publication_id: str | None = None

    def label(self, lang: Language) -> str:
        if self.publication_id is None:
            return text("live", lang)
        return f"{text('published', lang)} {self.publication_id}"

    @property
    def metadata(self) -> str:
        return self.publication_id or "live, not published"


@dataclass(frozen=True)
class WorkbookData:
    """Everything the workbook shows but the respondent rows, which are streamed."""

    unit: Node
    window: Span
    source: FigureSource
    breakdowns: dict[str, BreakdownOut]  # by what (service, channel, gender, …)
    include_suggestions: bool
    lang: Language


async def live_source(conn: AsyncConnection, unit: Node, window: Span) -> FigureSource:
    """The live index of the unit's subtree (pooled), exactly as `GET /v1/indices` gives it."""
    report = await indices.index_report(conn, unit, window, None, "pooled", False)
    return FigureSource(report)


async def workbook_data(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    include_suggestions: bool,
    lang: Language = "id",
    source: FigureSource | None = None,
) -> WorkbookData:
    """The workbook's figures: the given source, or the live index when there is none."""
    chosen = source if source is not None else await live_source(conn, unit, window)
    breakdowns: dict[str, BreakdownOut] = {
        by: await indices.breakdown(conn, unit, window, by) for by in BREAKDOWNS
    }
    return WorkbookData(unit, window, chosen, breakdowns, include_suggestions, lang)


# --- the respondent rows -----------------------------------------------------------------------


def _rows_query(unit: Node, window: Span, suggestions: bool) -> Select[Any]:
    """The responses the index counts (flagged ones left out), by local day then time."""
    columns = [
        RESPONSES.c.local_date,
        Unit.code.label("unit_code"),
        Service.code.label("service_code"),
        RESPONSES.c.channel,
        *(RESPONSES.c[e] for e in ELEMENTS),
        *(RESPONSES.c[p] for p in PROFILE_FIELDS),
    ]
    if suggestions:
        columns.append(RESPONSES.c.suggestion)
    return (
        select(*columns)
        .join(Unit, Unit.id == RESPONSES.c.unit_id)
        .join(Service, Service.id == RESPONSES.c.service_id)
        .where(
            RESPONSES.c.unit_id.in_(subtree_ids(unit.path)),
            RESPONSES.c.local_date.between(window.start, window.end),
            RESPONSES.c.flag.is_(None) | (RESPONSES.c.flag == "cleared"),
        )
        .order_by(RESPONSES.c.local_date, RESPONSES.c.collected_at, RESPONSES.c.id)
    )


async def respondent_batches(
    conn: AsyncConnection, unit: Node, window: Span, suggestions: bool
) -> AsyncIterator[Sequence[Any]]:
    """The counted responses, `BATCH` rows at a time, from a server-side cursor."""
    streaming = await conn.execution_options(yield_per=BATCH)
    result = await streaming.stream(_rows_query(unit, window, suggestions))
    async for batch in result.partitions(BATCH):
        yield batch
