"""Reading stored responses back for administration: filtered lists and a streaming CSV."""

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.errors import FieldProblem, invalid, not_found
from app.ingest import RESPONSES, response_out
from app.method import ELEMENTS
from app.models import Service, Unit
from app.pagination import after, instant_cursor
from app.periods import window_or_problem
from app.schemas import ResponseOut
from app.units import get_service, get_unit, subtree_ids
from app.vocabulary import PROFILE_FIELDS, Channel

EXPORT_BATCH = 2000
# A formula character (= + - @) that begins the text or follows a separator a spreadsheet
# may split cells on (, ; tab CR LF |), spaces allowed in between.
_FORMULA = re.compile(r"(^|[,;\t\r\n|])([^\S\t\r\n]*)([=+\-@])")


def _cell_text(text: str | None) -> str | None:
    """Text for a spreadsheet cell, never read as a formula. The CSV quotes every text cell,
    but a spreadsheet whose list separator is another character (Excel in Indonesian
    settings splits on `;`) splits inside the quotes: so every formula character that
    begins the text or follows any separator gets a `'` before it (OWASP's neutralisation,
    applied to each piece a cell could be cut into), and text beginning with a tab or CR
    gets one at its start. Only `'` is added: the citizen's words stay readable."""
    if not text:
        return text
    text = _FORMULA.sub(r"\1\2'\3", text)
    return "'" + text if text.startswith(("\t", "\r")) else text


@dataclass(frozen=True)
class ResponseFilter:
    unit: str | None = None
    subtree: bool = True
    service: str | None = None
    channel: Channel | None = None
    period: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def _base_query() -> Select[tuple[object, ...]]:
    return (
        select(RESPONSES, Unit.code.label("unit_code"), Service.code.label("service_code"))
        .join(Unit, Unit.id == RESPONSES.c.unit_id)
        .join(Service, Service.id == RESPONSES.c.service_id)
    )


async def _filtered(session: AsyncSession, f: ResponseFilter) -> Select[tuple[object, ...]]:
    query = _base_query()
    if f.service is not None and f.unit is None:
        raise invalid([FieldProblem(parameter="service", detail="needs `unit`", code="needs_unit")])
    if f.unit is not None:
        unit = await get_unit(session, f.unit)
        if f.service is not None:
            service = await get_service(session, unit, f.service)
            query = query.where(RESPONSES.c.service_id == service.id)
        elif f.subtree:
            query = query.where(RESPONSES.c.unit_id.in_(subtree_ids(unit.path)))
        else:
            query = query.where(RESPONSES.c.unit_id == unit.id)
    if f.channel is not None:
        query = query.where(RESPONSES.c.channel == f.channel)
    window = window_or_problem(f.period, f.date_from, f.date_to)
    if window.start is not None:
        query = query.where(RESPONSES.c.local_date >= window.start)
    if window.end is not None:
        query = query.where(RESPONSES.c.local_date <= window.end)
    return query


async def list_responses(
    session: AsyncSession, f: ResponseFilter, cursor: str | None, limit: int
) -> tuple[list[ResponseOut], str | None]:
    """Ordered by (collected_at, id): stable while responses keep arriving."""
    query = await _filtered(session, f)
    if cursor is not None:
        query = query.where(after(RESPONSES.c.collected_at, RESPONSES.c.id, cursor))
    rows = list(
        await session.execute(
            query.order_by(RESPONSES.c.collected_at, RESPONSES.c.id).limit(limit + 1)
        )
    )
    items = [response_out(r, r.unit_code, r.service_code) for r in rows[:limit]]
    following = None
    if len(rows) > limit:
        following = instant_cursor(items[-1].collected_at, items[-1].id)
    return items, following


async def get_response(
    session: AsyncSession, response_id: uuid.UUID, scope_path: str | None
) -> ResponseOut:
    query = _base_query().add_columns(Unit.path).where(RESPONSES.c.id == response_id)
    row = (await session.execute(query)).first()
    if row is None or (scope_path is not None and not row.path.startswith(scope_path)):
        raise not_found("response", response_id)
    return response_out(row, row.unit_code, row.service_code)


CSV_COLUMNS = (
    "id",
    "unit",
    "service",
    "survey_version_id",
    "channel",
    "collected_at",
    "received_at",
    "local_date",
    *ELEMENTS,
    *PROFILE_FIELDS,
    "flag",
    "submitted_by_key",
)


async def export_csv(
    database: Database, session: AsyncSession, f: ResponseFilter, with_suggestions: bool
) -> AsyncIterator[str]:
    """Build the query (validating the filter) now; the returned iterator streams rows from
    a connection of its own, in batches, so memory stays flat for any number of rows."""
    query = (await _filtered(session, f)).order_by(RESPONSES.c.collected_at, RESPONSES.c.id)
    columns = CSV_COLUMNS + (("suggestion",) if with_suggestions else ())

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        # Text quoted (numbers bare; an empty value is an empty quoted text). Only the
        # suggestion is free text: codes, enums and instants have patterns no formula fits.
        writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(columns)
        yield buffer.getvalue()
        async with database.read_only_engine.connect() as conn:
            conn = await conn.execution_options(yield_per=EXPORT_BATCH)
            result = await conn.stream(query)
            async for batch in result.partitions(EXPORT_BATCH):
                buffer.seek(0)
                buffer.truncate()
                for row in batch:
                    values = row._mapping
                    writer.writerow(
                        [
                            str(values["id"]),
                            values["unit_code"],
                            values["service_code"],
                            values["survey_version_id"],
                            values["channel"],
                            values["collected_at"].isoformat(),
                            values["received_at"].isoformat(),
                            values["local_date"].isoformat(),
                            *(values[e] for e in ELEMENTS),
                            *(values[p] for p in PROFILE_FIELDS),
                            values["flag"],
                            values["api_key_id"],
                            *((_cell_text(values["suggestion"]),) if with_suggestions else ()),
                        ]
                    )
                yield buffer.getvalue()

    return rows()
