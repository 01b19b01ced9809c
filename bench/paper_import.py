"""Paper import benchmark (issue 14): a workbook imported through the API on PostgreSQL,
against the batch endpoint fed the same rows, in the same run, on a shared machine.

    .venv/bin/python -m bench.paper_import [--rows 100000] [--small 10000] [--repetitions 3]
    make bench-paper BENCH_ARGS="--rows 20000"

It makes a fresh, migrated database (`skm_bench_paper` on SKM_BENCH_POSTGRES_URL, dropped
and created, left afterwards for inspection; or a SQLite file), serves it with the real
service (`uvicorn app.main:create_app --factory --workers 1`, bench/harness.py), and prints:

- the spreadsheet reader's own speed (app/imports/sheet_reader.py, in this process): the
  ceiling;
- per workbook (`--small` rows, then `--rows`), `--repetitions` pairs, the two sides
  interleaved (batch then import, then import then batch, ...), each on units of its own
  (so every repetition stores every row), with the load average at each:
  - the batch endpoint's responses/s: the same rows as paper responses, 500 a batch,
    posted one after another by one client (as one importing client would); the memory
    sampler (below) runs meanwhile too, as it does during the import: its reads of the
    worker's /proc (about 2 ms every 50 ms) weigh on both sides alike;
  - the import end to end: from the upload's start to the job's `finished_at` (validation
    included; the job's own clock, so the polling interval adds nothing), in rows/s; its
    status is polled once a second meanwhile (as a dashboard would), progress counted;
  - the ratio import ÷ batch of the pair, and the median ratio of the repetitions;
  - peak memory (PSS: each shared page counted once, split among its sharers) of the
    worker and its children (the import's reading process) above the worker just before
    the import (its steady state) and above the idle worker;
- the second import of the large file: its time and the rows it stored (0 expected).

Exits 1 when a check fails (rows stored differ from the file's, or the second import
stored anything), 2 when it cannot run. A missed target is only reported.
"""

import argparse
import contextlib
import io
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import xlsxwriter
from sqlalchemy import create_engine, text

from app.auth import new_token, token_hash
from app.db import sync_url
from app.imports.reading import read
from app.method import ELEMENTS
from bench.harness import (
    BenchError,
    Service,
    code_note,
    code_version,
    fresh_database,
    migrate,
    read_rss,
    serving,
)

SERVICES = ("ktp", "kk", "akta")
BATCH = 500
POLL_SECONDS = 1.0  # as a dashboard would; the time comes from the job's finished_at
MB = 1_000_000


def make_workbook(rows: int, seed: int) -> bytes:
    """`rows` respondents without sheet codes (last year's spreadsheet), streamed out."""
    rng = random.Random(seed)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "constant_memory": True})
    sheet = book.add_worksheet("Responses")
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    header = ["date", "service", *ELEMENTS, "gender", "age_band"]
    sheet.write_row(0, 0, header)
    today = datetime.now(UTC).replace(tzinfo=None)
    for number in range(1, rows + 1):
        day = today - timedelta(days=rng.randrange(1, 60))
        sheet.write_datetime(number, 0, day, date_format)
        sheet.write_string(number, 1, rng.choice(SERVICES))
        for position in range(len(ELEMENTS)):
            if rng.random() > 0.02:  # a blank now and then, as on paper
                sheet.write_number(number, 2 + position, rng.randint(1, 4))
        sheet.write_string(number, 11, rng.choice("LP"))
        sheet.write_string(number, 12, rng.choice(("20-29", "30-39", "40-49")))
    book.close()
    return buffer.getvalue()


def reader_speed(content: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    _, rows = read(content, "xlsx")
    count = sum(1 for _ in rows)
    return count, time.perf_counter() - started


def descendants(pid: int) -> list[int]:
    """The process's children, theirs, and so on (as the kernel lists them)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


def read_pss(pid: int) -> int:
    """The proportional set size of a process, in bytes: its private pages, and its share of
    the pages it shares (a page shared by n processes counts 1/n in each)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no Pss for process {pid}")


def tree_pss(pid: int) -> int:
    """The memory of a process and of its descendants (PSS: what they share counted once)."""
    total = read_pss(pid)
    for child in descendants(pid):
        with contextlib.suppress(OSError, BenchError):  # ended meanwhile
            total += read_pss(child)
    return total


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


class Sampler(threading.Thread):
    """The peak memory (PSS) of the worker and its children while something runs."""

    def __init__(self, service: Service) -> None:
        super().__init__(daemon=True)
        self.service = service
        self.peak = tree_pss(service.pid)
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, tree_pss(self.service.pid))
            time.sleep(0.05)

    def stop(self) -> int:
        self.running = False
        self.join()
        return self.peak


def insert_admin(url: str) -> str:
    token = new_token()
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_keys (name, role, read_responses, token_hash, prefix, created_at)"
                " VALUES ('bench', 'admin', false, :hash, :prefix, :now)"
            ),
            {"hash": token_hash(token), "prefix": token[:10], "now": datetime.now(UTC)},
        )
    engine.dispose()
    return token


def setup_unit(client: httpx2.Client, code: str) -> None:
    made = client.post(
        "/v1/units",
        json={"code": code, "name": code, "kind": "agency", "time_zone": "Asia/Makassar"},
    )
    if made.status_code != 201:
        raise BenchError(made.text)
    for service in SERVICES:
        client.post(f"/v1/units/{code}/services", json={"code": service, "name": service})


Row = tuple[str, str, dict[str, Any], dict[str, Any]]


def batch_rows(content: bytes) -> list[Row]:
    """The file's rows as the batch endpoint's items take them, read once (untimed)."""
    _, rows = read(content, "xlsx")
    found = []
    for row in rows:
        cells = row.cells
        day = cells["date"].replace(tzinfo=UTC) - timedelta(hours=8)
        found.append(
            (
                day.isoformat(),
                cells["service"],
                {e: cells[e] for e in ELEMENTS if e in cells},
                {"gender": cells["gender"], "age_band": cells["age_band"]},
            )
        )
    return found


def batch_rate(
    client: httpx2.Client, service: Service, rows: list[Row], unit: str
) -> tuple[int, float, int]:
    """The rows posted to the batch endpoint as paper responses of `unit`: created, the
    seconds the posts took, and the worker's peak size meanwhile (sampled as during an
    import, so that the sampling costs both sides the same)."""
    sampler = Sampler(service)
    sampler.start()
    try:
        created, elapsed = _posted(client, rows, unit)
    finally:
        peak = sampler.stop()
    return created, elapsed, peak


def _posted(client: httpx2.Client, rows: list[Row], unit: str) -> tuple[int, float]:
    created = 0
    elapsed = 0.0
    for start in range(0, len(rows), BATCH):
        items = [
            {
                "id": str(uuid.uuid4()),
                "unit": unit,
                "service": service,
                "survey_version_id": 1,
                "channel": "paper",
                "collected_at": collected,
                "answers": answers,
                "profile": profile,
            }
            for collected, service, answers, profile in rows[start : start + BATCH]
        ]
        started = time.perf_counter()
        answer = client.post("/v1/responses/batch", json={"items": items})
        elapsed += time.perf_counter() - started
        if answer.status_code != 200:
            raise BenchError(answer.text[:500])
        created += sum(1 for i in answer.json()["items"] if i["status"] == "created")
    return created, elapsed


def import_file(
    client: httpx2.Client, service: Service, content: bytes, unit: str
) -> tuple[dict[str, Any], float, int, int, list[float]]:
    """Upload and poll to the end: the final status, the seconds from the upload's start to
    the job's finished_at, the worker's (and children's) size just before and at its peak,
    and the percents seen."""
    before = tree_pss(service.pid)
    sampler = Sampler(service)
    sampler.start()
    started = datetime.now(UTC)
    answer = client.post(
        f"/v1/units/{unit}/imports",
        content=content,
        headers={"Content-Type": "application/octet-stream"},
    )
    if answer.status_code != 202:
        sampler.stop()
        raise BenchError(answer.text[:500])
    seen: list[float] = []
    while True:
        time.sleep(POLL_SECONDS)
        status: dict[str, Any] = client.get(f"/v1/imports/{answer.json()['id']}").json()
        seen.append(status["percent"])
        if status["state"] in ("done", "failed", "lost"):
            break
    peak = sampler.stop()
    finished = datetime.fromisoformat(status["finished_at"] or datetime.now(UTC).isoformat())
    return status, (finished - started).total_seconds(), before, peak, seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.paper_import", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args(argv)
    at_start = code_version()
    failed = False
    with tempfile.TemporaryDirectory() as directory:
        url = fresh_database(args.db, "skm_bench_paper", Path(directory))
        migrate(url)
        token = insert_admin(url)
        small, large = make_workbook(args.small, 1), make_workbook(args.rows, 2)
        print(
            f"workbooks: {args.small:,} rows {len(small) / MB:.1f} MB, "
            f"{args.rows:,} rows {len(large) / MB:.1f} MB; {os.cpu_count()} CPUs; {load()}"
        )
        count, seconds = reader_speed(large)
        print(f"reader (sheet_reader, this process): {count / seconds:,.0f} rows/s")
        with (
            serving(url, Path(directory)) as service,
            httpx2.Client(
                base_url=service.base_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=600,
            ) as client,
        ):
            sizes = (("small", small, args.small), ("large", large, args.rows))
            for name, _, _ in sizes:
                for rep in range(1, args.repetitions + 1):
                    setup_unit(client, f"imp-{name}-{rep}")
                    setup_unit(client, f"bat-{name}-{rep}")
            idle = tree_pss(service.pid)
            print(f"worker idle: {idle / MB:.1f} MB PSS ({read_rss(service.pid) / MB:.1f} MB RSS)")
            for name, content, rows in sizes:
                items = batch_rows(content)
                ratios = []
                over_before = []
                for rep in range(1, args.repetitions + 1):
                    figures = {}
                    sides = ("batch", "import") if rep % 2 else ("import", "batch")
                    for side in sides:
                        if side == "batch":
                            created, seconds, peak = batch_rate(
                                client, service, items, f"bat-{name}-{rep}"
                            )
                            figures["batch"] = created / seconds
                            print(
                                f"  {name} #{rep} batch endpoint ({BATCH} a batch, one client):"
                                f" {created:,} created, {created / seconds:,.0f} responses/s;"
                                f" peak PSS {(peak - idle) / MB:+.1f} MB over idle; {load()}"
                            )
                            continue
                        status, seconds, before, peak, seen = import_file(
                            client, service, content, f"imp-{name}-{rep}"
                        )
                        figures["import"] = status["stored"] / seconds
                        over_before.append(peak - before)
                        shown = sorted({p for p in seen if 0 < p < 100})
                        print(
                            f"  {name} #{rep} import: {status['state']}, {status['stored']:,} "
                            f"stored in {seconds:.1f} s = {figures['import']:,.0f} rows/s; "
                            f"peak PSS {(peak - before) / MB:+.1f} MB over the worker just "
                            f"before ({before / MB:.0f} MB), {(peak - idle) / MB:+.1f} MB "
                            f"over idle; {len(shown)} intermediate percents seen; {load()}"
                        )
                        if status["stored"] != rows:
                            print(f"  CHECK FAILED: {rows} rows, {status['stored']} stored")
                            failed = True
                    ratios.append(figures["import"] / figures["batch"])
                print(
                    f"import {name} ({rows:,} rows): import / batch endpoint "
                    f"{', '.join(f'{r:.2f}' for r in ratios)}; median "
                    f"{statistics.median(ratios):.2f} x (target >= 1.0); peak PSS over the "
                    f"worker just before: at most {max(over_before) / MB:+.1f} MB "
                    f"(target <= 80 MB)"
                )
                del items
            status, seconds, _, peak, _ = import_file(client, service, large, "imp-large-1")
            print(
                f"second import of the large file: {seconds:.1f} s, {status['stored']} stored, "
                f"{status['present']:,} already present; peak PSS {(peak - idle) / MB:+.1f} MB "
                f"over idle"
            )
            if status["stored"] != 0:
                failed = True
        print(code_note(at_start))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench.paper_import: {error}", file=sys.stderr)
        sys.exit(2)
