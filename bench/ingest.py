"""Ingest benchmark: the service's response submission against a bare baseline.

Run from the checkout (about 25 minutes for both databases with the defaults):

    .venv/bin/python -m bench.ingest [--db sqlite|postgresql|both] [--duration 10]
        [--warmup 2] [--repetitions 3] [--concurrency 1,8,32] [--batch-size 50]
        [--keys 50] [--sustained 90] [--window 15] [--cases "single spread,batch spread"]
        [--cpu] [--reference baseline|floor] [--against CHECKOUT]
    make bench-ingest BENCH_ARGS="--db postgresql --duration 5"

For each database it makes two fresh, migrated databases holding the same units: a city
with 50 service units of 2 services each (the realistic case: a city's kiosks spread over
100 unit–service pairs) and one more unit with one service (the one-unit case, where every
response lands on the same aggregate rows). PostgreSQL: `skm_bench` and
`skm_bench_baseline`, dropped and created through SKM_BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/postgres, and left in place afterwards for inspection;
SQLite: files in a temporary directory. It serves the first with the real service
(`uvicorn app.main:create_app --factory --workers 1`, rate limits raised out of the way as in
bench/harness.py) and the second with the baseline under the same uvicorn settings, both on
loopback, and drives each with keep-alive connections. Every request carries the key of one
of `--keys` collector keys (scoped to the city) in turn; the baseline ignores it.

Cases, each a warm-up and then `--duration` seconds on each side, the two sides interleaved
(one case on one side, then on the other, the side that goes first alternating between
repetitions), the whole list repeated `--repetitions` times:

* spread: single submissions (POST /v1/responses) and batches of `--batch-size`
  (POST /v1/responses/batch), responses spread over the 100 unit–service pairs, at each
  concurrency of `--concurrency`;
* one unit: the same at 8 connections, every response to the one unit and service;
  (`--cases` runs some of these four alone: "single spread", "batch spread", "single one
  unit", "batch one unit")
* sustained, once per side: one key, one unit, 8 connections for `--sustained` seconds,
  responses counted per `--window`-second window; the share of its first window's rate
  that each side keeps over the later windows (their mean ÷ the first) tells a cost that
  grows with what a key stored recently (burst detection) from noise. Each side starts
  quiet — its database checkpointed and, on PostgreSQL, the autovacuum the cases before
  started waited for (up to a minute) — and warms up with the key for `--warmup` seconds:
  otherwise the side that runs first pays the debt of the matrix in its first window.

The baseline (bench/baseline_app.py) is a bare Starlette app on the raw driver (psycopg_pool,
aiosqlite) that makes the same writes per request as the service — the INSERT into
`responses` with every column and the upserts into `daily_aggregates` and
`monthly_aggregates`, in one transaction — with nothing but json.loads: the floor the
service's authentication, validation, framework and burst detection are held to. It writes
the columns it knows (the service's `answers_signature` and aggregate `slot` keep their defaults,
and the baseline database gets the unique index on the aggregate key without the slot that
its ON CONFLICT names).

`--cpu` adds, per case, the worker's CPU time per 1,000 responses stored (user + system,
from /proc): on a shared machine, where other processes take turns on the cores, it moves
far less than a rate does. `--against PATH` measures the service against the service of
another checkout (e.g. `git worktree add /tmp/main main`) instead of the baseline: the
same workload on two databases prepared alike (`skm_bench_this`, `skm_bench_against` on
PostgreSQL), interleaved the same way, the ratio being this checkout ÷ that one (no
targets; `--sustained 0` skips the one-key runs):

    make bench-ingest BENCH_ARGS="--db sqlite --duration 5 --concurrency 8 --sustained 0 \
        --cpu --against /tmp/main"

`--reference floor` measures the service against bench/floor_app.py instead: the baseline
plus the database work the service must do and the baseline skips (the key read on every
request, burst detection's read and flags, the key, device and signature stored, the yearly
aggregate), still on the raw driver with no framework. Service ÷ floor is what the service's
own Python costs; floor ÷ baseline, what the required database work costs (no targets).

Printed per database: for every case the median over the repetitions of requests/s,
responses/s, p50/p99 latency and worker CPU of each side, the median of the per-repetition
ratios service ÷ baseline with the range, the load average at the case's end; the windows
of the sustained runs; the worker's peak resident memory (VmRSS, sampled under load); the
verdicts against the targets; a check that the rows stored equal the `created` answers (and
the responses counted in each aggregate table). Exits 1 when a request failed or the check
did not hold, 2 when the benchmark could not run; a missed target is only reported. The
machine's load average is printed with every figure: on a shared machine a ratio moves by
more than its targets' margins, so read the ranges.
"""

import asyncio
import contextlib
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from argparse import ArgumentParser, ArgumentTypeError, Namespace
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
from bench.baseline_app import (
    AGGREGATE_TABLES,
    REGISTRY_COLUMNS,
    RESPONSE_COLUMNS,
)
from bench.baseline_app import SQLITE_PRAGMAS as BASELINE_SQLITE_PRAGMAS
from bench.floor_app import FLOOR_TABLES
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

CITY, TIME_ZONE = "bench-city", "Asia/Makassar"
UNIT, SERVICE = "bench-unit", "bench-service"  # the one-unit case
SPREAD_UNITS, SERVICES_PER_UNIT = 50, 2
STANDARD_VERSION_ID = 1  # seeded by the initial migration
Target = tuple[str, str]  # (unit code, service code)
ONE_UNIT: tuple[Target, ...] = ((UNIT, SERVICE),)
SPREAD: tuple[Target, ...] = tuple(
    (f"bench-u{u:02d}", f"s{s}") for u in range(SPREAD_UNITS) for s in range(SERVICES_PER_UNIT)
)

APPS = {
    "service": "app.main:create_app",
    "baseline": "bench.baseline_app:create_app",
    "floor": "bench.floor_app:create_app",
}
DATABASE_NAMES = {"service": "skm_bench", "baseline": "skm_bench_baseline"}
AGAINST_DATABASE_NAMES = {"service": "skm_bench_this", "baseline": "skm_bench_against"}
# Columns of the service's schema that the baseline leaves at their defaults.
BASELINE_DEFAULTED = {"responses": {"answers_signature"}, "aggregates": {"slot"}}

# Targets: service ÷ baseline, at 8 connections (the figures).
TARGETS = {
    "postgresql": {"single spread": 0.80, "single one unit": 0.80, "batch spread": 0.90},
    "sqlite": {"single spread": 0.60, "batch spread": 0.70},
}
TARGET_SUSTAINED = 0.90  # service's share kept ÷ baseline's share kept, PostgreSQL
TARGET_RSS_MB = 150.0  # peak resident memory of the service's worker
TARGET_CONCURRENCY = 8


# --- databases -------------------------------------------------------------------------------


def _check_baseline_columns(engine: Engine) -> None:
    """The baseline names the columns it writes: fail early when the schema has moved (beyond
    the columns it is known to leave at their defaults)."""
    schema = inspect(engine)
    # PostgreSQL partitions responses by month: its key includes the month's column.
    responses_key = ("id", "local_date") if engine.dialect.name == "postgresql" else ("id",)
    tables: list[tuple[str, Sequence[str], Sequence[str], set[str]]] = [
        (Response.__tablename__, RESPONSE_COLUMNS, responses_key, BASELINE_DEFAULTED["responses"]),
        ("response_ids", REGISTRY_COLUMNS, ("id",), set()),
    ]
    tables += [
        (t.name, t.columns, t.key, BASELINE_DEFAULTED["aggregates"]) for t in AGGREGATE_TABLES
    ]
    for table, columns, key, defaulted in tables:
        differ = ({c["name"] for c in schema.get_columns(table)} - defaulted) ^ set(columns)
        primary_key = set(schema.get_pk_constraint(table)["constrained_columns"]) - defaulted
        problems = [f"the columns {sorted(differ)} differ"] if differ else []
        if primary_key != set(key):
            problems.append(f"the key is {sorted(primary_key)}, not {list(key)}")
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


def _unit(code: str, kind: str, parent: Unit | None) -> Unit:
    return Unit(
        code=code,
        name=code,
        kind=kind,
        parent_id=parent.id if parent else None,
        path="",
        time_zone=TIME_ZONE,
        time_zone_inherited=parent is not None,
    )


def prepare(url: str, baseline: bool, floor: bool = False) -> None:
    """Apply the migrations and add the city, its units and their services. The baseline's
    database also gets the unique index its aggregate upserts name (the key without the
    slot, which the baseline leaves at 0); the floor's (`floor`) none: it upserts on the
    primary key, slot included, as the service does."""
    migrate(url)
    engine = create_engine(sync_url(url))
    try:
        with Session(engine) as session, session.begin():
            city = _unit(CITY, "government", None)
            session.add(city)
            session.flush()
            city.path = f"/{city.id}/"
            codes: dict[str, list[str]] = {UNIT: [SERVICE]}
            for unit_code, service_code in SPREAD:
                codes.setdefault(unit_code, []).append(service_code)
            for unit_code, services in codes.items():
                unit = _unit(unit_code, "service_unit", city)
                session.add(unit)
                session.flush()
                unit.path = f"{city.path}{unit.id}/"
                for service_code in services:
                    session.add(Service(unit_id=unit.id, code=service_code, name=service_code))
        if baseline:
            schema = inspect(engine)
            with engine.begin() as conn:
                for table in () if floor else AGGREGATE_TABLES:
                    if set(schema.get_pk_constraint(table.name)["constrained_columns"]) == set(
                        table.key
                    ):
                        continue  # the primary key is the one it names
                    conn.execute(
                        text(
                            f"CREATE UNIQUE INDEX baseline_{table.name}_key "
                            f"ON {table.name} ({', '.join(table.key)})"
                        )
                    )
        _check_baseline_columns(engine)
    finally:
        engine.dispose()


def collector_tokens(url: str, count: int) -> list[str]:
    """The tokens of `count` new collector keys scoped to the city, one per kiosk."""

    async def create() -> list[str]:
        database = Database(url)
        try:
            async with database.writer() as session, session.begin():
                return [
                    (await create_key(session, body, None)).token
                    for body in (
                        KeyCreate(name=f"Bench kiosk {n}", role="collector", scope=CITY)
                        for n in range(1, count + 1)
                    )
                ]
        finally:
            await database.dispose()

    return asyncio.run(create())


@dataclass(frozen=True)
class Stored:
    rows: int  # in `responses`
    flagged: int  # of them, flagged (as bursts: nothing else flags at submission)
    aggregated: dict[str, int]  # responses counted, per aggregate table
    version: str  # of the database server


# How long a quiet start waits at most for the database's autovacuum to finish.
SETTLE_TIMEOUT = 60.0


def settle(url: str) -> float:
    """A quiet start for a sustained run: the database's dirty pages written
    (CHECKPOINT; SQLite: its WAL folded back) and, on PostgreSQL, the autovacuum of the
    tables the cases before filled waited for (at most `SETTLE_TIMEOUT` seconds), so that
    neither side's first window carries the debt of the runs before it. The seconds waited."""
    started = time.perf_counter()
    engine = create_engine(sync_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
                return time.perf_counter() - started
            conn.execute(text("CHECKPOINT"))
            vacuuming = text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND backend_type = 'autovacuum worker'"
            )
            while conn.scalar(vacuuming) and time.perf_counter() - started < SETTLE_TIMEOUT:
                time.sleep(0.5)
    finally:
        engine.dispose()
    return time.perf_counter() - started


def count_stored(url: str, yearly: bool) -> Stored:
    """The rows stored and the responses each aggregate table counts (the yearly one too,
    `yearly`, where the side keeps it: not the baseline)."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.scalar(select(func.count()).select_from(Response)) or 0
            flagged = conn.scalar(select(func.count(Response.flag))) or 0
            aggregated = {
                t.name: conn.scalar(text(f"SELECT coalesce(sum(responses), 0) FROM {t.name}")) or 0
                for t in (FLOOR_TABLES if yearly else AGGREGATE_TABLES)
            }
            version = ".".join(map(str, conn.dialect.server_version_info or ()))
    finally:
        engine.dispose()
    return Stored(rows, flagged, aggregated, version)


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
        # The server may have closed its end first (an idle keep-alive timing out): the
        # connection is gone either way, and a run's figures must not be lost to it.
        with contextlib.suppress(ConnectionError):
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
    """Valid responses to the given unit–service pairs, as JSON: many variants of unit,
    service, channel and profile, each sent with a fresh uuid4 and answers drawn for it,
    collected five minutes before it is sent.

    The answers are drawn per response (uniformly, 4⁹ possible): a kiosk rarely gives the
    same nine answers twice within the burst window. Answers fixed in the variants paired
    each key with the same few answer sets whenever the keys' count divided the variants'
    (1,000 variants, 50 keys: 20 each), so every kiosk repeated itself every few seconds
    and most of the service's responses were flagged as bursts — a load no mall sees."""

    def __init__(self, targets: Sequence[Target], variants: int = 1000, seed: int = 14) -> None:
        rng = random.Random(seed)
        self._random = random.Random(seed + 1)
        templates = []
        for number in range(variants):
            unit, service = rng.choice(targets)
            item = {
                "unit": unit,
                "service": service,
                "survey_version_id": STANDARD_VERSION_ID,
                "channel": rng.choice(["kiosk", "kiosk", "mobile", "web"]),
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

    def answers(self) -> str:
        """Nine answers drawn at random, as the JSON object's members."""
        bits = self._random.getrandbits(2 * len(ELEMENTS))
        return ",".join(
            f'"{e}":{(bits >> 2 * position & 3) + 1}' for position, e in enumerate(ELEMENTS)
        )

    def items(self, count: int) -> bytes:
        """`count` responses, comma-separated."""
        now = datetime.now(UTC) - timedelta(minutes=5)
        collected_at = now.astimezone(self._zone).isoformat(timespec="milliseconds")
        return b",".join(
            f'{{"id":"{uuid.uuid4()}","collected_at":"{collected_at}",'
            f'"answers":{{{self.answers()}}},{next(self._templates)}'.encode()
            for _ in range(count)
        )


@dataclass(frozen=True)
class Case:
    """What the connections send: single submissions or batches, to the spread pairs or to
    the one unit, over `concurrency` connections."""

    kind: str  # "single" or "batch"
    where: str  # "spread" or "one unit"
    concurrency: int
    batch_size: int

    @property
    def name(self) -> str:
        return f"{self.kind} {self.where}"

    @property
    def label(self) -> str:
        size = f"×{self.batch_size}" if self.kind == "batch" else ""
        return f"{self.kind}{size} {self.where} c={self.concurrency}"

    @property
    def path(self) -> str:
        return "/v1/responses" if self.kind == "single" else "/v1/responses/batch"

    @property
    def targets(self) -> tuple[Target, ...]:
        return SPREAD if self.where == "spread" else ONE_UNIT

    def body(self, submissions: Submissions) -> bytes:
        if self.kind == "single":
            return submissions.items(1)
        return b'{"items":[' + submissions.items(self.batch_size) + b"]}"

    def outcome(self, status: int, answer: bytes) -> tuple[int, bool]:
        """(responses created, whether the answer is the expected one)."""
        if self.kind == "single":
            return (1, True) if status == 201 else (0, False)
        if status != 200:
            return 0, False
        created: int = json.loads(answer)["created"]
        return created, created == self.batch_size


def cases(args: Namespace) -> list[Case]:
    spread = [
        Case(kind, "spread", c, args.batch_size)
        for kind in ("single", "batch")
        for c in args.concurrency
    ]
    one = [
        Case(kind, "one unit", TARGET_CONCURRENCY, args.batch_size) for kind in ("single", "batch")
    ]
    return [case for case in spread + one if args.cases is None or case.name in args.cases]


@dataclass
class Measurement:
    requests: int = 0
    created: int = 0
    errors: int = 0
    first_error: str = ""
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    worker_cpu: float = 0.0  # seconds
    peak_rss: int = 0  # bytes
    windows: list[int] = field(default_factory=list)  # responses created per window

    @property
    def cpu_per_thousand(self) -> float:
        """The worker's CPU milliseconds per 1,000 responses created."""
        return 1e6 * self.worker_cpu / self.created if self.created else float("nan")

    @property
    def request_rate(self) -> float:
        return self.requests / self.elapsed

    @property
    def response_rate(self) -> float:
        return self.created / self.elapsed

    def latency_ms(self, quantile: float) -> float:
        return 1000 * percentile(self.latencies, quantile) if self.latencies else 0.0


async def drive(
    server: Server,
    case: Case,
    submissions: Submissions,
    tokens: Iterator[str],
    duration: float,
    window: float | None = None,
) -> Measurement:
    """`case.concurrency` connections sending back to back for `duration` seconds, while
    the worker's resident memory is sampled; responses created counted per `window`."""
    result = Measurement(peak_rss=server.rss())
    started = time.perf_counter()
    deadline = started + duration
    if window:
        result.windows = [0] * max(1, round(duration / window))

    async def sample_memory() -> None:
        while True:
            result.peak_rss = max(result.peak_rss, server.rss())
            await asyncio.sleep(0.1)

    async def connection() -> None:
        conn = await HttpConnection.open(server.port)
        try:
            while time.perf_counter() < deadline:
                body, token = case.body(submissions), next(tokens)
                sent = time.perf_counter()
                status, answer = await conn.request("POST", case.path, body, token)
                done = time.perf_counter()
                result.latencies.append(done - sent)
                result.requests += 1
                created, expected = case.outcome(status, answer)
                result.created += created
                if window:
                    slot = min(int((done - started) / window), len(result.windows) - 1)
                    result.windows[slot] += created
                if not expected:
                    result.errors += 1
                    result.first_error = result.first_error or f"{status} {answer[:500]!r}"
        finally:
            await conn.close()

    worker_cpu = server.cpu()
    sampler = asyncio.create_task(sample_memory())
    try:
        await asyncio.gather(*(connection() for _ in range(case.concurrency)))
    finally:
        sampler.cancel()
    result.elapsed = time.perf_counter() - started
    result.worker_cpu = server.cpu() - worker_cpu
    return result


# --- one database ----------------------------------------------------------------------------


@dataclass
class Side:
    """The service or the baseline (or the service of another checkout): its process,
    database, keys and results."""

    name: str
    server: Server
    url: str
    tokens: list[str] = field(default_factory=list)  # its collector keys
    runs: dict[str, list[Measurement]] = field(default_factory=dict)  # per case label
    sustained: Measurement | None = None
    settled: float = 0.0  # seconds the quiet start before the sustained run waited
    created: int = 0  # responses created, warm-ups included
    errors: list[str] = field(default_factory=list)
    peak_rss: int = 0
    stored: Stored | None = None

    def record(self, label: str, run: Measurement, warm: Measurement | None = None) -> None:
        for m in (run, warm) if warm else (run,):
            self.created += m.created
            self.peak_rss = max(self.peak_rss, m.peak_rss)
            if m.errors:
                self.errors.append(f"{label}: {m.errors} unexpected, first {m.first_error}")

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


def start(name: str, database_url: str, directory: Path, args: Namespace) -> Side:
    """`name`'s app on a free loopback port (not yet healthy); with `args.against`, the
    second side is the service of that checkout, with `--reference floor` the floor app."""
    if name == "baseline" and args.against is not None:
        server = launch(APPS["service"], database_url, directory, "against", args.against)
        return Side("against", server, database_url)
    if name == "baseline":
        name = args.reference
    return Side(name, launch(APPS[name], database_url, directory, name), database_url)


def load_average() -> float:
    return os.getloadavg()[0]


async def run_cases(sides: Sequence[Side], args: Namespace) -> dict[str, list[float]]:
    """Every case on both sides in turn, repeated; then the sustained one-key runs. The
    load average at the end of each case's runs, per case label."""
    await asyncio.gather(*(side.wait_until_healthy() for side in sides))
    submissions = {
        where: Submissions(t) for where, t in (("spread", SPREAD), ("one unit", ONE_UNIT))
    }
    keys = {side.name: itertools.cycle(side.tokens) for side in sides}
    loads: dict[str, list[float]] = {}
    for repetition in range(args.repetitions):
        order = sides if repetition % 2 == 0 else list(reversed(sides))
        for case in cases(args):
            for side in order:
                sent = submissions[case.where]
                warm = await drive(side.server, case, sent, keys[side.name], args.warmup)
                run = await drive(side.server, case, sent, keys[side.name], args.duration)
                side.runs.setdefault(case.label, []).append(run)
                side.record(case.label, run, warm)
            loads.setdefault(case.label, []).append(load_average())
            print(f"  … repetition {repetition + 1}, {case.label} done", file=sys.stderr)
    if args.sustained:
        case = Case("single", "one unit", TARGET_CONCURRENCY, args.batch_size)
        for side in sides:
            one_key = itertools.repeat(side.tokens[0])
            # Each side from a quiet start, warmed up with the key (not counted).
            side.settled = await asyncio.to_thread(settle, side.url)
            warm = await drive(side.server, case, submissions["one unit"], one_key, args.warmup)
            side.record("sustained warm-up", warm)
            run = await drive(
                side.server, case, submissions["one unit"], one_key, args.sustained, args.window
            )
            side.sustained = run
            side.record("sustained", run)
            loads.setdefault("sustained", []).append(load_average())
    return loads


def bench_database(backend: str, args: Namespace) -> tuple[list[Side], dict[str, list[float]]]:
    """Both sides on fresh databases of `backend`, measured and stopped."""
    if backend == "sqlite" and args.against is None:
        _check_baseline_durability()
    with tempfile.TemporaryDirectory(prefix="skm-bench-") as tmp:
        directory = Path(tmp)
        names = DATABASE_NAMES if args.against is None else AGAINST_DATABASE_NAMES
        urls = {name: fresh_database(backend, db, directory) for name, db in names.items()}
        for name, url in urls.items():
            baseline = name == "baseline" and args.against is None
            prepare(url, baseline=baseline, floor=baseline and args.reference == "floor")
        tokens = collector_tokens(urls["service"], args.keys)
        sides: list[Side] = []
        try:
            for name, url in urls.items():
                side = start(name, url, directory, args)
                # The baseline takes any key; another service and the floor need keys of
                # their own database.
                keyed = side.name in ("against", "floor")
                side.tokens = collector_tokens(url, args.keys) if keyed else tokens
                sides.append(side)
            loads = asyncio.run(run_cases(sides, args))
        finally:
            for side in sides:
                side.server.stop()
        for side in sides:
            # The yearly table is counted where it is written: not by the baseline, nor
            # by a checkout older than it.
            side.stored = count_stored(side.url, yearly=side.name in ("service", "floor"))
    return sides, loads


# --- the report ------------------------------------------------------------------------------


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def kept_share(run: Measurement) -> float:
    """The mean rate of the windows after the first ÷ the first window's rate."""
    first, *later = run.windows
    return statistics.mean(later) / first if first and later else float("nan")


def report(
    backend: str, sides: Sequence[Side], loads: dict[str, list[float]], args: Namespace
) -> bool:
    """Print one database's results; whether every request and the row check went right."""
    service, baseline = sides
    assert service.stored is not None
    title = "PostgreSQL" if backend == "postgresql" else "SQLite"
    durability = f" ({sqlite_durability()})" if backend == "sqlite" else ""
    print(
        f"== {title} {service.stored.version}{durability}: {args.duration:g} s per run after a "
        f"{args.warmup:g} s warm-up, {args.repetitions} repetitions (medians), {args.keys} "
        f"keys, spread over {len(SPREAD)} unit–service pairs"
    )
    other = baseline.name
    if args.against is not None:
        print(f"   (the other side is the service of {args.against}; ratios: this ÷ that)")
    elif other == "floor":
        print(
            "   (the other side is the floor of the required work, bench/floor_app.py; "
            "ratios: service ÷ floor; no targets)"
        )
    cpu_head = f" {'CPU ms/1k resp (s/o)':>20} {'ratio':>5} {'range':>11}" if args.cpu else ""
    print(
        f"{'case':<26} {'service req/s':>13} {other + ' req/s':>14} {'resp/s (s/o)':>15} "
        f"{'p50 ms (s/o)':>13} {'p99 ms (s/o)':>13} {'CPU (s/o)':>11} "
        f"{'ratio':>5} {'range':>11}{cpu_head} {'load':>5}"
    )
    ratios: dict[str, float] = {}
    for case in cases(args):
        s_runs, b_runs = service.runs[case.label], baseline.runs[case.label]

        def med(runs: list[Measurement], f: str) -> float:
            values = {
                "req": [r.request_rate for r in runs],
                "resp": [r.response_rate for r in runs],
                "p50": [r.latency_ms(0.5) for r in runs],
                "p99": [r.latency_ms(0.99) for r in runs],
                "cpu": [r.worker_cpu / r.elapsed for r in runs],
                "cpu1k": [r.cpu_per_thousand for r in runs],
            }[f]
            return statistics.median(values)

        per_rep = [s.response_rate / b.response_rate for s, b in zip(s_runs, b_runs, strict=True)]
        ratio = statistics.median(per_rep)
        if case.concurrency == TARGET_CONCURRENCY:
            ratios[case.name] = ratio
        cpu = ""
        if args.cpu:
            cpu_rep = [
                s.cpu_per_thousand / b.cpu_per_thousand for s, b in zip(s_runs, b_runs, strict=True)
            ]
            cpu = (
                f" {med(s_runs, 'cpu1k'):>9.0f}/{med(b_runs, 'cpu1k'):<10.0f} "
                f"{statistics.median(cpu_rep):>5.2f} {min(cpu_rep):>5.2f}–{max(cpu_rep):<5.2f}"
            )
        print(
            f"{case.label:<26} {med(s_runs, 'req'):>13.1f} {med(b_runs, 'req'):>14.1f} "
            f"{med(s_runs, 'resp'):>7.0f}/{med(b_runs, 'resp'):<7.0f} "
            f"{med(s_runs, 'p50'):>6.1f}/{med(b_runs, 'p50'):<6.1f} "
            f"{med(s_runs, 'p99'):>6.1f}/{med(b_runs, 'p99'):<6.1f} "
            f"{med(s_runs, 'cpu'):>5.0%}/{med(b_runs, 'cpu'):<5.0%} "
            f"{ratio:>5.2f} {min(per_rep):>5.2f}–{max(per_rep):<5.2f}{cpu} "
            f"{statistics.median(loads[case.label]):>5.2f}"
        )
    kept: dict[str, float] = {}
    for side in sides:
        if side.sustained is not None:
            run = side.sustained
            kept[side.name] = kept_share(run)
            rates = " ".join(f"{n / args.window:.0f}" for n in run.windows)
            print(
                f"sustained, one key, one unit, c={TARGET_CONCURRENCY}, {side.name}: "
                f"responses/s per {args.window:g}-s window: {rates}; share of the first kept "
                f"{kept[side.name]:.2f} (after {side.settled:.0f} s of quiet start)"
            )
    if "sustained" in loads:
        print(f"  load average after the sustained runs: {max(loads['sustained']):.2f}")
    print(
        f"peak worker RSS: service {service.peak_rss / MB:.1f} MB, "
        f"{other} {baseline.peak_rss / MB:.1f} MB"
    )
    healthy = True
    for side in sides:
        assert side.stored is not None
        for error in side.errors:
            healthy = False
            print(f"   {side.name}: {error}")
        counts = {"rows in responses": side.stored.rows, "created answers": side.created}
        counts |= {f"counted in {name}": n for name, n in side.stored.aggregated.items()}
        agree = len(set(counts.values())) == 1
        healthy = healthy and agree
        print(
            f"rows check ({side.name}): "
            + ", ".join(f"{n} {what}" for what, n in counts.items())
            + (": OK" if agree else ": MISMATCH")
            + f"; {side.stored.flagged} flagged as bursts"
        )
    if other != "baseline":
        return healthy  # the targets compare with the baseline
    print(f"{'target':<58} {'value':>7}  {'target':<9} verdict")
    lines: list[tuple[str, float, str, bool]] = [
        (
            f"service ÷ baseline, {name} c={TARGET_CONCURRENCY} (median ratio)",
            ratios[name],
            f"≥ {target:g}",
            ratios[name] >= target,
        )
        for name, target in TARGETS[backend].items()
        if name in ratios
    ]
    if backend == "postgresql" and len(kept) == 2:
        share = kept["service"] / kept["baseline"]
        lines.append(
            (
                "sustained share kept, service ÷ baseline",
                share,
                f"≥ {TARGET_SUSTAINED:g}",
                share >= TARGET_SUSTAINED,
            )
        )
    rss = service.peak_rss / MB
    lines.append(
        ("service peak worker RSS (MB)", rss, f"≤ {TARGET_RSS_MB:g}", rss <= TARGET_RSS_MB)
    )
    for label, value, target, met in lines:
        print(f"{label:<58} {value:>7.2f}  {target:<9} {_verdict(met)}")
    return healthy


CASE_NAMES = ("single spread", "batch spread", "single one unit", "batch one unit")


def _case_names(value: str) -> set[str]:
    names = {name.strip() for name in value.split(",")}
    unknown = names - set(CASE_NAMES)
    if unknown:
        raise ArgumentTypeError(f"unknown case {', '.join(sorted(unknown))}")
    return names


def _concurrencies(value: str) -> list[int]:
    return [int(c) for c in value.split(",")]


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each")
    parser.add_argument("--repetitions", type=int, default=3, help="of the whole list of cases")
    parser.add_argument(
        "--concurrency", type=_concurrencies, default=[1, 8, 32], help="e.g. 1,8,32"
    )
    parser.add_argument("--batch-size", type=int, default=50, help="responses per batch")
    parser.add_argument("--keys", type=int, default=50, help="collector keys taking turns")
    parser.add_argument(
        "--sustained", type=float, default=90.0, help="seconds of the one-key run (0: none)"
    )
    parser.add_argument("--window", type=float, default=15.0, help="seconds per window")
    parser.add_argument(
        "--cases",
        type=_case_names,
        help=f"only these cases, comma-separated, of: {', '.join(CASE_NAMES)} (default: all)",
    )
    parser.add_argument(
        "--cpu", action="store_true", help="the worker's CPU ms per 1,000 responses, per side"
    )
    parser.add_argument(
        "--against",
        type=Path,
        help="a checkout whose service is the other side (instead of the baseline)",
    )
    parser.add_argument(
        "--reference",
        choices=["baseline", "floor"],
        default="baseline",
        help="the other side: the baseline (the targets' reference) or the floor of the "
        "required work (bench/floor_app.py)",
    )
    args = parser.parse_args(argv)
    if args.against is not None and args.reference != "baseline":
        parser.error("--against and --reference floor name the other side twice")
    if TARGET_CONCURRENCY not in args.concurrency:
        parser.error(f"--concurrency must include {TARGET_CONCURRENCY} (the targets' case)")
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    healthy = True
    try:
        for backend in backends:
            load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
            print(f"\n{backend}: {os.cpu_count()} CPUs, load average {load} before the run")
            sides, loads = bench_database(backend, args)
            healthy = report(backend, sides, loads, args) and healthy
    except BenchError as error:
        print(f"bench.ingest: {error}", file=sys.stderr)
        return 2
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
