"""Ingest benchmark: the service's response submission against a bare baseline.

Run from the checkout (about two minutes with the defaults):

    .venv/bin/python -m bench.ingest [--db sqlite|postgresql|both] [--duration 10]
        [--warmup 2] [--concurrency 16] [--batch-size 100] [--kiosks 100]
    make bench-ingest BENCH_ARGS="--db postgresql --duration 5"

For each database it makes two fresh, migrated databases with one unit and one service
(PostgreSQL: `skm_bench` and `skm_bench_baseline`, dropped and created through
SKM_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres, and left in
place afterwards for inspection; SQLite: files in a temporary directory). It serves the first
with the real service (`uvicorn app.main:create_app --factory --workers 1`, rate limits raised
out of the way as in bench/harness.py) and the second with the baseline under the same uvicorn
settings, both on loopback, and drives each with `--concurrency` keep-alive connections:
single submissions (POST /v1/responses) then batches of `--batch-size` (POST
/v1/responses/batch), each for a warm-up and then `--duration` seconds, the two sides in turn.
Every request carries the key of one of `--kiosks` collector keys in turn (each kiosk has its
own key, as deployed); the baseline ignores it.

The baseline (bench/baseline_app.py) is a bare Starlette app on the raw driver (psycopg_pool,
aiosqlite) that makes the same writes per request as the service — the INSERT into
`responses` with every column and the upserts into `daily_aggregates` and
`monthly_aggregates`, in one transaction — with nothing but json.loads: the floor the
service's authentication, validation, framework and ORM are held to.

Printed per database: requests/s, responses/s, p50 and p99 latency and CPU use of both sides,
the worker's peak resident memory (VmRSS, sampled under load), the ratios against their
targets, and a check that the rows stored equal the `created` answers (and the responses
counted in each aggregate table). Exits 1 when a request failed or the check did not hold,
2 when the benchmark could not run; a missed target is only reported.
"""

import asyncio
import itertools
import json
import os
import random
import sys
import tempfile
import time
import uuid
from argparse import ArgumentParser, Namespace
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.db import SQLITE_PRAGMAS, Database, sync_url
from app.keys import create_key
from app.method import ELEMENTS
from app.models import Response, Service, Unit
from app.schemas import KeyCreate
from bench.baseline_app import AGGREGATE_TABLES, RESPONSE_COLUMNS
from bench.baseline_app import SQLITE_PRAGMAS as BASELINE_SQLITE_PRAGMAS
from bench.harness import (
    MB,
    START_TIMEOUT,
    BenchError,
    fresh_database,
    launch,
    migrate,
    percentile,
)
from bench.harness import Service as Server

UNIT, SERVICE, TIME_ZONE = "bench-unit", "bench-service", "Asia/Makassar"
STANDARD_VERSION_ID = 1  # seeded by the initial migration

APPS = {"service": "app.main:create_app", "baseline": "bench.baseline_app:create_app"}
DATABASE_NAMES = {"service": "skm_bench", "baseline": "skm_bench_baseline"}

TARGET_SINGLE_RATIO = 0.75  # service ÷ baseline single-submission rate, on PostgreSQL
TARGET_BATCH_GAIN = 6.0  # service batch ÷ single responses/s
TARGET_RSS_MB = 150.0  # peak resident memory of the service's worker


# --- databases -------------------------------------------------------------------------------


def _check_baseline_columns(engine: Engine) -> None:
    """The baseline names the columns it writes: fail early when the schema has moved."""
    schema = inspect(engine)
    tables: list[tuple[str, Sequence[str], Sequence[str]]] = [
        (Response.__tablename__, RESPONSE_COLUMNS, ("id",))
    ]
    tables += [(t.name, t.columns, t.key) for t in AGGREGATE_TABLES]
    for table, columns, key in tables:
        differ = {c["name"] for c in schema.get_columns(table)} ^ set(columns)
        primary_key = schema.get_pk_constraint(table)["constrained_columns"]
        problems = [f"the columns {sorted(differ)} differ"] if differ else []
        if set(primary_key) != set(key):
            problems.append(f"the key is {primary_key}, not {list(key)}")
        if problems:
            raise BenchError(f"bench/baseline_app.py is out of date for {table}: {problems}")


def sqlite_durability(pragmas: Sequence[str] = SQLITE_PRAGMAS) -> str:
    """The pragmas that decide what a commit survives (journal mode, synchronous)."""
    return ", ".join(p for p in pragmas if p.split("=")[0] in ("journal_mode", "synchronous"))


def _check_baseline_durability() -> None:
    """On SQLite the baseline must sync its commits as the service does: a baseline that
    syncs less would make the service look slower than it is."""
    service, baseline = sqlite_durability(), sqlite_durability(BASELINE_SQLITE_PRAGMAS)
    if service != baseline:
        raise BenchError(
            f"bench/baseline_app.py runs SQLite with {baseline}, the service with {service}"
        )


def prepare(url: str) -> None:
    """Apply the migrations and add the unit and the service that responses are sent to."""
    migrate(url)
    engine = create_engine(sync_url(url))
    try:
        with Session(engine) as session, session.begin():
            unit = Unit(
                code=UNIT,
                name="Bench unit",
                kind="service_unit",
                path="",
                time_zone=TIME_ZONE,
                time_zone_inherited=False,
            )
            session.add(unit)
            session.flush()
            unit.path = f"/{unit.id}/"
            session.add(Service(unit_id=unit.id, code=SERVICE, name="Bench service"))
        _check_baseline_columns(engine)
    finally:
        engine.dispose()


def collector_tokens(url: str, count: int) -> list[str]:
    """The tokens of `count` new collector keys for the bench unit, one per kiosk."""

    async def create() -> list[str]:
        database = Database(url)
        try:
            async with database.writer() as session, session.begin():
                return [
                    (await create_key(session, body, None)).token
                    for body in (
                        KeyCreate(name=f"Bench kiosk {n}", role="collector", scope=UNIT)
                        for n in range(1, count + 1)
                    )
                ]
        finally:
            await database.dispose()

    return asyncio.run(create())


@dataclass(frozen=True)
class Stored:
    rows: int  # in `responses`
    aggregated: dict[str, int]  # responses counted, per aggregate table
    version: str  # of the database server


def count_stored(url: str) -> Stored:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.scalar(select(func.count()).select_from(Response)) or 0
            aggregated = {
                t.name: conn.scalar(text(f"SELECT coalesce(sum(responses), 0) FROM {t.name}")) or 0
                for t in AGGREGATE_TABLES
            }
            version = ".".join(map(str, conn.dialect.server_version_info or ()))
    finally:
        engine.dispose()
    return Stored(rows, aggregated, version)


# --- the client ------------------------------------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection, just enough for uvicorn's answers (which carry a
    Content-Length): a few microseconds per request, so the client stays out of the way."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int) -> Self:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()

    async def request(
        self, method: str, path: str, body: bytes = b"", token: str | None = None
    ) -> tuple[int, bytes]:
        authorization = f"Authorization: Bearer {token}\r\n" if token else ""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line, *headers = (await self._reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        length = 0
        for header in headers:
            name, _, value = header.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"transfer-encoding":
                raise BenchError(f"{method} {path}: chunked answers are not supported")
        return int(status_line.split()[1]), await self._reader.readexactly(length)


class Submissions:
    """Valid responses for the bench unit, as JSON: many variants of answers and profile,
    each sent with a fresh uuid4, collected five minutes before it is sent."""

    def __init__(self, variants: int = 1000, seed: int = 14) -> None:
        rng = random.Random(seed)
        templates = []
        for number in range(variants):
            item = {
                "unit": UNIT,
                "service": SERVICE,
                "survey_version_id": STANDARD_VERSION_ID,
                "channel": rng.choice(["kiosk", "kiosk", "mobile", "web"]),
                "answers": {e: rng.randint(1, 4) for e in ELEMENTS},
                "profile": {
                    "gender": rng.choice(["L", "P"]),
                    "age_band": rng.choice(["20-29", "30-39", "40-49"]),
                    "education": rng.choice(["SMA", "D4-S1"]),
                    "occupation": rng.choice(["SWASTA", "WIRAUSAHA", "PNS"]),
                },
                **({"suggestion": "Antrean pagi terlalu panjang."} if number % 4 == 0 else {}),
            }
            templates.append(json.dumps(item, separators=(",", ":"))[1:])  # without the "{"
        self._templates = itertools.cycle(templates)
        self._zone = ZoneInfo(TIME_ZONE)

    def items(self, count: int) -> bytes:
        """`count` responses, comma-separated."""
        now = datetime.now(UTC) - timedelta(minutes=5)
        collected_at = now.astimezone(self._zone).isoformat(timespec="milliseconds")
        return b",".join(
            f'{{"id":"{uuid.uuid4()}","collected_at":"{collected_at}",'
            f"{next(self._templates)}".encode()
            for _ in range(count)
        )


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    batch_size: int | None = None  # None: one response per request, not a batch

    def body(self, submissions: Submissions) -> bytes:
        if self.batch_size is None:
            return submissions.items(1)
        return b'{"items":[' + submissions.items(self.batch_size) + b"]}"

    def outcome(self, status: int, answer: bytes) -> tuple[int, bool]:
        """(responses created, whether the answer is the expected one)."""
        if self.batch_size is None:
            return (1, True) if status == 201 else (0, False)
        if status != 200:
            return 0, False
        created: int = json.loads(answer)["created"]
        return created, created == self.batch_size


def scenarios(batch_size: int) -> tuple[Scenario, Scenario]:
    return (
        Scenario("single", "/v1/responses"),
        Scenario(f"batch×{batch_size}", "/v1/responses/batch", batch_size),
    )


@dataclass
class Measurement:
    requests: int = 0
    created: int = 0
    errors: int = 0
    first_error: str = ""
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    worker_cpu: float = 0.0  # seconds
    client_cpu: float = 0.0  # seconds
    peak_rss: int = 0  # bytes

    @property
    def request_rate(self) -> float:
        return self.requests / self.elapsed

    @property
    def response_rate(self) -> float:
        return self.created / self.elapsed

    def latency_ms(self, quantile: float) -> float:
        return 1000 * percentile(self.latencies, quantile)


@dataclass
class Load:
    """What every connection sends: the scenario's bodies, under the kiosks' keys in turn."""

    scenario: Scenario
    submissions: Submissions
    tokens: Iterator[str]
    concurrency: int


async def drive(server: Server, load: Load, duration: float) -> Measurement:
    """`load.concurrency` connections sending back to back for `duration` seconds, while
    the worker's resident memory is sampled."""
    result = Measurement(peak_rss=server.rss())
    deadline = time.perf_counter() + duration

    async def sample_memory() -> None:
        while True:
            result.peak_rss = max(result.peak_rss, server.rss())
            await asyncio.sleep(0.1)

    async def connection() -> None:
        conn = await HttpConnection.open(server.port)
        try:
            while time.perf_counter() < deadline:
                body, token = load.scenario.body(load.submissions), next(load.tokens)
                started = time.perf_counter()
                status, answer = await conn.request("POST", load.scenario.path, body, token)
                result.latencies.append(time.perf_counter() - started)
                result.requests += 1
                created, expected = load.scenario.outcome(status, answer)
                result.created += created
                if not expected:
                    result.errors += 1
                    result.first_error = result.first_error or f"{status} {answer[:500]!r}"
        finally:
            await conn.close()

    worker_cpu, client_cpu, started = server.cpu(), time.process_time(), time.perf_counter()
    sampler = asyncio.create_task(sample_memory())
    try:
        await asyncio.gather(*(connection() for _ in range(load.concurrency)))
    finally:
        sampler.cancel()
    result.elapsed = time.perf_counter() - started
    result.worker_cpu = server.cpu() - worker_cpu
    result.client_cpu = time.process_time() - client_cpu
    return result


# --- one database ----------------------------------------------------------------------------


@dataclass
class Side:
    """The service or the baseline: its process, database and results."""

    name: str
    server: Server
    url: str
    runs: dict[str, Measurement] = field(default_factory=dict)
    created: int = 0  # responses created, warm-ups included
    peak_rss: int = 0
    stored: Stored | None = None

    async def wait_until_healthy(self) -> None:
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while self.server.process.poll() is None:
                    try:
                        conn = await HttpConnection.open(self.server.port)
                        try:
                            status, _ = await conn.request("GET", "/health")
                        finally:
                            await conn.close()
                        if status == 200:
                            return
                    except OSError:
                        pass
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise BenchError(f"the {self.name} did not answer /health in time") from None
        raise BenchError(f"the {self.name} exited at start:\n{self.server.log_tail()}")


def start(name: str, database_url: str, directory: Path) -> Side:
    """`name`'s app on a free loopback port (not yet healthy)."""
    return Side(name, launch(APPS[name], database_url, directory, name), database_url)


async def run_scenarios(sides: Sequence[Side], tokens: Sequence[str], args: Namespace) -> None:
    """Each scenario on each side in turn (so that a noisy neighbour on the machine hits
    both alike): a warm-up, then the measured run."""
    await asyncio.gather(*(side.wait_until_healthy() for side in sides))
    submissions, kiosks = Submissions(), itertools.cycle(tokens)
    for scenario in scenarios(args.batch_size):
        load = Load(scenario, submissions, kiosks, args.concurrency)
        for side in sides:
            warm = await drive(side.server, load, args.warmup)
            run = await drive(side.server, load, args.duration)
            side.runs[scenario.name] = run
            side.created += warm.created + run.created
            side.peak_rss = max(side.peak_rss, warm.peak_rss, run.peak_rss)


def bench_database(backend: str, args: Namespace) -> list[Side]:
    """Both sides on fresh databases of `backend`, measured and stopped."""
    if backend == "sqlite":
        _check_baseline_durability()
    with tempfile.TemporaryDirectory(prefix="skm-bench-") as tmp:
        directory = Path(tmp)
        urls = {name: fresh_database(backend, db, directory) for name, db in DATABASE_NAMES.items()}
        for url in urls.values():
            prepare(url)
        tokens = collector_tokens(urls["service"], args.kiosks)
        sides: list[Side] = []
        try:
            for name, url in urls.items():
                sides.append(start(name, url, directory))
            asyncio.run(run_scenarios(sides, tokens, args))
        finally:
            for side in sides:
                side.server.stop()
        for side in sides:
            side.stored = count_stored(side.url)
    return sides


# --- the report ------------------------------------------------------------------------------


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def report(backend: str, sides: Sequence[Side], args: Namespace) -> bool:
    """Print one database's results; whether every request and the row check went right."""
    service, baseline = sides
    assert service.stored is not None
    title = "PostgreSQL" if backend == "postgresql" else "SQLite"
    durability = f" ({sqlite_durability()})" if backend == "sqlite" else ""
    print(
        f"== {title} {service.stored.version}{durability}: {args.concurrency} connections, "
        f"{args.duration:g} s per scenario after a {args.warmup:g} s warm-up, "
        f"{args.kiosks} kiosk keys"
    )
    print(
        f"{'scenario':<10} {'side':<9} {'requests/s':>10} {'responses/s':>11} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'worker CPU':>10} {'client CPU':>10} {'errors':>6}"
    )
    healthy = True
    for scenario in scenarios(args.batch_size):
        for side in sides:
            run = side.runs[scenario.name]
            print(
                f"{scenario.name:<10} {side.name:<9} {run.request_rate:>10.1f} "
                f"{run.response_rate:>11.1f} {run.latency_ms(0.5):>8.1f} "
                f"{run.latency_ms(0.99):>8.1f} {run.worker_cpu / run.elapsed:>10.0%} "
                f"{run.client_cpu / run.elapsed:>10.0%} {run.errors:>6}"
            )
            if run.errors:
                healthy = False
                print(f"   first unexpected answer: {run.first_error}")
    print(
        f"peak worker RSS: service {service.peak_rss / MB:.1f} MB, "
        f"baseline {baseline.peak_rss / MB:.1f} MB"
    )
    for side in sides:
        assert side.stored is not None
        counts = {"rows in responses": side.stored.rows, "created answers": side.created}
        counts |= {f"counted in {name}": n for name, n in side.stored.aggregated.items()}
        agree = len(set(counts.values())) == 1
        healthy = healthy and agree
        print(
            f"rows check ({side.name}): "
            + ", ".join(f"{n} {what}" for what, n in counts.items())
            + (": OK" if agree else ": MISMATCH")
        )
    single, batch = (s.name for s in scenarios(args.batch_size))
    single_ratio = service.runs[single].request_rate / baseline.runs[single].request_rate
    batch_gain = service.runs[batch].response_rate / service.runs[single].response_rate
    rss = service.peak_rss / MB
    print(f"{'ratio':<50} {'value':>7}  {'target':<9} verdict")
    for label, value, target, verdict in (
        (
            "service single ÷ baseline single (requests/s)",
            single_ratio,
            f"≥ {TARGET_SINGLE_RATIO}",
            _verdict(single_ratio >= TARGET_SINGLE_RATIO)
            if backend == "postgresql"
            else "(the target is for PostgreSQL)",
        ),
        (
            f"service {batch} ÷ service single (responses/s)",
            batch_gain,
            f"≥ {TARGET_BATCH_GAIN:g}",
            _verdict(batch_gain >= TARGET_BATCH_GAIN),
        ),
        (
            "service peak worker RSS (MB)",
            rss,
            f"≤ {TARGET_RSS_MB:g}",
            _verdict(rss <= TARGET_RSS_MB),
        ),
    ):
        print(f"{label:<50} {value:>7.2f}  {target:<9} {verdict}")
    return healthy


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each")
    parser.add_argument("--concurrency", type=int, default=16, help="client connections")
    parser.add_argument("--batch-size", type=int, default=100, help="responses per batch")
    parser.add_argument("--kiosks", type=int, default=100, help="collector keys taking turns")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    healthy = True
    try:
        for backend in backends:
            load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
            print(f"\n{backend}: {os.cpu_count()} CPUs, load average {load} before the run")
            healthy = report(backend, bench_database(backend, args), args) and healthy
    except BenchError as error:
        print(f"bench.ingest: {error}", file=sys.stderr)
        return 2
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
