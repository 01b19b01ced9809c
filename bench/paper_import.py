"""Paper import benchmark (issue 14): a 100,000-row workbook imported through the API on
PostgreSQL, against the batch endpoint fed the same rows, in the same run.

    .venv/bin/python -m bench.paper_import [--rows 100000] [--small 10000] [--db postgresql]
    make bench-paper BENCH_ARGS="--rows 20000"

It makes a fresh, migrated database (`skm_bench_paper` on SKM_BENCH_POSTGRES_URL, dropped
and created, left afterwards for inspection; or a SQLite file), serves it with the real
service (`uvicorn app.main:create_app --factory --workers 1`, bench/harness.py), and prints:

- the spreadsheet reader's own speed (openpyxl read-only, in this process): the ceiling;
- the batch endpoint's responses/s: the same rows as paper responses, in batches of 500,
  posted one after another by one client (as one importing client would);
- per workbook (`--small` rows, then `--rows`): the import end to end — upload, the job
  (validation included), polled every 0.2 s until done — in rows/s, and the worker's peak
  resident memory (sampled while it runs) above its idle size at start and above its size
  just before the import (the batch run before it grows the heap, which is not returned);
- the second import of the large file: its time and the rows it stored (0 expected).

Exits 1 when a check fails (rows stored differ from the file's, or the second import
stored anything), 2 when it cannot run. A missed target is only reported.
"""

import argparse
import io
import random
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
    serving,
)

SERVICES = ("ktp", "kk", "akta")
BATCH = 500
POLL_SECONDS = 0.2
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


class Sampler(threading.Thread):
    """The worker's peak resident memory while something runs."""

    def __init__(self, service: Service) -> None:
        super().__init__(daemon=True)
        self.service = service
        self.peak = service.rss()
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.service.rss())
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


def setup_units(client: httpx2.Client) -> None:
    for code in ("capil", "capil-batch"):
        made = client.post(
            "/v1/units",
            json={"code": code, "name": code, "kind": "agency", "time_zone": "Asia/Makassar"},
        )
        if made.status_code != 201:
            raise BenchError(made.text)
        for service in SERVICES:
            client.post(f"/v1/units/{code}/services", json={"code": service, "name": service})


def batch_rate(client: httpx2.Client, content: bytes) -> tuple[int, float]:
    """The file's rows posted to the batch endpoint as paper responses (another unit)."""
    _, rows = read(content, "xlsx")
    items: list[dict[str, Any]] = []
    created = 0
    elapsed = 0.0

    def send() -> None:
        nonlocal created, elapsed
        started = time.perf_counter()
        answer = client.post("/v1/responses/batch", json={"items": items})
        elapsed += time.perf_counter() - started
        if answer.status_code != 200:
            raise BenchError(answer.text[:500])
        created += sum(1 for i in answer.json()["items"] if i["status"] == "created")
        items.clear()

    for row in rows:
        cells = row.cells
        day = cells["date"].replace(tzinfo=UTC) - timedelta(hours=8)
        items.append(
            {
                "id": str(uuid.uuid4()),
                "unit": "capil-batch",
                "service": cells["service"],
                "survey_version_id": 1,
                "channel": "paper",
                "collected_at": day.isoformat(),
                "answers": {e: cells[e] for e in ELEMENTS if e in cells},
                "profile": {"gender": cells["gender"], "age_band": cells["age_band"]},
            }
        )
        if len(items) == BATCH:
            send()
    if items:
        send()
    return created, elapsed


def import_file(
    client: httpx2.Client, service: Service, content: bytes
) -> tuple[dict[str, Any], float, int, list[float]]:
    """Upload and poll to the end: the final status, seconds, peak RSS, percents seen."""
    sampler = Sampler(service)
    sampler.start()
    started = time.perf_counter()
    answer = client.post(
        "/v1/units/capil/imports",
        content=content,
        headers={"Content-Type": "application/octet-stream"},
    )
    if answer.status_code != 202:
        sampler.stop()
        raise BenchError(answer.text[:500])
    seen: list[float] = []
    while True:
        status: dict[str, Any] = client.get(f"/v1/imports/{answer.json()['id']}").json()
        seen.append(status["percent"])
        if status["state"] in ("done", "failed", "lost"):
            break
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    return status, seconds, sampler.stop(), seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.paper_import", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
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
            f"{args.rows:,} rows {len(large) / MB:.1f} MB"
        )
        count, seconds = reader_speed(large)
        print(f"reader (openpyxl read-only, this process): {count / seconds:,.0f} rows/s")
        with (
            serving(url, Path(directory)) as service,
            httpx2.Client(
                base_url=service.base_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=600,
            ) as client,
        ):
            setup_units(client)
            idle = service.rss()
            print(f"worker idle: {idle / MB:.1f} MB")
            created, seconds = batch_rate(client, large)
            batch_per_second = created / seconds
            print(
                f"batch endpoint ({BATCH} a batch, one client): {created:,} created, "
                f"{batch_per_second:,.0f} responses/s"
            )
            for name, content, rows in (("small", small, args.small), ("large", large, args.rows)):
                before = service.rss()
                status, seconds, peak, seen = import_file(client, service, content)
                rate = status["stored"] / seconds
                shown = sorted({p for p in seen if 0 < p < 100})
                print(
                    f"import {name} ({rows:,} rows): {status['state']}, {status['stored']:,} "
                    f"stored in {seconds:.1f} s = {rate:,.0f} rows/s "
                    f"({rate / batch_per_second:.2f} x the batch endpoint); peak RSS "
                    f"{(peak - idle) / MB:+.1f} MB over idle, {(peak - before) / MB:+.1f} MB "
                    f"over the worker just before; progress seen: "
                    f"{len(shown)} intermediate percents"
                )
                if status["stored"] != rows:
                    print(f"  CHECK FAILED: {rows} rows, {status['stored']} stored")
                    failed = True
            status, seconds, peak, _ = import_file(client, service, large)
            print(
                f"second import of the large file: {seconds:.1f} s, {status['stored']} stored, "
                f"{status['present']:,} already present; peak RSS {(peak - idle) / MB:+.1f} MB"
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
