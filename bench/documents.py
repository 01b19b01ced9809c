"""Documents benchmark (the Laporan SKM and the poster): time and peak memory of each for a
unit-year of about 10,000 respondents and a mall-year of about 200,000 (its ~30 tenants),
on PostgreSQL. Prints figures, asserts nothing (target: ≤ 3 s each, issue 11).

    .venv/bin/python -m bench.documents [--db postgresql|sqlite] [--responses 630000]

Loads the bench data set (`bench.dataset`: 2025-01-01..2026-12-31) into a fresh database,
then picks, for 2026, the service mall with the most respondents and the service unit whose
count is nearest 10,000, and makes each document in this process through the functions the
API calls (`figures`, `laporan_pdf`, `poster_pdf`, `poster_png`), three times each (the
best and the worst are printed). Peak memory is the process's maximum resident size
(ru_maxrss) before and after; "cpu s" is this process's CPU time for the best run (the
rest of a wall time is the database's work, or waiting for a busy machine's cores), and
"laporan figures" is the reading part of the Laporan alone. 630,000 responses give a
mall-year of about 200,000 and a unit-year of about 10,000. On a database already loaded
(`python -m bench.dataset --responses 630000 --name NAME`):
`python -c "from bench.documents import run_on; run_on(URL)"`.
"""

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app import indices
from app.db import Database
from app.documents.figures import figures
from app.documents.poster import poster_pdf, poster_png
from app.documents.report import laporan_pdf
from app.periods import parse_period
from bench.dataset import fresh_and_loaded
from bench.harness import BenchError

YEAR = "2026"
RUNS = 3


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _targets(database: Database) -> tuple[tuple[str, int], tuple[str, int]]:
    """(mall, its 2026 respondents) and (unit nearest 10,000 in 2026, its respondents)."""
    async with database.read_connection() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT u.code, u.kind, u.path, count(*) AS n FROM responses r "
                    "JOIN units u ON u.id = r.unit_id WHERE r.local_date BETWEEN "
                    "'2026-01-01' AND '2026-12-31' GROUP BY u.code, u.kind, u.path"
                )
            )
        ).all()
        malls = (
            await conn.execute(text("SELECT code, path FROM units WHERE kind = 'service_mall'"))
        ).all()
    per_mall = {code: sum(r.n for r in rows if r.path.startswith(path)) for code, path in malls}
    mall = max(per_mall, key=lambda code: per_mall[code])
    unit = min(rows, key=lambda r: abs(r.n - 10_000))
    return (mall, per_mall[mall]), (unit.code, unit.n)


async def _measure(
    database: Database, code: str, make: Callable[..., Awaitable[bytes]]
) -> tuple[list[float], list[float], int]:
    """Wall times and this process's CPU times (the machine may be busy: the CPU time is
    what the document itself costs here, the database's work aside)."""
    times, cpu = [], []
    size = 0
    for _ in range(RUNS):
        started, cpu_started = time.perf_counter(), time.process_time()
        async with database.read_connection() as conn:
            unit = await indices.find_unit(conn, code)
            assert unit is not None
            body = await make(conn, unit)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        size = len(body)
    return times, cpu, size


async def run(url: str) -> None:
    database = Database(url, pool_size=2, timeout=600)
    window = parse_period(YEAR)
    try:
        (mall, mall_n), (unit, unit_n) = await _targets(database)

        async def laporan(conn: AsyncConnection, unit: indices.Node) -> bytes:
            data = await figures(conn, unit, window)
            return laporan_pdf(data, "id")

        async def poster(conn: AsyncConnection, unit: indices.Node) -> bytes:
            data = await figures(conn, unit, window, full=False)
            return poster_pdf(data, "id", "https://skm.example.go.id/v1/public/indices/x")

        async def poster_image(conn: AsyncConnection, unit: indices.Node) -> bytes:
            return poster_png(await poster(conn, unit))

        async def headline(conn: AsyncConnection, unit: indices.Node) -> bytes:
            data = await figures(conn, unit, window, full=False)
            return data.report.model_dump_json().encode()

        async def laporan_figures(conn: AsyncConnection, unit: indices.Node) -> bytes:
            data = await figures(conn, unit, window)
            return repr(data.profile).encode()

        print(
            f"{'target':<34} {'document':<16} {'best s':>7} {'worst s':>8} {'cpu s':>6} "
            f"{'bytes':>9} {'peak MB':>8}"
        )
        for label, code in (
            (f"unit-year {unit} n={unit_n:,}", unit),
            (f"mall-year {mall} n={mall_n:,}", mall),
        ):
            for name, make in (
                ("figures", headline),
                ("laporan figures", laporan_figures),
                ("laporan", laporan),
                ("poster.pdf", poster),
                ("poster.png", poster_image),
            ):
                times, cpu, size = await _measure(database, code, make)
                print(
                    f"{label:<34} {name:<16} {min(times):7.2f} {max(times):8.2f} "
                    f"{min(cpu):6.2f} {size:9,} {peak_mb():8.1f}",
                    flush=True,
                )
    finally:
        await database.dispose()


def run_on(url: str) -> None:
    """The measurements alone, on a database already loaded (`python -m bench.dataset`)."""
    asyncio.run(run(url))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.documents", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--responses", type=int, default=630_000)
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="skm-bench-") as tmp:
            dataset = fresh_and_loaded(args.db, "skm_bench_documents", Path(tmp), args.responses)
            print(f"peak before the documents: {peak_mb():.1f} MB")
            asyncio.run(run(dataset.url))
    except BenchError as error:
        print(f"bench.documents: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
