"""Export benchmark: streaming every response as CSV, and the worker's memory meanwhile.

Run from the checkout (about two minutes with the defaults, most of it loading the rows):

    .venv/bin/python -m bench.export [--responses 1000000] [--small-period 2025-Q1]
        [--interval 0.05] [--seed 14]
    make bench-export BENCH_ARGS="--responses 1000000"

It drops and creates the PostgreSQL database `skm_bench_export` (through
SKM_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres) and
bulk-loads the data set of bench/dataset.py (N responses over 2025–2026). Then, twice, each
time in a freshly started service (`uvicorn app.main:create_app --factory`, 1 worker, no
access log): it records the worker's resident memory at idle (VmRSS from /proc, one second
after /health answered), then streams `GET /v1/responses/export.csv` with an
administrator's key — first `?period=2025-Q1` (about a tenth of the rows, ~100k at 1M),
then everything, no filter — reading the body in chunks and keeping none of it, counting
rows (lines after the header) and bytes, while a thread samples the worker's VmRSS every
`--interval` seconds.

Printed per export: rows, MB, seconds, time to the first byte, rows/s, MB/s, the worker's
CPU use, its idle and peak RSS; whether the rows equal the count in the database; and the
peak RSS of the full export ÷ that of the small one against its target (≤ 1.1: memory stays
flat whatever the number of rows). Exits 1 when a check fails, 2 when the benchmark could
not run; a missed target is only reported.
"""

import argparse
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2

from app.periods import parse_period
from bench.dataset import Dataset, RawDatabase, fresh_and_loaded
from bench.harness import MB, BenchError, Service, code_note, code_version, serving

DATABASE = "skm_bench_export"
PATH = "/v1/responses/export.csv"
TARGET_FLAT = 1.1  # peak RSS exporting everything ÷ peak RSS exporting the small period
IDLE_SETTLE = 1.0  # seconds between /health and reading the idle RSS
DEADLINE = 900.0  # seconds at most per export


class MemorySampler(threading.Thread):
    """Samples a process's VmRSS every `interval` seconds until stopped; keeps the peak."""

    def __init__(self, service: Service, interval: float) -> None:
        super().__init__(daemon=True)
        self.service = service
        self.interval = interval
        self.peak = service.rss()
        self.samples = 1
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.peak = max(self.peak, self.service.rss())
            self.samples += 1

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.peak = max(self.peak, self.service.rss())


@dataclass
class Export:
    label: str
    expected: int  # rows in the database for this filter
    rows: int = 0
    size: int = 0  # bytes
    seconds: float = 0.0
    first_byte: float = 0.0  # seconds
    cpu: float = 0.0  # worker CPU seconds
    idle_rss: int = 0
    peak_rss: int = 0
    samples: int = 0

    @property
    def check(self) -> str:
        return "OK" if self.rows == self.expected else "MISMATCH"


def stream(service: Service, token: str, query: str, export: Export, interval: float) -> None:
    """One export, read in chunks and dropped, with the worker's memory sampled."""
    time.sleep(IDLE_SETTLE)
    export.idle_rss = service.rss()
    sampler = MemorySampler(service, interval)
    lines = 0
    with httpx2.Client(base_url=service.base_url, timeout=httpx2.Timeout(60.0)) as client:
        cpu, started = service.cpu(), time.perf_counter()
        sampler.start()
        try:
            with client.stream(
                "GET", PATH + query, headers={"Authorization": f"Bearer {token}"}
            ) as answer:
                if answer.status_code != 200:
                    raise BenchError(f"GET {PATH}{query}: {answer.status_code} {answer.read()!r}")
                for chunk in answer.iter_raw():
                    if not export.size:
                        export.first_byte = time.perf_counter() - started
                    export.size += len(chunk)
                    lines += chunk.count(b"\n")
                    if time.perf_counter() - started > DEADLINE:
                        raise BenchError(f"the export took more than {DEADLINE:g} s")
        finally:
            sampler.stop()
        export.seconds = time.perf_counter() - started
        export.cpu = service.cpu() - cpu
    export.rows = lines - 1  # the header
    export.peak_rss, export.samples = sampler.peak, sampler.samples


def count_rows(dataset: Dataset, period: str | None) -> int:
    db = RawDatabase(dataset.url)
    try:
        if period is None:
            return int(db.query("SELECT count(*) FROM responses")[0][0])
        days = parse_period(period)
        return int(
            db.query(
                "SELECT count(*) FROM responses WHERE local_date BETWEEN {p} AND {p}",
                (days.start, days.end),
            )[0][0]
        )
    finally:
        db.close()


def report(dataset: Dataset, exports: list[Export], args: argparse.Namespace, code: str) -> None:
    print(
        f"\n== PostgreSQL, {dataset.responses:,} responses (loaded in {dataset.seconds:.1f} s), "
        f"{code_note(code)}: GET {PATH}, one fresh worker per export, "
        f"VmRSS sampled every {1000 * args.interval:g} ms"
    )
    print(
        f"{'export':<22} {'rows':>9} {'MB':>7} {'s':>6} {'1st byte':>8} {'rows/s':>8} "
        f"{'MB/s':>6} {'CPU':>5} {'idle RSS':>8} {'peak RSS':>8} {'peak−idle':>9}  check"
    )
    for e in exports:
        print(
            f"{e.label:<22} {e.rows:>9,} {e.size / MB:>7.1f} {e.seconds:>6.1f} "
            f"{1000 * e.first_byte:>6.0f}ms {e.rows / e.seconds:>8,.0f} "
            f"{e.size / MB / e.seconds:>6.1f} {e.cpu / e.seconds:>5.0%} "
            f"{e.idle_rss / MB:>6.1f}MB {e.peak_rss / MB:>6.1f}MB "
            f"{(e.peak_rss - e.idle_rss) / MB:>7.1f}MB  {e.check} ({e.samples} samples)"
        )
    small, full = exports
    ratio = full.peak_rss / small.peak_rss
    print(
        f"peak RSS: {small.label} {small.peak_rss / MB:.1f} MB, {full.label} "
        f"{full.peak_rss / MB:.1f} MB; ratio {ratio:.3f} (target ≤ {TARGET_FLAT:g}: "
        f"{'met' if ratio <= TARGET_FLAT else 'MISSED'})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.export", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--small-period", default="2025-Q1", help="the filter of the small export")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    code = code_version()
    try:
        with tempfile.TemporaryDirectory(prefix="skm-bench-") as tmp:
            directory = Path(tmp)
            dataset = fresh_and_loaded("postgresql", DATABASE, directory, args.responses, args.seed)
            exports = [
                Export(f"period={args.small_period}", count_rows(dataset, args.small_period)),
                Export("all (no filter)", count_rows(dataset, None)),
            ]
            for export, query in zip(exports, (f"?period={args.small_period}", ""), strict=True):
                with serving(dataset.url, directory) as service:
                    stream(service, dataset.token, query, export, args.interval)
            report(dataset, exports, args, code)
    except BenchError as error:
        print(f"bench.export: {error}", file=sys.stderr)
        return 2
    return 0 if all(e.check == "OK" for e in exports) else 1


if __name__ == "__main__":
    sys.exit(main())
