"""Documents benchmark: the processing workbook (XLSX) of a unit-year and a mall-year, its
time against the library's own speed, and the worker's memory meanwhile.

Run from the checkout (several minutes with the defaults, most of it loading the rows):

    .venv/bin/python -m bench.workbook [--responses 700000] [--interval 0.05] [--seed 14]
    make bench-workbook BENCH_ARGS="--cases unit-year,mall-year"

It drops and creates the PostgreSQL database `skm_bench_workbook` (through
SKM_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres) and
bulk-loads the data set of bench/dataset.py (N responses over 2025–2026). The cases, chosen
from the loaded data: a service counter's year (the one nearest 1,000 respondents in 2025),
a unit-year (the agency nearest 10,000 in 2025), the busier mall's year 2025 (about 200,000
at the default N, 30 tenants) and the same mall over both years (about 420,000).

Per case, in a freshly started service (`uvicorn app.main:create_app --factory`, 1 worker):
the worker's resident memory at idle (VmRSS, one second after /health answered), then
`GET /v1/units/{code}/documents/workbook.xlsx` with an administrator's key, the body read
in chunks and dropped, while a thread samples the worker's VmRSS every `--interval` s.
Then, in this process, the baseline: the same rows read into memory first (not timed), and
the same cells written with the same library and the same code from that list
(`write_workbook_from_memory`), timed. Printed per case: respondents, MB, seconds, rows/s,
the baseline's seconds and rows/s, the ratio (target ≤ 1.25), the worker's idle and peak
RSS and peak − idle (target ≤ 50 MB). Exits 2 when the benchmark could not run; a missed
target is only reported.
"""

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx2

from app.db import Database
from app.documents.workbook import write_workbook_from_memory
from app.documents.workbook_data import respondent_batches, workbook_data
from app.indices import find_unit
from app.periods import Span
from bench.dataset import Dataset, RawDatabase, fresh_and_loaded
from bench.export import MemorySampler
from bench.harness import MB, BenchError, Service, code_note, code_version, serving

DATABASE = "skm_bench_workbook"
TARGET_RATIO = 1.25  # workbook time ÷ the same cells written from memory
TARGET_MEMORY = 50 * MB  # peak RSS − idle RSS of the worker
IDLE_SETTLE = 1.0
DEADLINE = 900.0
YEAR = Span("2025", date(2025, 1, 1), date(2025, 12, 31))
TWO_YEARS = Span(None, date(2025, 1, 1), date(2026, 12, 31))


@dataclass
class Case:
    label: str
    code: str
    window: Span
    expected: int  # counted responses in the database
    size: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # the worker's CPU seconds
    baseline: float = 0.0
    baseline_cpu: float = 0.0
    idle_rss: int = 0
    peak_rss: int = 0
    samples: int = 0

    @property
    def query(self) -> dict[str, str]:
        if self.window.label is not None:
            return {"period": self.window.label}
        return {"from": self.window.start.isoformat(), "to": self.window.end.isoformat()}


SUBTREE_COUNTS = """
SELECT u.code, count(*) FROM responses r
JOIN units leaf ON leaf.id = r.unit_id
JOIN units u ON leaf.path LIKE u.path || '%%'
WHERE u.kind = {p} AND r.local_date BETWEEN {p} AND {p}
GROUP BY u.code
"""


def nearest(db: RawDatabase, kind: str, window: Span, target: int) -> tuple[str, int]:
    rows = db.query(SUBTREE_COUNTS, (kind, window.start, window.end))
    code, count = min(rows, key=lambda row: abs(int(row[1]) - target))
    return str(code), int(count)


def count(db: RawDatabase, code: str, window: Span) -> int:
    rows = db.query(
        "SELECT count(*) FROM responses r JOIN units leaf ON leaf.id = r.unit_id "
        "JOIN units u ON leaf.path LIKE u.path || '%%' "
        "WHERE u.code = {p} AND r.local_date BETWEEN {p} AND {p}",
        (code, window.start, window.end),
    )
    return int(rows[0][0])


def choose_cases(dataset: Dataset) -> list[Case]:
    db = RawDatabase(dataset.url)
    try:
        counter = nearest(db, "service_unit", YEAR, 1000)
        agency = nearest(db, "agency", YEAR, 10_000)
        return [
            Case("counter-year", counter[0], YEAR, counter[1]),
            Case("unit-year", agency[0], YEAR, agency[1]),
            Case("mall-year", dataset.mall, YEAR, count(db, dataset.mall, YEAR)),
            Case("mall-two-years", dataset.mall, TWO_YEARS, count(db, dataset.mall, TWO_YEARS)),
        ]
    finally:
        db.close()


def download(service: Service, token: str, case: Case, interval: float) -> None:
    time.sleep(IDLE_SETTLE)
    case.idle_rss = service.rss()
    sampler = MemorySampler(service, interval)
    path = f"/v1/units/{case.code}/documents/workbook.xlsx"
    with httpx2.Client(base_url=service.base_url, timeout=httpx2.Timeout(DEADLINE)) as client:
        cpu, started = service.cpu(), time.perf_counter()
        sampler.start()
        try:
            with client.stream(
                "GET", path, params=case.query, headers={"Authorization": f"Bearer {token}"}
            ) as answer:
                if answer.status_code != 200:
                    raise BenchError(f"GET {path}: {answer.status_code} {answer.read()!r}")
                for chunk in answer.iter_raw():
                    case.size += len(chunk)
        finally:
            sampler.stop()
        case.seconds = time.perf_counter() - started
        case.cpu = service.cpu() - cpu
    case.peak_rss, case.samples = sampler.peak, sampler.samples


async def _rows_in_memory(url: str, case: Case) -> tuple[Any, list[Any]]:
    database = Database(url, pool_size=1)
    try:
        async with database.snapshot_engine.connect() as conn:
            unit = await find_unit(conn, case.code)
            if unit is None:
                raise BenchError(f"no unit {case.code}")
            data = await workbook_data(conn, unit, case.window, False, live=True)
            batches = [b async for b in respondent_batches(conn, unit, case.window, False)]
        return data, batches
    finally:
        await database.dispose()


def baseline(url: str, case: Case, directory: Path) -> None:
    """The same cells from memory: rows read first (not timed), then written, timed."""
    data, batches = asyncio.run(_rows_in_memory(url, case))
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        cpu, started = time.process_time(), time.perf_counter()
        written = write_workbook_from_memory(data, Path(tmp) / "baseline.xlsx", batches)
        case.baseline = time.perf_counter() - started
        case.baseline_cpu = time.process_time() - cpu
    if written.respondents != case.expected:
        raise BenchError(f"{case.label}: {written.respondents} rows, {case.expected} expected")


def report(dataset: Dataset, cases: list[Case], args: argparse.Namespace, code: str) -> None:
    print(
        f"\n== PostgreSQL, {dataset.responses:,} responses (loaded in {dataset.seconds:.1f} s), "
        f"{code_note(code)}: GET /v1/units/{{code}}/documents/workbook.xlsx, one fresh worker "
        f"per case, VmRSS sampled every {1000 * args.interval:g} ms"
    )
    print(
        f"{'case':<15} {'rows':>8} {'MB':>6} {'s':>6} {'CPU s':>6} {'rows/s':>7} "
        f"{'memory s':>8} {'CPU s':>6} {'rows/s':>7} {'ratio':>5} {'CPU ratio':>9} "
        f"{'idle':>7} {'peak':>7} {'peak−idle':>9}"
    )
    for c in cases:
        ratio, cpu_ratio = c.seconds / c.baseline, c.cpu / c.baseline_cpu
        grown = c.peak_rss - c.idle_rss
        print(
            f"{c.label:<15} {c.expected:>8,} {c.size / MB:>6.1f} {c.seconds:>6.1f} "
            f"{c.cpu:>6.1f} {c.expected / c.seconds:>7,.0f} {c.baseline:>8.1f} "
            f"{c.baseline_cpu:>6.1f} {c.expected / c.baseline:>7,.0f} {ratio:>5.2f} "
            f"{cpu_ratio:>9.2f} {c.idle_rss / MB:>5.1f}MB {c.peak_rss / MB:>5.1f}MB "
            f"{grown / MB:>7.1f}MB  time {'met' if ratio <= TARGET_RATIO else 'MISSED'} "
            f"(CPU {'met' if cpu_ratio <= TARGET_RATIO else 'MISSED'}), "
            f"memory {'met' if grown <= TARGET_MEMORY else 'MISSED'} ({c.samples} samples)"
        )
    for c in cases:
        print(f"  {c.label}: {c.code}")
    print(
        f"targets: workbook ≤ {TARGET_RATIO:g}× the same cells written from memory; peak "
        f"within {TARGET_MEMORY / MB:g} MB of the idle worker"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.workbook", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--responses", type=int, default=700_000)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--cases",
        default="counter-year,unit-year,mall-year,mall-two-years",
        help="which cases, comma-separated",
    )
    args = parser.parse_args(argv)
    code = code_version()
    try:
        with tempfile.TemporaryDirectory(prefix="skm-bench-") as tmp:
            directory = Path(tmp)
            dataset = fresh_and_loaded("postgresql", DATABASE, directory, args.responses, args.seed)
            wanted = args.cases.split(",")
            cases = [c for c in choose_cases(dataset) if c.label in wanted]
            for case in cases:
                print(f"{case.label}: {case.code}, {case.expected:,} respondents …", flush=True)
                with serving(dataset.url, directory) as service:
                    download(service, dataset.token, case, args.interval)
                baseline(dataset.url, case, directory)
                print(
                    f"  {case.label}: workbook {case.seconds:.1f} s (CPU {case.cpu:.1f} s), "
                    f"from memory {case.baseline:.1f} s (CPU {case.baseline_cpu:.1f} s), "
                    f"peak − idle {(case.peak_rss - case.idle_rss) / MB:.1f} MB",
                    flush=True,
                )
            report(dataset, cases, args, code)
    except BenchError as error:
        print(f"bench.workbook: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
