"""Stored responses: the table, its select with the unit's and service's codes, the
presentation of a row, and the queries that read them back (filtered lists, one response,
a streaming CSV, the stored rows a resubmission is compared with)."""

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Select, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import Database
from app.errors import FieldProblem, invalid, not_found
from app.method import ELEMENTS
from app.models import Response, ResponseId, Service, Unit
from app.pagination import after, instant_cursor
from app.periods import window_or_problem
from app.schemas import Answers, Profile, ResponseOut
from app.statements import fetch_all, one_of
from app.units import get_service, get_unit, subtree_ids
from app.vocabulary import PROFILE_FIELDS, Channel

RESPONSES: Table = Response.__table__  # type: ignore[assignment]
REGISTRY: Table = ResponseId.__table__  # type: ignore[assignment]
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


def with_codes() -> Select[tuple[object, ...]]:
    """Stored responses with their unit's and service's codes (`unit_code`,
    `service_code`): what `response_out` shows."""
    return (
        select(RESPONSES, Unit.code.label("unit_code"), Service.code.label("service_code"))
        .join(Unit, Unit.id == RESPONSES.c.unit_id)
        .join(Service, Service.id == RESPONSES.c.service_id)
    )


def response_out(row: Any, unit_code: str, service_code: str) -> ResponseOut:
    """A stored response (a row or a row dict) as the API shows it."""
    get = row.get if isinstance(row, dict) else row._asdict().get
    # Rows read on the raw driver come in the session's time zone: shown in UTC.
    collected_at = cast(datetime, get("collected_at"))
    received_at = cast(datetime, get("received_at"))
    return ResponseOut(
        id=get("id"),
        unit=unit_code,
        service=service_code,
        survey_version_id=get("survey_version_id"),
        channel=get("channel"),
        collected_at=collected_at.astimezone(UTC),
        received_at=received_at.astimezone(UTC),
        local_date=get("local_date"),
        answers=Answers(**{e: get(e) for e in ELEMENTS}),
        profile=Profile(**{f: get(f) for f in PROFILE_FIELDS}),
        extra_answers=get("extra_answers"),
        suggestion=get("suggestion"),
        submitted_by_key=get("api_key_id"),
        flag=get("flag"),
    )


@cache
def by_ids(dialect: str) -> Any:
    """The registered ids among `ids`, each with its unit's path and content hash, and its
    stored row when `responses` holds it (none when its month was archived). The row is
    reached by (id, local_date): on PostgreSQL that names one month's partition."""
    found = RESPONSES.join(Service, Service.id == RESPONSES.c.service_id)
    return (
        select(
            REGISTRY.c.id.label("registered_id"),
            REGISTRY.c.content_hash.label("registered_hash"),
            Unit.path.label("unit_path"),
            Unit.code.label("unit_code"),
            Service.code.label("service_code"),
            *RESPONSES.c,
        )
        .select_from(REGISTRY)
        .join(Unit, Unit.id == REGISTRY.c.unit_id)
        .outerjoin(
            found,
            (RESPONSES.c.id == REGISTRY.c.id) & (RESPONSES.c.local_date == REGISTRY.c.local_date),
        )
        .where(one_of(REGISTRY.c.id, "ids", dialect))
    )


@dataclass(frozen=True)
class Registered:
    """What is stored under some ids, as the submitter may see it."""

    stored: dict[uuid.UUID, Any]  # in its scope, with the row
    elsewhere: set[uuid.UUID]  # outside its scope
    archived: dict[uuid.UUID, str]  # in its scope, the row archived: the content's hash


async def stored_in_scope(
    conn: AsyncConnection, ids: Iterable[uuid.UUID], scope: str | None
) -> Registered:
    """The stored responses with these ids that are in the submitter's scope, the ids
    stored outside it, and the ids in its scope whose rows were archived (`app.partitions`).
    A response outside the scope does not exist for the submitter: it is never replayed to
    it (that would show another unit's row: its received_at, key, flag and suggestion)."""
    wanted = list(ids)
    if not wanted:
        return Registered({}, set(), {})
    return registered_of(await fetch_all(conn, by_ids(conn.dialect.name), {"ids": wanted}), scope)


def registered_of(rows: Iterable[Any], scope: str | None) -> Registered:
    """`stored_in_scope` from the rows of `by_ids` (for a caller that runs it itself)."""
    stored: dict[uuid.UUID, Any] = {}
    elsewhere: set[uuid.UUID] = set()
    archived: dict[uuid.UUID, str] = {}
    for r in rows:
        if scope is not None and not r.unit_path.startswith(scope):
            elsewhere.add(r.registered_id)
        elif r.id is None:
            archived[r.registered_id] = r.registered_hash
        else:
            stored[r.id] = r
    return Registered(stored, elsewhere, archived)


async def _filtered(
    session: AsyncSession, f: ResponseFilter, units_listed: bool = False
) -> Select[tuple[object, ...]]:
    """The filter's query. `units_listed`: a subtree's units read now, on `session` (the
    primary), and named by id — for a query that runs on a replica, whose units may lag
    behind a move out of the caller's scope."""
    query = with_codes()
    if f.service is not None and f.unit is None:
        raise invalid([FieldProblem(parameter="service", detail="needs `unit`", code="needs_unit")])
    if f.unit is not None:
        unit = await get_unit(session, f.unit)
        if f.service is not None:
            service = await get_service(session, unit, f.service)
            query = query.where(RESPONSES.c.service_id == service.id)
        elif f.subtree and units_listed:
            listed = list(await session.scalars(subtree_ids(unit.path)))
            query = query.where(RESPONSES.c.unit_id.in_(listed))
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
    query = with_codes().add_columns(Unit.path).where(RESPONSES.c.id == response_id)
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
    engine = await database.export_engine()
    on_replica = engine is not database.read_only_engine
    query = (await _filtered(session, f, units_listed=on_replica)).order_by(
        RESPONSES.c.collected_at, RESPONSES.c.id
    )
    columns = CSV_COLUMNS + (("suggestion",) if with_suggestions else ())

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        # Text quoted (numbers bare; an empty value is an empty quoted text). Only the
        # suggestion is free text: codes, enums and instants have patterns no formula fits.
        writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
        writer.writerow(columns)
        yield buffer.getvalue()
        async with engine.connect() as conn:
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
