"""`skm import FILE --unit CODE`: the same import job as the API's, run in the foreground
with a progress bar on stderr, its refusals (each at its cell) and counts on stdout."""

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.errors import ProblemError
from app.imports import records
from app.imports.jobs import run
from app.models import Import, ImportRow, Unit
from app.surveys import VersionCache

KEY_NAME = "skm import (command line)"
BAR_WIDTH = 30


class ProgressBar:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = -1.0

    def __call__(self, record: Import) -> None:
        total = record.rows_total or 0
        share = min(1.0, record.rows_read / total) if total else 0.0
        if share - self.shown < 0.005 and share < 1:
            return
        self.shown = share
        done = int(share * BAR_WIDTH)
        self.stream.write(
            f"\r[{'#' * done}{'.' * (BAR_WIDTH - done)}] {share:6.1%} "
            f"{record.rows_read:,}/{total:,} rows · stored {record.stored:,} · "
            f"refused {record.refused:,}"
        )
        self.stream.flush()


async def import_file(
    settings: Settings,
    path: Path,
    content: bytes,
    unit_code: str,
    dry_run: bool,
    all_or_nothing: bool,
    report: Path | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Import the file; the exit status: 0 when every row is stored or already present, 1
    when some were refused or conflict, 2 when the file cannot be imported at all."""
    out = out or sys.stdout
    err = err or sys.stderr
    database = Database(settings.database_url, pool_size=2)
    try:
        async with database.write_session() as session:
            unit = await session.scalar(select(Unit).where(Unit.code == unit_code))
            if unit is None:
                err.write(f"skm import: --unit: no unit '{unit_code}'\n")
                return 2
            try:
                record = await records.create(
                    session,
                    None,
                    KEY_NAME,
                    unit,
                    content,
                    path.name[:200],
                    dry_run,
                    all_or_nothing,
                    None,
                )
            except ProblemError as error:
                reasons = "; ".join(e.detail for e in error.problem.errors or ()) or ""
                err.write(f"skm import: {path}: {error.problem.detail} {reasons}\n")
                return 2
            import_id = record.id
        bar = ProgressBar(err)
        done = await run(database, VersionCache(), settings, import_id, progress=bar)
        err.write("\n")
        async with database.read_session() as session:
            rows = await session.stream(
                select(ImportRow.problems)
                .where(ImportRow.import_id == import_id, ImportRow.problems.is_not(None))
                .order_by(ImportRow.row_number)
            )
            async for (problems,) in rows:
                for problem in problems:
                    out.write(f"{problem['cell']}: {problem['reason']}\n")
            if report is not None:
                workbook = await records.refused_workbook(session, done)
                await asyncio.to_thread(report.write_bytes, workbook)
        if done.state == "failed":
            err.write(f"skm import: {path}: {done.error}\n")
            return 2
        what = "would be stored" if dry_run else "stored"
        out.write(
            f"import {import_id}{' (dry run)' if dry_run else ''}: {done.rows_read} rows read, "
            f"{done.stored} {what}, {done.refused} refused, {done.present} already present, "
            f"{done.conflicts} conflicts, {done.withdrawn_rows} withdrawn before, "
            f"{done.late} older than the usual window\n"
        )
        if done.error:
            out.write(f"{done.error}\n")
        return 1 if done.refused or done.conflicts or done.withdrawn_rows else 0
    finally:
        await database.dispose()
