"""An import job: a file read as a stream and checked row by row, then stored in batches
through the API's own ingest path, with its progress, counts and refused rows kept in the
database (`imports`, `import_rows`) as it goes.

Each batch commits the responses it stored together with the job's counters and the rows
it has read, so a job interrupted by a restart resumes after the last batch it committed
(`resume_stale`), or is reported lost when no process takes it up again. A row's identity
is its sheet code (or, in a file without codes, the file's content and the row's number):
the id of its response is derived from it (`app.imports.codes`), so the ingest path's own
idempotency reports a row stored before as already present, or as a conflict when its
content differs — never overwritten."""

import asyncio
import contextlib
import hashlib
import json
import logging
import tempfile
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import IO, Any

from sqlalchemy import LargeBinary, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.config import Settings
from app.db import Database, utcnow
from app.imports import codes
from app.imports.reading import FileProblem, FileRow, Layout, content_digest, reading_process
from app.imports.rows import CellProblem, ParsedRow, Target, from_field_problems, parse
from app.ingest import Submitter, content_hash, ingest
from app.models import AuditEntry, Import, ImportRow, SheetCode, Unit, WithdrawnResponse
from app.response_checks import check_item, references_found, references_params, references_query
from app.statements import execute_many, fetch_all, one_of
from app.stored_responses import stored_in_scope
from app.surveys import VersionCache

log = logging.getLogger(__name__)

# Rows checked and stored per transaction. The daily aggregates are upserted once per
# (service, day) a batch touches, not per row: a larger batch shares that cost among more
# rows (2,000: two batches' rows, parsed, stay within a few MB).
BATCH_ROWS = 2000
COPY_BYTES = 1 << 20  # the file is copied out of the database this much at a time
LOST_AFTER = timedelta(minutes=2)  # a running job whose heartbeat is older was interrupted
MAX_LISTED_PROBLEMS = 200  # refusals listed in a job's status; the report has them all
# A manager may import last year's paper: rows older than the usual window are stored
# (and counted as `late`), back to this many days.
IMPORT_MAX_AGE_DAYS = 3660


@dataclass
class Counts:
    rows_read: int = 0
    stored: int = 0
    refused: int = 0
    present: int = 0
    conflicts: int = 0
    withdrawn_rows: int = 0
    late: int = 0

    def add(self, other: "Counts") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class Batch:
    """What one batch's rows became: the counts, and the rows to record."""

    counts: Counts = field(default_factory=Counts)
    records: list[dict[str, Any]] = field(default_factory=list)


def file_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _json_cells(cells: dict[str, Any]) -> dict[str, Any]:
    """A row's cells as JSON can keep them (days and instants as ISO text)."""
    return {
        k: v.isoformat()[:10] if isinstance(v, date | datetime) else v for k, v in cells.items()
    }


def _record(
    import_id: int, row: ParsedRow, outcome: str, cells: dict[str, Any], problems: list[CellProblem]
) -> dict[str, Any]:
    return {
        "import_id": import_id,
        "row_number": row.number,
        "outcome": outcome,
        "response_id": row.response_id if outcome == "stored" else None,
        "cells": _json_cells(cells) if outcome != "stored" else None,
        "problems": [p.as_json() for p in problems] if problems else None,
    }


class Job:
    """One import's run: what it needs to check and store its rows."""

    def __init__(
        self,
        record: Import,
        unit: Unit,
        versions: VersionCache,
        settings: Settings,
    ) -> None:
        self.record = record
        assert record.content_sha256 is not None
        self.target = Target(
            unit.code, unit.id, unit.time_zone, record.survey_version_id, record.content_sha256
        )
        self.versions = versions
        self.usual_age = timedelta(days=settings.max_collected_age_days)
        self.settings = settings.model_copy(update={"max_collected_age_days": IMPORT_MAX_AGE_DAYS})
        # Every row names this unit: its subtree is the scope (a response of the same id
        # elsewhere is a conflict, never shown).
        self.submitter = Submitter(record.api_key_id, None, unit.path)
        self.codes_seen: dict[str, int] = {}  # sheet code → the row that first had it

    async def _known(
        self, conn: AsyncConnection, rows: list[ParsedRow]
    ) -> tuple[set[str], set[uuid.UUID]]:
        """The rows' sheet codes printed for the unit, and their ids that were withdrawn."""
        dialect = conn.dialect.name
        wanted = [r.code for r in rows if r.code is not None]
        printed: set[str] = set()
        if wanted:
            found = await fetch_all(
                conn, _printed_query(dialect), {"unit_id": self.target.unit_id, "codes": wanted}
            )
            printed = {r.code for r in found}
        ids = [r.response_id for r in rows]
        withdrawn = {
            r.response_id for r in await fetch_all(conn, _withdrawn_query(dialect), {"ids": ids})
        }
        return printed, withdrawn

    def _sheet_problems(
        self, row: ParsedRow, layout: Layout, printed: set[str]
    ) -> list[CellProblem]:
        if row.code is None:
            return []
        cell = layout.cell("sheet_code", row.number)
        if row.code not in printed:
            return [
                CellProblem(
                    cell, "unknown_sheet_code", "this sheet code was never printed for this unit"
                )
            ]
        first = self.codes_seen.setdefault(row.code, row.number)
        if first != row.number:
            return [
                CellProblem(cell, "repeated_sheet_code", f"the same sheet code is on row {first}")
            ]
        return []

    def parse(self, layout: Layout, file_rows: list[FileRow]) -> list[ParsedRow]:
        """The rows' cells as responses (no database: done ahead, see `_parsed_ahead`)."""
        return [parse(r, layout, self.target) for r in file_rows]

    async def batch(
        self,
        conn: AsyncConnection,
        layout: Layout,
        file_rows: list[FileRow],
        dry_run: bool,
        parsed: list[ParsedRow] | None = None,
    ) -> Batch:
        """Check (and unless `dry_run`, store) one batch of rows (`parsed`: as `parse`
        made them, when it was done already)."""
        result = Batch()
        import_id = self.record.id
        if parsed is None:
            parsed = self.parse(layout, file_rows)
        cells_of = {r.number: r.cells for r in file_rows}
        printed, withdrawn = await self._known(conn, parsed)
        candidates: list[ParsedRow] = []
        further = await self._probed(conn, layout, parsed, cells_of)
        for row in parsed:
            problems = row.problems + self._sheet_problems(row, layout, printed)
            problems += further.get(row.number, [])
            if problems:
                result.counts.refused += 1
                result.records.append(
                    _record(import_id, row, "refused", cells_of[row.number], problems)
                )
            elif row.response_id in withdrawn:
                result.counts.withdrawn_rows += 1
                reason = "this response was withdrawn; importing it again does not bring it back"
                result.records.append(
                    _record(
                        import_id,
                        row,
                        "withdrawn",
                        cells_of[row.number],
                        [CellProblem(_row_cell(layout, row), "withdrawn", reason)],
                    )
                )
            else:
                candidates.append(row)
        if dry_run:
            outcomes = await self._checked(conn, candidates)
        else:
            items = [(i, row.item) for i, row in enumerate(candidates) if row.item is not None]
            done = await ingest(
                conn, items, self.versions, self.settings, utcnow(), self.submitter, respond=False
            )
            outcomes = [
                (o.status, o.problem.errors if o.problem and o.problem.errors else []) for o in done
            ]
        now = utcnow()
        for row, (status, found) in zip(candidates, outcomes, strict=True):
            assert row.item is not None
            cells = cells_of[row.number]
            if status == "created":
                result.counts.stored += 1
                if row.item.collected_at < now - self.usual_age:
                    result.counts.late += 1
                if not dry_run:
                    result.records.append(_record(import_id, row, "stored", cells, []))
            elif status == "duplicate":
                result.counts.present += 1
            elif status == "conflict":
                result.counts.conflicts += 1
                reason = (
                    "this sheet was stored before with other content; not overwritten "
                    "(a manager corrects a stored response)"
                )
                result.records.append(
                    _record(
                        import_id,
                        row,
                        "conflict",
                        cells,
                        [CellProblem(_code_cell(layout, row), "conflict", reason)],
                    )
                )
            else:
                result.counts.refused += 1
                problems = from_field_problems(list(found), layout, row, cells)
                result.records.append(_record(import_id, row, "refused", cells, problems))
        result.counts.rows_read = len(file_rows)
        return result

    async def _probed(
        self,
        conn: AsyncConnection,
        layout: Layout,
        rows: list[ParsedRow],
        cells_of: dict[int, dict[str, Any]],
    ) -> dict[int, list[CellProblem]]:
        """The submission checks' refusals of the rows already refused for a cell, run on
        what could be read (so that every refusal of a row is reported at once)."""
        probed = [r for r in rows if r.probe is not None]
        if not probed:
            return {}
        probes = [r.probe for r in probed if r.probe is not None]
        params = references_params(probes)
        found = await fetch_all(conn, references_query(conn.dialect.name), params)
        units, services = references_found(found)
        rules = await self.versions.rules(conn, self.target.survey_version_id)
        now = utcnow()
        further: dict[int, list[CellProblem]] = {}
        for row in probed:
            assert row.probe is not None
            problems = check_item(
                row.probe, units, services, rules, now, self.settings, self.submitter.scope_path
            )
            # Only what the cells' own problems do not say already.
            kept = [p for p in problems if not (p.pointer or "").startswith("/answers")]
            if kept:
                further[row.number] = from_field_problems(kept, layout, row, cells_of[row.number])
        return further

    async def _checked(
        self, conn: AsyncConnection, rows: list[ParsedRow]
    ) -> list[tuple[str, list[Any]]]:
        """What the ingest path would answer for these rows, storing nothing (a dry run):
        the same checks, and the same comparison with what is stored."""
        items = [r.item for r in rows if r.item is not None]
        if not items:
            return []
        found = await fetch_all(conn, references_query(conn.dialect.name), references_params(items))
        units, services = references_found(found)
        rules = await self.versions.rules(conn, self.target.survey_version_id)
        known = await stored_in_scope(conn, (i.id for i in items), self.submitter.scope_path)
        stored, elsewhere, archived = known.stored, known.elsewhere, known.archived
        now = utcnow()
        answers: list[tuple[str, list[Any]]] = []
        for item in items:
            if item.id in stored:
                same = stored[item.id].content_hash == content_hash(item)
                answers.append(("duplicate" if same else "conflict", []))
                continue
            if item.id in archived:  # stored in a month since archived
                same = archived[item.id] == content_hash(item)
                answers.append(("duplicate" if same else "conflict", []))
                continue
            if item.id in elsewhere:
                answers.append(("conflict", []))
                continue
            problems = check_item(
                item, units, services, rules, now, self.settings, self.submitter.scope_path
            )
            answers.append(("invalid", problems) if problems else ("created", []))
        return answers


@cache
def _printed_query(dialect: str) -> Any:
    return select(SheetCode.code).where(
        SheetCode.unit_id == bindparam("unit_id"), one_of(SheetCode.code, "codes", dialect)
    )


@cache
def _withdrawn_query(dialect: str) -> Any:
    return select(WithdrawnResponse.response_id).where(
        one_of(WithdrawnResponse.response_id, "ids", dialect)
    )


# Built once: the hot statements are compiled once (`app.statements`).
_INSERT_IMPORT_ROWS = insert(ImportRow)


def _code_cell(layout: Layout, row: ParsedRow) -> str:
    if row.code is not None and "sheet_code" in layout.letters:
        return layout.cell("sheet_code", row.number)
    return f"{layout.sheet}!{row.number}:{row.number}"


_row_cell = _code_cell


Progress = Callable[[Import], None]


async def _load(database: Database, import_id: int) -> tuple[Import, Unit, bool]:
    """The job, its unit, and whether its file is still kept."""
    async with database.read_session() as session:
        found = (
            await session.execute(
                select(Import, Import.content.is_not(None)).where(Import.id == import_id)
            )
        ).first()
        assert found is not None
        record, kept = found
        unit = await session.get(Unit, record.unit_id)
        assert unit is not None
        return record, unit, bool(kept)


async def _copy_out(database: Database, import_id: int, out: IO[bytes]) -> None:
    """The job's file written to `out`, copied out of the database a block at a time (the
    file is never held whole)."""
    block_of = func.substr(Import.content, bindparam("start"), COPY_BYTES, type_=LargeBinary)
    query = select(block_of).where(Import.id == import_id)
    start = 1
    async with database.read_session() as session:
        while True:
            block = await session.scalar(query, {"start": start})
            if not block:
                break
            out.write(block)
            start += len(block)
            if len(block) < COPY_BYTES:
                break
    out.flush()


async def _save(database: Database, record: Import, batch: Batch | None, **changes: Any) -> None:
    """One batch's records and the job's counters (and heartbeat), in one transaction."""
    async with database.write_session() as session:
        conn = await session.connection()
        if batch is not None:
            await _insert_records(conn, batch.records)
        values = {
            **{name: getattr(record, name) for name in Counts.__dataclass_fields__},
            "updated_at": utcnow(),
            **changes,
        }
        await conn.execute(update(Import).where(Import.id == record.id).values(**values))
        for name, value in changes.items():
            setattr(record, name, value)


async def _audit(database: Database, record: Import, unit: Unit) -> None:
    async with database.write_session() as session:
        session.add(
            AuditEntry(
                at=utcnow(),
                api_key_id=record.api_key_id,
                key_name=record.key_name,
                action="import-dry-run" if record.dry_run else "import",
                target=unit.code,
                details={
                    "import": record.id,
                    "file_sha256": record.file_sha256,
                    "state": record.state,
                    **{name: getattr(record, name) for name in Counts.__dataclass_fields__},
                },
            )
        )


async def run(
    database: Database,
    versions: VersionCache,
    settings: Settings,
    import_id: int,
    progress: Progress | None = None,
    written: IO[bytes] | None = None,
) -> Import:
    """Run (or resume) an import job to its end; the job as it ended. A file that cannot be
    read (at its start, or part way: the batches before stay stored and counted) fails
    the job, saying why. `written`: the job's file, written to a temporary file by the
    process that received it (`kept_file`), so it is not copied out of the database again;
    closed (so removed) when the job ends."""
    with contextlib.ExitStack() as files:
        if written is not None:
            files.enter_context(written)
        record, unit, kept = await _load(database, import_id)
        if record.state in ("done", "failed") or not kept:
            return record
        return await _started(database, versions, settings, record, unit, progress, written)


def kept_file(content: bytes) -> IO[bytes]:
    """An uploaded file written to a temporary file for its job (which removes it)."""
    copy = tempfile.NamedTemporaryFile(prefix="skm-import-", suffix=".file")  # noqa: SIM115
    copy.write(content)
    copy.flush()
    return copy


async def _started(
    database: Database,
    versions: VersionCache,
    settings: Settings,
    record: Import,
    unit: Unit,
    progress: Progress | None,
    written: IO[bytes] | None,
) -> Import:
    try:
        with contextlib.ExitStack() as files:
            copy: IO[bytes]
            if written is None:
                copy = files.enter_context(
                    tempfile.NamedTemporaryFile(prefix="skm-import-", suffix=".file")
                )
                await _copy_out(database, record.id, copy)
            else:
                copy = written
            return await _run(database, versions, settings, record, unit, Path(copy.name), progress)
    except FileProblem as problem:
        await _save(
            database,
            record,
            None,
            state="failed",
            error=str(problem)[:200],
            finished_at=utcnow(),
            content=None,
        )
        await _audit(database, record, unit)
        return record


async def _run(
    database: Database,
    versions: VersionCache,
    settings: Settings,
    record: Import,
    unit: Unit,
    content: Path,
    progress: Progress | None,
) -> Import:
    digest: asyncio.Future[str] | None = None
    if record.content_sha256 is None:
        # The file's digest (a row's identity in a file without sheet codes) is computed in
        # a thread while the reading process starts: both are fixed costs of every job.
        digest = asyncio.ensure_future(
            asyncio.to_thread(content_digest, content, record.file_format)
        )
    try:
        return await _passes(database, versions, settings, record, unit, content, progress, digest)
    finally:
        if digest is not None and not digest.done():  # the job ended first: its file goes
            await asyncio.wait([digest])
        if digest is not None and not digest.cancelled():
            digest.exception()  # seen: the job's own end says what went wrong


async def _passes(
    database: Database,
    versions: VersionCache,
    settings: Settings,
    record: Import,
    unit: Unit,
    content: Path,
    progress: Progress | None,
    digest: "asyncio.Future[str] | None",
) -> Import:
    job: Job | None = None
    if record.all_or_nothing and not record.dry_run:
        if digest is not None:
            await _save(database, record, None, content_sha256=await digest)
        job = Job(record, unit, versions, settings)
        # First every row is checked, storing nothing; only a clean file is then stored.
        check = Counts()
        async with reading_process(content, record.file_format, BATCH_ROWS) as (layout, rows):
            await _save(database, record, None, state="running", rows_total=layout.rows_total)
            async for chunk in rows:
                async with database.read_session() as session:
                    conn = await session.connection()
                    checked = await job.batch(conn, layout, chunk, dry_run=True)
                check.add(checked.counts)
        job.codes_seen.clear()
        if check.refused or check.conflicts or check.withdrawn_rows:
            return await _finish_refused_all(database, job, unit, content, progress)
    async with reading_process(content, record.file_format, BATCH_ROWS) as (layout, rows):
        changes: dict[str, Any] = {"state": "running", "rows_total": layout.rows_total}
        if job is None and digest is not None:
            changes["content_sha256"] = await digest
        await _save(database, record, None, **changes)
        if job is None:
            job = Job(record, unit, versions, settings)
        async with contextlib.aclosing(_parsed_ahead(job, layout, rows, record.rows_read)) as ahead:
            async for chunk, parsed in ahead:
                async with database.write_session() as session:
                    conn = await session.connection()
                    batch = await job.batch(conn, layout, chunk, record.dry_run, parsed)
                    await _insert_records(conn, batch.records)
                    counts = Counts(**{n: getattr(record, n) for n in Counts.__dataclass_fields__})
                    counts.add(batch.counts)
                    values = {**counts.as_dict(), "updated_at": utcnow()}
                    await conn.execute(
                        update(Import).where(Import.id == record.id).values(**values)
                    )
                for name, value in counts.as_dict().items():
                    setattr(record, name, value)
                if progress is not None:
                    progress(record)
                await asyncio.sleep(0)  # let requests (the status endpoint) in between batches
    await _save(database, record, None, state="done", finished_at=utcnow(), content=None)
    await _audit(database, record, unit)
    return record


async def _parsed_ahead(
    job: Job, layout: Layout, rows: AsyncIterator[list[FileRow]], skip: int
) -> AsyncGenerator[tuple[list[FileRow], list[ParsedRow]], None]:
    """The batches of rows after the first `skip` (a resumed job's, committed before: their
    sheet codes are noted as seen), each with its rows parsed. The next batch is received
    and parsed while the caller stores this one: its database round trips leave the event
    loop free for it."""

    async def step() -> tuple[list[FileRow], list[ParsedRow]] | None:
        nonlocal skip
        while True:
            chunk = await anext(rows, None)
            if chunk is None:
                return None
            if skip:
                taken = min(skip, len(chunk))
                for r in chunk[:taken]:
                    code = codes.normalised(str(r.cells.get("sheet_code", "")))
                    if code is not None:
                        job.codes_seen.setdefault(code, r.number)
                chunk, skip = chunk[taken:], skip - taken
            if chunk:
                return chunk, job.parse(layout, chunk)

    pending = asyncio.ensure_future(step())
    try:
        while (item := await pending) is not None:
            pending = asyncio.ensure_future(step())
            yield item
    finally:
        pending.cancel()
        await asyncio.wait([pending])
        if not pending.cancelled():
            pending.exception()  # seen: nobody wants it any more


# PostgreSQL: a batch's records in one statement, its columns as arrays.
_UNNEST_IMPORT_ROWS = (
    "INSERT INTO import_rows (import_id, row_number, outcome, response_id, cells, problems) "
    "SELECT i, n, o, r, c::json, p::json FROM unnest("
    "%s::integer[], %s::integer[], %s::text[], %s::uuid[], %s::text[], %s::text[]"
    ") AS t(i, n, o, r, c, p)"
)


async def _insert_records(conn: AsyncConnection, records: list[dict[str, Any]]) -> None:
    if not records:
        return
    if conn.dialect.name != "postgresql":
        await execute_many(conn, _INSERT_IMPORT_ROWS, records)
        return
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [])
    for r in records:
        columns[0].append(r["import_id"])
        columns[1].append(r["row_number"])
        columns[2].append(r["outcome"])
        columns[3].append(r["response_id"])
        columns[4].append(None if r["cells"] is None else json.dumps(r["cells"]))
        columns[5].append(None if r["problems"] is None else json.dumps(r["problems"]))
    await conn.exec_driver_sql(_UNNEST_IMPORT_ROWS, columns)


async def _finish_refused_all(
    database: Database, job: Job, unit: Unit, content: Path, progress: Progress | None
) -> Import:
    """All or nothing, and not all rows can be stored: the refusals recorded, nothing
    stored."""
    record = job.record
    async with reading_process(content, record.file_format, BATCH_ROWS) as (layout, rows):
        async for chunk in rows:
            async with database.read_session() as session:
                conn = await session.connection()
                checked = await job.batch(conn, layout, chunk, dry_run=True)
            checked.records = [r for r in checked.records if r["outcome"] != "stored"]
            counts = Counts(**{n: getattr(record, n) for n in Counts.__dataclass_fields__})
            counts.add(checked.counts)
            counts.stored = counts.late = 0
            for name, value in counts.as_dict().items():
                setattr(record, name, value)
            await _save(database, record, checked)
            if progress is not None:
                progress(record)
    await _save(
        database,
        record,
        None,
        state="done",
        finished_at=utcnow(),
        content=None,
        error="nothing stored: not every row can be stored (all or nothing)",
    )
    await _audit(database, record, unit)
    return record


def is_lost(record: Import, now: datetime) -> bool:
    return record.state in ("queued", "running") and record.updated_at < now - LOST_AFTER


async def claim(database: Database, record: Import) -> bool:
    """Take up an interrupted job: only one process succeeds (the heartbeat it saw)."""
    async with database.write_session() as session:
        result = await session.execute(
            update(Import)
            .where(Import.id == record.id, Import.updated_at == record.updated_at)
            .values(updated_at=utcnow())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def stale_jobs(database: Database) -> list[Import]:
    now = utcnow()
    async with database.read_session() as session:
        found = await session.scalars(
            select(Import).where(
                Import.state.in_(("queued", "running")), Import.content.is_not(None)
            )
        )
        return [r for r in found if is_lost(r, now)]


class Runner:
    """The import jobs of one process, run as tasks beside its requests."""

    def __init__(self, state: Any, settings: Settings) -> None:
        # The app's state: its database, and its cache of survey versions as it is then.
        self.state = state
        self.database: Database = state.database
        self.settings = settings
        self.tasks: set[asyncio.Task[Any]] = set()

    def start(self, import_id: int, content: bytes | None = None) -> None:
        """Run the job; `content`: its file as just uploaded (then not read back from the
        database: a fixed cost of every job the less)."""
        written = kept_file(content) if content is not None else None
        task = asyncio.create_task(self._run(import_id, written))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def launch(self, import_id: int, content: bytes | None = None) -> None:
        """`start`, from a request's background tasks (which run sync functions elsewhere)."""
        self.start(import_id, content)

    async def _run(self, import_id: int, written: IO[bytes] | None = None) -> None:
        try:
            await run(self.database, self.state.versions, self.settings, import_id, None, written)
        except asyncio.CancelledError:
            raise
        except Exception:  # the job says it failed; the process goes on
            log.exception("import %s failed", import_id)
            async with self.database.write_session() as session:
                await session.execute(
                    update(Import)
                    .where(Import.id == import_id)
                    .values(
                        state="failed",
                        error="the import stopped on an unexpected error",
                        finished_at=utcnow(),
                        content=None,
                    )
                )

    async def resume_stale(self) -> None:
        """Take up the jobs an earlier process left unfinished (their heartbeat stale); a
        database that cannot answer now does not stop the service from starting."""
        try:
            stale = await stale_jobs(self.database)
        except Exception:
            log.warning("unfinished imports not looked for: the database did not answer")
            return
        for record in stale:
            if await claim(self.database, record):
                log.info("resuming import %s after row %s", record.id, record.rows_read)
                self.start(record.id)

    async def close(self) -> None:
        """Stop the running jobs: each resumes from its last batch in the next process."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
