"""Imports as records: creating one from an uploaded file, its status, the report of its
refused rows (an XLSX to correct and import again), and withdrawing one as a whole."""

import io
from typing import Any

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.aggregates import add_to_aggregates
from app.audit import record as audit
from app.auth import Principal
from app.db import utcnow
from app.errors import FieldProblem, conflict, invalid, not_found
from app.imports.columns import COLUMNS, SHEET_NAME
from app.imports.jobs import MAX_LISTED_PROBLEMS, file_sha256, is_lost
from app.imports.reading import FORMATS, FileProblem, format_of, header
from app.imports.schemas import CellProblemOut, ImportOut
from app.models import Import, ImportRow, Unit, WithdrawnResponse
from app.stored_responses import REGISTRY, RESPONSES
from app.surveys import effective_version_id, version_by_id

WITHDRAW_CHUNK = 1000


async def create(
    session: AsyncSession,
    caller_key_id: int | None,
    caller_name: str,
    unit: Unit,
    content: bytes,
    file_name: str | None,
    dry_run: bool,
    all_or_nothing: bool,
    survey_version_id: int | None,
) -> Import:
    """A queued import of `content` for the unit; its header is read now, so that a file
    that cannot be imported at all is refused at once (422), not by its job."""
    file_format = format_of(content)
    if file_format not in FORMATS:  # pragma: no cover - format_of answers one of them
        raise invalid([FieldProblem(parameter="file", detail="not XLSX or CSV", code="format")])
    try:
        header(content, file_format)
    except FileProblem as problem:
        raise invalid(
            [FieldProblem(parameter="file", detail=str(problem)[:500], code="unreadable_file")],
            "The file cannot be imported.",
        ) from None
    version = survey_version_id or await effective_version_id(session, unit)
    await version_by_id(session, version)  # 404 when there is none
    sha = file_sha256(content)
    withdrawn = await session.scalar(
        select(Import.id).where(
            Import.unit_id == unit.id,
            Import.file_sha256 == sha,
            Import.withdrawn_at.is_not(None),
        )
    )
    if withdrawn is not None and not dry_run:
        raise conflict(
            "import-withdrawn",
            f"This file was imported and withdrawn (import {withdrawn}); import a corrected file.",
        )
    now = utcnow()
    record = Import(
        unit_id=unit.id,
        survey_version_id=version,
        api_key_id=caller_key_id,
        key_name=caller_name,
        file_name=file_name,
        file_format=file_format,
        file_sha256=sha,
        file_bytes=len(content),
        content=content,
        dry_run=dry_run,
        all_or_nothing=all_or_nothing,
        state="queued",
        rows_read=0,
        stored=0,
        refused=0,
        present=0,
        conflicts=0,
        withdrawn_rows=0,
        late=0,
        created_at=now,
        updated_at=now,
    )
    session.add(record)
    await session.flush()
    return record


async def find(session: AsyncSession, caller: Principal, import_id: int) -> tuple[Import, Unit]:
    """The import, if its unit is in the caller's scope (404 otherwise)."""
    found = (
        await session.execute(
            select(Import, Unit).join(Unit, Unit.id == Import.unit_id).where(Import.id == import_id)
        )
    ).first()
    if found is None or not caller.covers(found[1].path):
        raise not_found("import", import_id)
    return found[0], found[1]


async def status(session: AsyncSession, record: Import, unit: Unit) -> ImportOut:
    rows = await session.scalars(
        select(ImportRow.problems)
        .where(ImportRow.import_id == record.id, ImportRow.problems.is_not(None))
        .order_by(ImportRow.row_number)
        .limit(MAX_LISTED_PROBLEMS)
    )
    problems = [CellProblemOut(**p) for listed in rows for p in listed or ()]
    state = "lost" if is_lost(record, utcnow()) else record.state
    total = record.rows_total
    if record.state in ("done", "failed"):
        percent = 100.0
    elif total:
        percent = round(min(100.0, 100 * record.rows_read / total), 1)
    else:
        percent = 0.0
    return ImportOut(
        id=record.id,
        unit=unit.code,
        survey_version_id=record.survey_version_id,
        file_name=record.file_name,
        file_format=record.file_format,
        file_sha256=record.file_sha256,
        dry_run=record.dry_run,
        all_or_nothing=record.all_or_nothing,
        state=state,
        error=record.error,
        rows_total=record.rows_total,
        rows_read=record.rows_read,
        stored=record.stored,
        refused=record.refused,
        present=record.present,
        conflicts=record.conflicts,
        withdrawn_rows=record.withdrawn_rows,
        late=record.late,
        percent=percent,
        created_at=record.created_at,
        finished_at=record.finished_at,
        withdrawn_at=record.withdrawn_at,
        problems=problems[:MAX_LISTED_PROBLEMS],
    )


async def refused_workbook(session: AsyncSession, record: Import) -> bytes:
    """The rows not stored (refused, conflicts, withdrawn) as a workbook with the import's
    columns, ready to correct and import again, and a last column with every reason."""
    buffer = io.BytesIO()
    import xlsxwriter  # the document libraries load on first use

    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "constant_memory": True})
    book.set_properties({"created": utcnow().replace(tzinfo=None, microsecond=0)})
    sheet = book.add_worksheet(SHEET_NAME)
    bold = book.add_format({"bold": True})
    for position, key in enumerate((*COLUMNS, "reason", "row")):
        sheet.write(0, position, key, bold)
    rows = await session.stream(
        select(ImportRow.row_number, ImportRow.cells, ImportRow.problems)
        .where(ImportRow.import_id == record.id, ImportRow.outcome != "stored")
        .order_by(ImportRow.row_number)
    )
    line = 1
    async for number, cells, problems in rows:
        for position, key in enumerate(COLUMNS):
            value: Any = (cells or {}).get(key)
            if value is not None:
                sheet.write(line, position, value)
        reasons = "; ".join(f"{p['cell']}: {p['reason']}" for p in problems or ())
        sheet.write(line, len(COLUMNS), reasons)
        sheet.write(line, len(COLUMNS) + 1, number)
        line += 1
    book.close()
    return buffer.getvalue()


async def withdraw(session: AsyncSession, caller: Principal, record: Import, unit: Unit) -> int:
    """Take every response this import stored out of the indices (the aggregates adjusted in
    the same transaction), keep their ids as withdrawn, and audit it; how many."""
    if record.dry_run:
        raise conflict("import-dry-run", "A dry run stored nothing to withdraw.")
    if record.withdrawn_at is not None:
        raise conflict("import-withdrawn", f"Import {record.id} was withdrawn already.")
    if record.state not in ("done", "failed") and not is_lost(record, utcnow()):
        raise conflict("import-running", f"Import {record.id} is still running.")
    conn = await session.connection()
    now = utcnow()
    removed = 0
    ids = list(
        await session.scalars(
            select(ImportRow.response_id).where(
                ImportRow.import_id == record.id, ImportRow.outcome == "stored"
            )
        )
    )
    archived: set[str] = set()
    for start in range(0, len(ids), WITHDRAW_CHUNK):
        chunk = ids[start : start + WITHDRAW_CHUNK]
        archived.update(
            f"{day:%Y-%m}"
            for day in await session.scalars(
                select(REGISTRY.c.local_date).where(
                    REGISTRY.c.id.in_(chunk),
                    ~exists().where(
                        RESPONSES.c.id == REGISTRY.c.id,
                        RESPONSES.c.local_date == REGISTRY.c.local_date,
                    ),
                )
            )
        )
    if archived:
        # Their counts are in the aggregates but their rows (what a withdrawal subtracts)
        # are in the archive: withdrawing the rest would leave them counted for good.
        raise conflict(
            "import-archived",
            f"Import {record.id} stored responses in months since archived "
            f"({', '.join(sorted(archived))}): bring those months back (README, Partitions "
            "and retention) before withdrawing it.",
        )
    for start in range(0, len(ids), WITHDRAW_CHUNK):
        chunk = ids[start : start + WITHDRAW_CHUNK]
        rows = [
            dict(r._mapping)
            for r in await conn.execute(
                select(RESPONSES).where(RESPONSES.c.id.in_(chunk)).with_for_update()
            )
        ]
        if not rows:
            continue
        await add_to_aggregates(conn, [], now, removed=rows)
        taken = [r["id"] for r in rows]
        await conn.execute(delete(RESPONSES).where(RESPONSES.c.id.in_(taken)))
        await conn.execute(delete(REGISTRY).where(REGISTRY.c.id.in_(taken)))
        await conn.execute(
            insert(WithdrawnResponse),
            [
                {
                    "response_id": r["id"],
                    "unit_id": r["unit_id"],
                    "import_id": record.id,
                    "withdrawn_at": now,
                    "api_key_id": caller.key_id,
                }
                for r in rows
            ],
        )
        removed += len(rows)
    await conn.execute(
        update(Import)
        .where(Import.id == record.id)
        .values(withdrawn_at=now, withdrawn_by_id=caller.key_id)
    )
    record.withdrawn_at = now
    await audit(
        session,
        caller,
        "withdraw-import",
        unit.code,
        {"import": record.id, "file_sha256": record.file_sha256, "withdrawn": removed},
    )
    return removed


async def count_rows(session: AsyncSession, record: Import, outcome: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                ImportRow.import_id == record.id, ImportRow.outcome == outcome
            )
        )
        or 0
    )
