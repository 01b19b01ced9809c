"""Publications: a unit's result for a period, frozen when a manager publishes it.

Publishing computes the full report with the same functions as the live API (`app.indices`,
`app.public_figures`) and stores it whole, as JSON, under a publication id with its time and
key; nothing ever changes it. Late arrivals move the live index on, which then says how it
differs from the period's current record; publishing again with `revises` writes a revision,
a new record pointing to the one it supersedes, with the difference stated. The keyless
figures are served only from records: the public parts frozen in them.

Retries: publishing a period whose figures are those of its current record answers that
record (200) and writes nothing, whatever `revises` says.
"""

import base64
import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exc, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app import audit, indices, public_figures
from app.aggregates import Sums
from app.auth import Principal, unit_for
from app.config import Settings
from app.db import primary_reads, utcnow
from app.errors import FieldProblem, ProblemError, conflict, invalid, not_found
from app.method import ELEMENTS, METHOD_ID
from app.models import Publication, ReportSettings, Unit
from app.pagination import decode_cursor, encode_cursor
from app.periods import Span, parse_period, period_length
from app.schemas import (
    FigureChange,
    FrozenReport,
    IndexReport,
    LivePublication,
    Page,
    PublicationOut,
    PublicationSummary,
    PublicBreakdown,
    PublicFigures,
    PublicIndex,
    PublicPublication,
    PublishIn,
    UnitRef,
)
from app.vocabulary import BreakdownBy, Rule

PUBLICATIONS = Publication.__table__
BREAKDOWNS: tuple[BreakdownBy, ...] = (
    "service",
    "channel",
    "gender",
    "age_band",
    "education",
    "occupation",
)


async def current_publication(
    conn: AsyncConnection, unit_id: int, start: date, end: date
) -> Any | None:
    """The newest record (highest revision) published for the unit over exactly the local
    days start ≤ day < end (half-open, like `period_start`/`period_end`), or None. A row
    with the columns of `publications`. Read on the primary when `conn` is a replica's."""
    async with primary_reads(conn) as records:
        rows = await records.execute(
            select(PUBLICATIONS)
            .where(
                PUBLICATIONS.c.unit_id == unit_id,
                PUBLICATIONS.c.period_start == start,
                PUBLICATIONS.c.period_end == end,
            )
            .order_by(PUBLICATIONS.c.revision.desc())
            .limit(1)
        )
        return rows.first()


# --- what is frozen ---------------------------------------------------------------------------


def _counts(sums: Sums) -> dict[str, int]:
    """What the public suppression rule counts: respondents, and each element's answers."""
    return {"responses": sums.responses, **{e: sums.counters[f"{e}_n"] for e in ELEMENTS}}


def _without_update_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_update_times(v) for k, v in value.items() if k != "data_updated_at"}
    if isinstance(value, list):
        return [_without_update_times(v) for v in value]
    return value


_DOCUMENT_TEXTS = (
    "foreword",
    "foreword_en",
    "surveyor",
    "place",
    "signatory_name",
    "signatory_title",
)


async def document_settings(conn: AsyncConnection, unit_id: int) -> dict[str, Any]:
    """The unit's report settings as they stand, as JSON (the logo base64): kept with a
    publication so that its documents keep the foreword, the signatory and the logo they had
    when it was published. Not part of the fingerprint: the figures decide a revision."""
    row = (
        await conn.execute(
            select(ReportSettings.__table__).where(ReportSettings.unit_id == unit_id)
        )
    ).first()
    if row is None:
        return {}
    kept: dict[str, Any] = {name: row._mapping[name] for name in _DOCUMENT_TEXTS}
    if row.logo is not None:
        kept["logo"] = base64.b64encode(row.logo).decode()
        kept["logo_type"] = row.logo_type
    if row.updated_at is not None:
        kept["updated_at"] = row.updated_at.isoformat()
    return kept


def fingerprint(report: dict[str, Any]) -> str:
    """Equal for two reports with the same figures (when their data last changed aside)."""
    canonical = json.dumps(_without_update_times(report), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def frozen_report(
    conn: AsyncConnection, unit: Unit, window: Span, settings: Settings
) -> dict[str, Any]:
    """The full report of the unit's subtree over the period as JSON, with the public
    figures of its own responses (for a period of the public length) and their counts."""
    node = indices.Node(unit.id, unit.code, unit.name, unit.path, unit.public)
    index = await indices.index_report(conn, node, window, None, "pooled", True, False)
    breakdowns = {by: await indices.breakdown(conn, node, window, by) for by in BREAKDOWNS}
    public = None
    public_counts = None
    if period_length(str(window.label)) == settings.public_period:
        own = public_figures.PublicUnit(unit.id, unit.code, unit.name, unit.time_zone)
        totals = await public_figures.public_totals(conn, own, window)
        minimum = settings.public_min_group
        public = PublicFigures(
            index=public_figures.public_index(own, window, totals, minimum),
            breakdown=public_figures.public_breakdown(own, window, totals, minimum),
        )
        public_counts = {
            "total": _counts(totals.total),
            **{f"service:{k}": _counts(v) for k, v in totals.services.items()},
        }
    report = FrozenReport(index=index, breakdowns=breakdowns, public=public)
    frozen: dict[str, Any] = report.model_dump(mode="json", by_alias=True)
    frozen["public_counts"] = public_counts  # kept for the revision rule, never shown
    return frozen


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[FigureChange]:
    """The figures of two index reports (as JSON) that differ: responses, IKM, each
    element's answers and total, and the flagged responses left out."""

    def figures(report: dict[str, Any]) -> dict[str, float | None]:
        pooled = report["pooled"]
        # The pooled IKM (what is published), whatever roll-up the live request asked for.
        found: dict[str, float | None] = {"responses": pooled["responses"], "ikm": pooled["ikm"]}
        for element in pooled["elements"]:
            found[f"{element['key']}.answers"] = element["answers"]
            found[f"{element['key']}.total"] = element["total"]
        found["flagged_responses"] = report["method"]["flagged_responses"]
        return found

    old, new = figures(before), figures(after)
    names = list(old) + [name for name in new if name not in old]
    return [
        FigureChange(figure=name, before=old.get(name), after=new.get(name))
        for name in names
        if old.get(name) != new.get(name)
    ]


def publicly_safe(
    before: dict[str, dict[str, int]] | None, after: dict[str, dict[str, int]], minimum: int
) -> bool:
    """Whether a revision may be shown beside an earlier public record: every count
    (respondents, each element's answers; the total and each service) is unchanged or
    differs by at least `minimum` — otherwise the difference of two public answers would
    describe the late few."""
    if before is None:
        return True
    for group in set(before) | set(after):
        old, new = before.get(group, {}), after.get(group, {})
        for name in set(old) | set(new):
            difference = abs(new.get(name, 0) - old.get(name, 0))
            if 0 < difference < minimum:
                return False
    return True


# --- publishing -------------------------------------------------------------------------------


def _period(text: str, unit: Unit, now: datetime) -> Span:
    def refused(detail: str, code: str) -> ProblemError:
        return invalid([FieldProblem(pointer="/period", detail=detail, code=code)])

    try:
        named = parse_period(text)
    except ValueError as error:
        raise refused(str(error), "bad_period") from None
    today = now.astimezone(ZoneInfo(unit.time_zone)).date()
    if today <= named.end:
        raise refused(
            f"the period has not ended in the unit's time zone ({unit.time_zone})",
            "period_not_ended",
        )
    return Span(text, named.start, named.end)


def _summary(row: Any, unit: Unit | UnitRef, superseded_by: int | None) -> PublicationSummary:
    index = row.report["index"]
    return PublicationSummary(
        id=row.id,
        unit=UnitRef(code=unit.code, name=unit.name),
        period=indices.period_out(
            Span(row.period, row.period_start, row.period_end - timedelta(days=1))
        ),
        revision=row.revision,
        published_at=row.published_at,
        published_by_key=row.key_id,
        supersedes=row.supersedes_id,
        superseded_by=superseded_by,
        public=row.public,
        method_id=row.method_id,
        responses=row.responses,
        ikm=index["ikm"],
        difference=[FigureChange.model_validate(c) for c in row.difference]
        if row.difference is not None
        else None,
    )


def _out(row: Any, unit: Unit | UnitRef, superseded_by: int | None) -> PublicationOut:
    summary = _summary(row, unit, superseded_by)
    return PublicationOut(**summary.model_dump(), report=FrozenReport.model_validate(row.report))


async def _public_counts(
    session: AsyncSession, unit_id: int, period: str
) -> list[dict[str, dict[str, int]] | None]:
    """The counts behind every public record of the period: anyone can compare any two of
    them, so a new public record must keep its distance from each, not only the newest."""
    reports = await session.scalars(
        select(Publication.report).where(
            Publication.unit_id == unit_id,
            Publication.period == period,
            Publication.public.is_(True),
        )
    )
    return [report["public_counts"] for report in reports]


async def publish(
    session: AsyncSession, caller: Principal, settings: Settings, code: str, body: PublishIn
) -> tuple[PublicationOut, bool]:
    """Freeze the unit's result for the period: (the record, whether it was written now)."""
    caller.require("admin", "manager")
    unit = await unit_for(session, caller, code)
    window = _period(body.period, unit, datetime.now(UTC))
    conn = await session.connection()
    end = window.end + timedelta(days=1)
    newest = await current_publication(conn, unit.id, window.start, end)
    report = await frozen_report(conn, unit, window, settings)
    print_ = fingerprint(report)
    if newest is not None and newest.fingerprint == print_:
        return _out(newest, unit, None), False
    if newest is None and body.revises is not None:
        raise invalid(
            [
                FieldProblem(
                    pointer="/revises",
                    detail="the period has no publication to revise",
                    code="unknown_publication",
                )
            ]
        )
    if newest is not None and body.revises != newest.id:
        detail = (
            f"{body.period} is published as record {newest.id} and its figures have changed "
            f"since: publish a revision with revises={newest.id}"
            if body.revises is None
            else f"record {body.revises} is not the current record of {body.period} "
            f"({newest.id} is)"
        )
        raise conflict("publication-exists", detail)
    public = period_length(body.period) == settings.public_period
    if public and newest is not None:
        shown = await _public_counts(session, unit.id, body.period)
        public = all(
            publicly_safe(before, report["public_counts"], settings.public_min_group)
            for before in shown
        )
    record = Publication(
        unit_id=unit.id,
        period=body.period,
        period_start=window.start,
        period_end=end,
        revision=newest.revision + 1 if newest is not None else 1,
        published_at=utcnow(),
        key_id=caller.key_id,
        supersedes_id=newest.id if newest is not None else None,
        public=public,
        method_id=METHOD_ID,
        responses=report["index"]["pooled"]["responses"],
        fingerprint=print_,
        report={**report, "document": await document_settings(conn, unit.id)},
        difference=[c.model_dump() for c in changes(newest.report["index"], report["index"])]
        if newest is not None
        else None,
    )
    session.add(record)
    try:
        await session.flush()
    except exc.IntegrityError:
        raise conflict(
            "publication-exists", f"{body.period} was published at the same time: read it again"
        ) from None
    await audit.record(
        session,
        caller,
        "publication.publish",
        f"unit:{unit.code}/{body.period}",
        {"id": record.id, "revision": record.revision, "supersedes": record.supersedes_id},
    )
    return _out(record, unit, None), True


# --- reading ----------------------------------------------------------------------------------


async def _superseded_by(session: AsyncSession, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Publication.supersedes_id, Publication.id).where(Publication.supersedes_id.in_(ids))
    )
    return {old: new for old, new in rows if old is not None}


async def list_publications(
    session: AsyncSession,
    caller: Principal,
    code: str,
    period: str | None,
    limit: int,
    cursor: str | None,
) -> Page[PublicationSummary]:
    """The unit's records, newest first (by id), optionally of one period."""
    caller.require("admin", "manager", "reader")
    unit = await unit_for(session, caller, code)
    query = select(Publication).where(Publication.unit_id == unit.id)
    if period is not None:
        query = query.where(Publication.period == period)
    if cursor is not None:
        [before] = decode_cursor(cursor, 1)
        if not isinstance(before, int) or isinstance(before, bool):
            raise invalid(
                [
                    FieldProblem(
                        parameter="cursor", detail="not a cursor of this list", code="bad_cursor"
                    )
                ]
            )
        query = query.where(Publication.id < before)
    rows = list(await session.scalars(query.order_by(Publication.id.desc()).limit(limit + 1)))
    shown = rows[:limit]
    later = await _superseded_by(session, [r.id for r in shown])
    return Page(
        items=[_summary(r, unit, later.get(r.id)) for r in shown],
        next_cursor=encode_cursor(shown[-1].id) if len(rows) > limit else None,
    )


async def get_publication(
    session: AsyncSession, caller: Principal, publication_id: int
) -> PublicationOut:
    """One record, for readers whose scope holds its unit (404 otherwise)."""
    caller.require("admin", "manager", "reader")
    record = await session.get(Publication, publication_id)
    unit = await session.get(Unit, record.unit_id) if record is not None else None
    if record is None or unit is None or not caller.covers(unit.path):
        raise not_found("publication", publication_id)
    later = await _superseded_by(session, [record.id])
    return _out(record, unit, later.get(record.id))


async def live_index(
    conn: AsyncConnection,
    unit: indices.Node,
    window: Span,
    service: str | None,
    rule: Rule,
    include_children_mean: bool,
    include_flagged: bool,
) -> IndexReport:
    """The live index; for a whole period without filters, compared with the period's
    current published record."""
    report = await indices.index_report(
        conn, unit, window, service, rule, include_children_mean, include_flagged
    )
    if service is not None or include_flagged:
        return report
    record = await current_publication(conn, unit.id, window.start, window.end + timedelta(days=1))
    if record is None:
        return report
    live = report.model_dump(mode="json", by_alias=True)
    found = changes(record.report["index"], live)
    report.publication = LivePublication(
        id=record.id,
        revision=record.revision,
        published_at=record.published_at,
        differs=bool(found),
        changes=found,
    )
    return report


# --- the public ---------------------------------------------------------------------------------


_PUBLIC_RECORD = (
    select(PUBLICATIONS, Unit.code.label("unit_code"), Unit.name.label("unit_name"))
    .join(Unit, Unit.id == PUBLICATIONS.c.unit_id)
    .where(
        PUBLICATIONS.c.public.is_(True),
        Unit.public.is_(True),
        Unit.deactivated_at.is_(None),
    )
)


async def _public_records(conn: AsyncConnection, code: str, period: str | None = None) -> list[Any]:
    """A public unit's public records, newest first."""
    query = _PUBLIC_RECORD.where(Unit.code == code)
    if period is not None:
        query = query.where(PUBLICATIONS.c.period == period)
    rows = await conn.execute(query.order_by(PUBLICATIONS.c.id.desc()))
    return list(rows)


async def has_public_record(conn: AsyncConnection, code: str, period: str) -> bool:
    """Whether the public can see a result of this unit for exactly this period."""
    query = _PUBLIC_RECORD.where(Unit.code == code, PUBLICATIONS.c.period == period)
    async with primary_reads(conn) as records:
        return (await records.execute(query.limit(1))).first() is not None


def _public_view(row: Any, supersedes: int | None) -> PublicPublication:
    figures = PublicFigures.model_validate(row.report["public"])
    return PublicPublication(
        id=row.id,
        unit=UnitRef(code=row.unit_code, name=row.unit_name),
        period=figures.index.period,
        published_at=row.published_at,
        supersedes=supersedes,
        method_id=row.method_id,
        figures=PublicFigures(
            index=figures.index.model_copy(update={"publication_id": row.id}),
            breakdown=figures.breakdown.model_copy(update={"publication_id": row.id}),
        ),
    )


def _public_chain(rows: list[Any]) -> dict[int, int | None]:
    """Each public record's predecessor among the public records of its period."""
    previous: dict[int, int | None] = {}
    by_period: dict[str, list[Any]] = {}
    for row in rows:
        by_period.setdefault(row.period, []).append(row)
    for chain in by_period.values():
        ordered = sorted(chain, key=lambda r: r.revision)
        for before, row in zip([None, *ordered], ordered, strict=False):
            previous[row.id] = before.id if before is not None else None
    return previous


async def public_unit_publications(conn: AsyncConnection, code: str) -> list[PublicPublication]:
    """A public unit's public records, newest first (404 for a unit that is not public)."""
    if await public_figures.public_unit(conn, code) is None:
        raise not_found("unit", code)
    rows = await _public_records(conn, code)
    chain = _public_chain(rows)
    return [_public_view(row, chain[row.id]) for row in rows]


async def public_publication(conn: AsyncConnection, publication_id: int) -> PublicPublication:
    """One public record of a public unit (404 for anything else)."""
    found = list(await conn.execute(_PUBLIC_RECORD.where(PUBLICATIONS.c.id == publication_id)))
    if not found:
        raise not_found("publication", publication_id)
    rows = await _public_records(conn, found[0].unit_code, found[0].period)
    return _public_view(found[0], _public_chain(rows)[publication_id])


def _not_published(period: str) -> ProblemError:
    return ProblemError(
        404,
        "not-published",
        "Not published",
        f"No result of this unit is published for {period}.",
        [FieldProblem(parameter="period", detail="not published", code="not_published")],
    )


async def public_period_figures(conn: AsyncConnection, code: str, period: str) -> PublicFigures:
    """The public figures of the period's newest public record (404 when there is none)."""
    if await public_figures.public_unit(conn, code) is None:
        raise not_found("unit", code)
    rows = await _public_records(conn, code, period)
    if not rows:
        raise _not_published(period)
    return _public_view(rows[0], None).figures


async def public_index(conn: AsyncConnection, code: str, period: str) -> PublicIndex:
    return (await public_period_figures(conn, code, period)).index


async def public_breakdown(conn: AsyncConnection, code: str, period: str) -> PublicBreakdown:
    return (await public_period_figures(conn, code, period)).breakdown
