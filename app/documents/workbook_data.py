"""The processing workbook's data: its figures (one `FigureSource`: the live index, or a
published record), the breakdowns beside them, and the respondent rows they count, streamed
in batches from the same snapshot.

A period (its days exactly those of a record) that has a published record gets the record's
figures, its newest revision's, and the rows the record counted: when the live index still
equals the record, the live rows; otherwise the responses received by the record's
`published_at` with the flag state they had then (a review after it is undone: the response
was suspected, out). When even those rows do not add up to the record (a review or a
correction after publication changed what they count), the workbook is the live one and says
"live; differs from publication N" — a record's figures are never shown over rows that do
not make them.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app import indices
from app.documents.workbook_style import Language, text
from app.indices import Node
from app.method import ELEMENTS
from app.models import Service, Unit
from app.periods import Span
from app.publications import changes, current_publication
from app.schemas import BreakdownOut, FrozenReport, IndexReport
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
    frozen report, id and time). The workbook names it in its metadata and in a visible
    cell. `differs_from`: a live workbook of a published period whose rows cannot make the
    record's figures. `received_by`: the rows are those received by then (the record's
    time), with the flags they had then; None: the live rows."""

    report: IndexReport
    publication_id: int | None = None
    published_at: datetime | None = None
    differs_from: int | None = None
    received_by: datetime | None = None
    breakdowns: dict[str, BreakdownOut] | None = None  # the record's

    def label(self, lang: Language) -> str:
        if self.publication_id is not None:
            when = self.published_at.isoformat() if self.published_at is not None else ""
            return f"{text('published', lang)} {self.publication_id} ({when})"
        if self.differs_from is not None:
            return f"{text('differs', lang)} {self.differs_from}"
        return text("live", lang)

    @property
    def metadata(self) -> str:
        if self.publication_id is not None:
            when = self.published_at.isoformat() if self.published_at is not None else ""
            return f"publication {self.publication_id} of {when}"
        if self.differs_from is not None:
            return f"live; differs from publication {self.differs_from}"
        return "live, not published"


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


def _counted(unit: Node, window: Span, received_by: datetime | None) -> list[ColumnElement[bool]]:
    """The responses the index counts (flagged ones out); with `received_by`, those it
    counted then: received by that time, and a flag reviewed after it taken as still
    suspected (the only state a flag is reviewed from first)."""
    where: list[ColumnElement[bool]] = [
        RESPONSES.c.unit_id.in_(subtree_ids(unit.path)),
        RESPONSES.c.local_date.between(window.start, window.end),
        RESPONSES.c.flag.is_(None) | (RESPONSES.c.flag == "cleared"),
    ]
    if received_by is not None:
        where += [
            RESPONSES.c.received_at <= received_by,
            RESPONSES.c.flag_reviewed_at.is_(None) | (RESPONSES.c.flag_reviewed_at <= received_by),
        ]
    return where


async def _rows_make(
    conn: AsyncConnection, unit: Node, window: Span, received_by: datetime, report: IndexReport
) -> bool:
    """Whether the rows counted by `received_by` add up to the report: the same number of
    respondents, and per element the same sum of scores and answers (one aggregate pass)."""
    columns: list[Any] = [func.count()]
    for e in ELEMENTS:
        columns += [func.coalesce(func.sum(RESPONSES.c[e]), 0), func.count(RESPONSES.c[e])]
    row = (await conn.execute(select(*columns).where(*_counted(unit, window, received_by)))).one()
    by_key = {e.key: (e.total, e.answers) for e in report.pooled.elements}
    found = [(int(row[1 + 2 * i]), int(row[2 + 2 * i])) for i in range(len(ELEMENTS))]
    return int(row[0]) == report.pooled.responses and found == [
        by_key.get(key, (0, 0)) for key in ELEMENTS
    ]


async def chosen_source(
    conn: AsyncConnection, unit: Node, window: Span, live: bool = False
) -> FigureSource:
    """The record published over exactly the window's days (its newest revision) with the
    rows that make it, or the live index — saying so when a record exists that the rows can
    no longer make. `live`: the live index whatever was published, saying that it differs
    from the record when it does."""
    current = await live_source(conn, unit, window)
    record = await current_publication(conn, unit.id, window.start, window.end + timedelta(days=1))
    if record is None:
        return current
    live_json = current.report.model_dump(mode="json", by_alias=True)
    differs = bool(changes(record.report["index"], live_json))
    if live:  # the live workbook, saying how it stands to the record
        return FigureSource(current.report, differs_from=record.id if differs else None)
    frozen = FrozenReport.model_validate(record.report)
    published = FigureSource(
        frozen.index, record.id, record.published_at, breakdowns=frozen.breakdowns
    )
    if not differs:
        return published  # nothing changed since: the live rows are the record's
    if await _rows_make(conn, unit, window, record.published_at, frozen.index):
        return FigureSource(
            frozen.index,
            record.id,
            record.published_at,
            received_by=record.published_at,
            breakdowns=frozen.breakdowns,
        )
    return FigureSource(current.report, differs_from=record.id)


async def workbook_data(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    include_suggestions: bool,
    lang: Language = "id",
    source: FigureSource | None = None,
    live: bool = False,
) -> WorkbookData:
    """The workbook's figures: the given source, or the one `chosen_source` picks."""
    chosen = source if source is not None else await chosen_source(conn, unit, window, live)
    breakdowns = chosen.breakdowns
    if breakdowns is None:
        breakdowns = {by: await indices.breakdown(conn, unit, window, by) for by in BREAKDOWNS}
    return WorkbookData(unit, window, chosen, breakdowns, include_suggestions, lang)


# --- the respondent rows -----------------------------------------------------------------------


def _rows_query(
    unit: Node, window: Span, suggestions: bool, received_by: datetime | None
) -> Select[Any]:
    """The responses the figures count (`_counted`), by local day then time."""
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
        .where(*_counted(unit, window, received_by))
        .order_by(RESPONSES.c.local_date, RESPONSES.c.collected_at, RESPONSES.c.id)
    )


async def respondent_batches(
    conn: AsyncConnection,
    unit: Node,
    window: Span,
    suggestions: bool,
    received_by: datetime | None = None,
) -> AsyncIterator[Sequence[Any]]:
    """The counted responses, `BATCH` rows at a time, from a server-side cursor."""
    streaming = await conn.execution_options(yield_per=BATCH)
    result = await streaming.stream(_rows_query(unit, window, suggestions, received_by))
    async for batch in result.partitions(BATCH):
        yield batch
