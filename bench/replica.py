"""Replica benchmark: the kiosks' write rate while dashboards poll the indices, with the
dashboards' reads on the primary or on a streaming replica (SKM_DATABASE_READ_URL).

Run from the checkout as a user that may run PostgreSQL's server binaries, or as root
(they then run as the `postgres` system user); about ten minutes with the defaults:

    .venv/bin/python -m bench.replica [--responses 100000] [--duration 15] [--warmup 3]
        [--repetitions 3] [--kiosks 8] [--keys 50] [--dashboards 40] [--refresh 10]
        [--layout both|pinned|shared]
    make bench-replica BENCH_ARGS="--layout pinned"

It makes two throwaway clusters (bench/clusters.py: `initdb`, then `pg_basebackup -R` for a
streaming replica, on free ports in a temporary directory; never the machine's shared
server), both started with the same settings (SETTINGS: those of a stock server, durable
commits, autovacuum on). Before the replica is made, the primary's database `skm` is loaded
with bench/dataset.py's city (`--responses` rows over 2025–2026, aggregates filled,
VACUUM ANALYZE). Two services run on the primary (`uvicorn … --workers 1`, as
bench/harness.py starts them): one reads everything on the primary, the other has
SKM_DATABASE_READ_URL set to the replica. Both clusters are stopped and removed at the end,
on an error or Ctrl-C too.

The load, from this process:

* kiosks: `--kiosks` keep-alive connections posting single responses back to back (POST
  /v1/responses, as bench.ingest's realistic case), each request with the next of `--keys`
  collector keys scoped to the city, responses spread over every service of the city's
  service units (about 190 units, 600 unit–service pairs);
* dashboards: `--dashboards` reader keys scoped to the city, each refreshing a page every
  `--refresh` seconds (staggered): a service unit's quarter (a unit picked at random), the
  busier service mall's year, the city's year (pooled), and the mall's ranking of its
  agencies, for the current quarter and year, without If-None-Match (the kiosks change the
  figures all the time, so an ETag would rarely match).

Four conditions: kiosks alone (on the primary-only service); kiosks + dashboards, the
dashboards' reads on the primary; kiosks + dashboards on the service with the replica, the
reads on the replica; and kiosks on the primary-only service + dashboards on a third
service (its own worker) with the replica, placed with the replica (a reading instance on
the replica's machine). Each run is a `--warmup` then `--duration` seconds of kiosks'
writes counted, the dashboards polling throughout. Two layouts of the processes on the
machine's CPUs:

* pinned: the primary cluster, the services and this process (the kiosks and dashboards)
  on one CPU, the replica cluster (and the reading instance) on another. In production the
  replica is another machine: this is the realistic layout. (The clients are not on the
  primary's machine either; they stay on its CPU so that the replica's is left to the
  replica, and they cost every condition alike.)
* shared: nothing pinned: what one machine of two cores can do with a replica on it.

A repetition runs every condition in every layout (the layouts' order alternating, the
conditions' order rotating); `--repetitions` of them. Printed per layout and condition:
the kiosks' responses/s (median, range), its ratio to the kiosks alone of the same
repetition and layout (median, range), the dashboards' requests/s and p50/p95 latency, the
CPU use of the kiosks' service worker and of the primary cluster's processes, the
transactions per second on the replica (≈, from pg_stat_database: it shows where the
dashboards read), the replica's replay lag at the run's end, the load average; then the
target (with a replica, kiosks while dashboards poll ≥ 0.9 × kiosks alone) per layout and
replica condition, and
a check that the rows stored equal the responses created. Exits 1 when a request failed or
the check did not hold, 2 when the benchmark could not run; a missed target is only
reported.
"""

import asyncio
import contextlib
import itertools
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from argparse import ArgumentParser, Namespace
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from zoneinfo import ZoneInfo

from app.db import Database
from app.keys import create_key
from app.schemas import KeyCreate
from bench.clusters import Cluster, MissingBinaries, caught_up, clusters, pin
from bench.dataset import Dataset, RawDatabase, load
from bench.harness import (
    BenchError,
    Service,
    cpu_seconds,
    launch,
    percentile,
    wait_until_healthy,
)
from bench.ingest import Case, HttpConnection, Measurement, Submissions, Target, drive

# The same settings on both clusters: a stock server's (as the machine's own: 128 MB of
# shared buffers, 1 GB of WAL between checkpoints), every commit synced, autovacuum on.
SETTINGS = {"shared_buffers": "128MB", "max_wal_size": "1GB", "min_wal_size": "80MB"}
CONDITIONS = (
    "kiosks alone",
    "+ dashboards, primary only",
    "+ dashboards, replica",
    "+ dashboards, replica, own worker",
)
ALONE, PRIMARY_ONLY, WITH_REPLICA, OWN_WORKER = CONDITIONS
# The service each condition's kiosks and dashboards use.
SERVICES = {
    ALONE: ("primary only", "primary only"),
    PRIMARY_ONLY: ("primary only", "primary only"),
    WITH_REPLICA: ("replica", "replica"),
    OWN_WORKER: ("primary only", "reader"),
}
LAYOUTS = ("pinned", "shared")
TARGET = 0.9  # kiosks' rate with a replica while dashboards poll ÷ kiosks alone
TIME_ZONE = "Asia/Makassar"  # the data set's city


# --- set-up ----------------------------------------------------------------------------------


def tokens(url: str, role: str, scope: str, count: int) -> list[str]:
    """The tokens of `count` new keys of `role` scoped to `scope`."""

    async def create() -> list[str]:
        database = Database(url)
        try:
            async with database.writer() as session, session.begin():
                return [
                    (await create_key(session, body, None)).token
                    for body in (
                        KeyCreate(name=f"Bench {role} {n}", role=role, scope=scope)
                        for n in range(1, count + 1)
                    )
                ]
        finally:
            await database.dispose()

    return asyncio.run(create())


@dataclass
class City:
    """What the load needs of the loaded data set."""

    dataset: Dataset
    code: str  # the city government
    leaves: list[str]  # its service units
    targets: list[Target]  # every (service unit, service) pair
    collectors: list[str] = field(default_factory=list)  # tokens
    readers: list[str] = field(default_factory=list)  # tokens

    def pages(self, rng: random.Random) -> Iterator[list[str]]:
        """A dashboard's successive refreshes: the paths each one asks for."""
        now = datetime.now(ZoneInfo(TIME_ZONE))
        year, quarter = f"{now.year}", f"{now.year}-Q{(now.month - 1) // 3 + 1}"
        mall = self.dataset.mall
        while True:
            yield [
                f"/v1/indices/{rng.choice(self.leaves)}?period={quarter}",
                f"/v1/indices/{mall}?period={year}",
                f"/v1/indices/{self.code}?period={year}",
                f"/v1/indices/{mall}/ranking?period={year}",
            ]


def load_city(url: str, args: Namespace) -> City:
    started = time.perf_counter()
    print(f"loading {args.responses:,} responses into the primary …", flush=True)
    dataset = load(url, args.responses)
    db = RawDatabase(url)
    try:
        (code,) = db.query("SELECT code FROM units WHERE parent_id IS NULL")[0]
        pairs = db.query(
            "SELECT u.code, s.code FROM services s JOIN units u ON u.id = s.unit_id "
            "ORDER BY u.code, s.code"
        )
    finally:
        db.close()
    targets = [(unit, service) for unit, service in pairs]
    city = City(dataset, code, sorted({unit for unit, _ in targets}), targets)
    city.collectors = tokens(url, "collector", code, args.keys)
    city.readers = tokens(url, "reader", code, args.dashboards)
    print(
        f"loaded in {time.perf_counter() - started:.0f} s: {dataset.units} units, "
        f"{len(city.leaves)} service units, {len(targets)} unit–service pairs",
        flush=True,
    )
    return city


# --- the layouts -----------------------------------------------------------------------------


@dataclass
class Machine:
    primary: Cluster
    replica: Cluster
    services: dict[str, Service]  # "primary only", "replica", "reader"
    cpus: list[int]  # this process's CPUs at the start

    def arrange(self, layout: str) -> None:
        """Pin the processes as `layout` says (see the module's docstring)."""
        everything = set(self.cpus)
        if layout == "pinned":
            primary, replica = {self.cpus[0]}, {self.cpus[1]}
        else:
            primary = replica = everything
        self.primary.pin(primary)
        for name, service in self.services.items():
            pin(service.pid, replica if name == "reader" else primary)
        pin(os.getpid(), primary)
        self.replica.pin(replica)


def describe(layout: str, cpus: Sequence[int]) -> str:
    if layout == "pinned":
        return (
            f"pinned: primary + services + kiosks and dashboards on CPU {cpus[0]}, the replica "
            f"(+ the reading instance) on CPU {cpus[1]} (the realistic layout: in production "
            "the replica is another machine)"
        )
    return f"shared: nothing pinned, everything on CPUs {','.join(map(str, cpus))}"


# --- the load --------------------------------------------------------------------------------


@dataclass
class Dashboards:
    """`count` dashboards polling one service, each on a keep-alive connection."""

    service: Service
    city: City
    count: int
    refresh: float
    measuring: bool = False
    latencies: list[float] = field(default_factory=list)  # seconds, while measuring
    errors: int = 0
    first_error: str = ""

    async def one(self, number: int) -> None:
        """One dashboard: a page every `refresh` seconds, on a new connection each time (the
        service closes a keep-alive connection idle for 5 s, as a browser's would be)."""
        rng = random.Random(number)
        token = self.city.readers[number % len(self.city.readers)]
        await asyncio.sleep(self.refresh * number / self.count)  # staggered
        for page in self.city.pages(rng):
            started = time.perf_counter()
            try:
                conn = await HttpConnection.open(self.service.port)
                try:
                    for path in page:
                        sent = time.perf_counter()
                        status, body = await conn.request("GET", path, token=token)
                        if self.measuring:
                            self.latencies.append(time.perf_counter() - sent)
                        if status != 200:
                            self.failed(f"{path}: {status} {body[:300]!r}")
                finally:
                    await conn.close()
            except (OSError, asyncio.IncompleteReadError) as error:
                self.failed(f"{type(error).__name__}: {error}")
            await asyncio.sleep(max(0.0, started + self.refresh - time.perf_counter()))

    def failed(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what


@dataclass
class Run:
    kiosks: Measurement
    dashboard_ms: list[float]  # latencies
    dashboard_rate: float  # requests/s
    replica_tps: float
    primary_cpu: float  # CPU seconds per second of the primary cluster's processes

    @property
    def worker_cpu(self) -> float:
        """CPU seconds per second of the kiosks' service worker."""
        return self.kiosks.worker_cpu / self.kiosks.elapsed

    lag_ms: float | None  # the replica's replay lag at the run's end
    load: float
    errors: list[str]


def replica_transactions(replica: Cluster) -> int:
    return int(
        replica.scalar(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'skm'"
        )
        or 0
    )


def cluster_cpu(cluster: Cluster) -> dict[int, float]:
    """CPU time so far of each of the cluster's processes."""
    times = {}
    for pid in cluster.pids():
        with contextlib.suppress(OSError):
            times[pid] = cpu_seconds(pid)
    return times


def cpu_since(cluster: Cluster, before: dict[int, float]) -> float:
    """The cluster's CPU time since `before` (processes that ended meanwhile left out)."""
    return sum(t - before.get(pid, 0.0) for pid, t in cluster_cpu(cluster).items())


def replay_lag_ms(primary: Cluster) -> float | None:
    lag = primary.scalar(
        "SELECT EXTRACT(epoch FROM coalesce(replay_lag, interval '0')) * 1000 "
        "FROM pg_stat_replication"
    )
    return None if lag is None else float(lag)


async def run_once(
    machine: Machine, city: City, condition: str, args: Namespace, keys: Iterator[str]
) -> Run:
    """The kiosks for a warm-up and a measured run, with dashboards as `condition` says."""
    service, reader = (machine.services[name] for name in SERVICES[condition])
    case = Case("single", "spread", args.kiosks, 1)
    submissions = Submissions(city.targets)
    dashboards = Dashboards(reader, city, args.dashboards, args.refresh)
    polling = (
        [asyncio.create_task(dashboards.one(n)) for n in range(args.dashboards)]
        if condition != ALONE
        else []
    )
    try:
        warm = await drive(service, case, submissions, keys, args.warmup)
        transactions = replica_transactions(machine.replica)
        primary_before = cluster_cpu(machine.primary)
        dashboards.measuring = True
        kiosks = await drive(service, case, submissions, keys, args.duration)
        dashboards.measuring = False
        transactions = replica_transactions(machine.replica) - transactions
        primary_cpu = cpu_since(machine.primary, primary_before)
    finally:
        for task in polling:
            task.cancel()
        for outcome in await asyncio.gather(*polling, return_exceptions=True):
            if not isinstance(outcome, asyncio.CancelledError | None):
                dashboards.failed(f"{type(outcome).__name__}: {outcome}")
    errors = [
        f"kiosks: {m.errors} unexpected answers, first {m.first_error}"
        for m in (warm, kiosks)
        if m.errors
    ]
    if dashboards.errors:
        errors.append(f"dashboards: {dashboards.errors} failed, first {dashboards.first_error}")
    kiosks.created += warm.created  # for the rows check; the rate counts the measured run
    return Run(
        kiosks=kiosks,
        dashboard_ms=[1000 * s for s in dashboards.latencies],
        dashboard_rate=len(dashboards.latencies) / kiosks.elapsed,
        replica_tps=transactions / kiosks.elapsed,
        primary_cpu=primary_cpu / kiosks.elapsed,
        lag_ms=replay_lag_ms(machine.primary),
        load=os.getloadavg()[0],
        errors=errors,
    )


async def measure(
    machine: Machine, city: City, layouts: Sequence[str], args: Namespace
) -> dict[tuple[str, str], list[Run]]:
    """Every condition in every layout, repeated; the runs per (layout, condition)."""
    keys = itertools.cycle(city.collectors)
    runs: dict[tuple[str, str], list[Run]] = {}
    for repetition in range(args.repetitions):
        order = layouts if repetition % 2 == 0 else list(reversed(layouts))
        shift = repetition % len(CONDITIONS)
        conditions = CONDITIONS[shift:] + CONDITIONS[:shift]
        for layout in order:
            machine.arrange(layout)
            for condition in conditions:
                run = await run_once(machine, city, condition, args, keys)
                runs.setdefault((layout, condition), []).append(run)
                print(
                    f"  … repetition {repetition + 1}, {layout}, {condition}: "
                    f"{run.kiosks.response_rate:.0f} responses/s, load {run.load:.2f}",
                    file=sys.stderr,
                    flush=True,
                )
    return runs


# --- the report ------------------------------------------------------------------------------


def report(
    runs: dict[tuple[str, str], list[Run]],
    layouts: Sequence[str],
    cpus: Sequence[int],
    args: Namespace,
) -> None:
    print(
        f"\n== kiosks: {args.kiosks} connections, single responses, {args.keys} keys; "
        f"dashboards: {args.dashboards} refreshing 4 index views every {args.refresh:g} s "
        f"(≈ {4 * args.dashboards / args.refresh:.0f} requests/s); {args.duration:g} s per "
        f"run after a {args.warmup:g} s warm-up, {args.repetitions} repetitions (medians)"
    )
    verdicts: list[tuple[str, float, float]] = []
    for layout in layouts:
        print(f"\n{describe(layout, cpus)}")
        print(
            f"{'condition':<34} {'kiosks resp/s':>13} {'range':>11} {'÷ alone':>7} "
            f"{'range':>11} {'dash req/s':>10} {'dash p50/p95 ms':>15} {'worker CPU':>10} "
            f"{'primary CPU':>11} {'replica tx/s':>12} {'lag ms':>6} {'load':>5}"
        )
        alone = runs[(layout, ALONE)]
        ratios: dict[str, float] = {}
        for condition in CONDITIONS:
            these = runs[(layout, condition)]
            rates = [r.kiosks.response_rate for r in these]
            per_rep = [
                r.kiosks.response_rate / a.kiosks.response_rate
                for r, a in zip(these, alone, strict=True)
            ]
            ratios[condition] = statistics.median(per_rep)
            latencies = [ms for r in these for ms in r.dashboard_ms]
            dash = (
                f"{statistics.median(r.dashboard_rate for r in these):>10.1f} "
                f"{percentile(latencies, 0.5):>7.1f}/{percentile(latencies, 0.95):<7.1f}"
                if latencies
                else f"{'–':>10} {'–':>15}"
            )
            lags = [r.lag_ms for r in these if r.lag_ms is not None]
            print(
                f"{condition:<34} {statistics.median(rates):>13.0f} "
                f"{min(rates):>5.0f}–{max(rates):<5.0f} {ratios[condition]:>7.2f} "
                f"{min(per_rep):>5.2f}–{max(per_rep):<5.2f} {dash} "
                f"{statistics.median(r.worker_cpu for r in these):>10.0%} "
                f"{statistics.median(r.primary_cpu for r in these):>11.0%} "
                f"{statistics.median(r.replica_tps for r in these):>12.1f} "
                f"{max(lags) if lags else float('nan'):>6.0f} "
                f"{statistics.median(r.load for r in these):>5.2f}"
            )
        for condition in (WITH_REPLICA, OWN_WORKER):
            verdicts.append((f"{layout}, {condition[2:]}", ratios[condition], ratios[PRIMARY_ONLY]))
    print(
        "(worker CPU: of the kiosks' service worker; primary CPU: of the primary cluster's "
        "processes, 100% = one CPU)"
    )
    print(f"\n{'kiosks with dashboards ÷ kiosks alone':<62} {'value':>6}  {'target':<7} verdict")
    for label, value, primary_only in verdicts:
        met = "met" if value >= TARGET else "MISSED"
        print(
            f"{label:<62} {value:>6.2f}  ≥ {TARGET:<5g} {met:<8} (primary only: {primary_only:.2f})"
        )


def rows_check(
    primary: Cluster, city: City, runs: dict[tuple[str, str], list[Run]]
) -> tuple[bool, str]:
    created = sum(r.kiosks.created for these in runs.values() for r in these)
    stored = int(primary.scalar("SELECT count(*) FROM responses")) - city.dataset.responses
    counted = int(primary.scalar("SELECT sum(responses) FROM monthly_aggregates"))
    counted -= city.dataset.responses
    agree = created == stored == counted
    return agree, (
        f"rows check: {created} created answers, {stored} new rows in responses, {counted} "
        f"more counted in monthly_aggregates: {'OK' if agree else 'MISMATCH'}"
    )


# --- main ------------------------------------------------------------------------------------


def bench(args: Namespace, layouts: list[str], cpus: list[int]) -> bool:
    city: City | None = None

    def prepare(url: str) -> None:
        nonlocal city
        city = load_city(url, args)

    with (
        tempfile.TemporaryDirectory(prefix="skm-bench-") as tmp,
        clusters(prepare, SETTINGS) as (primary, replica),
    ):
        assert city is not None
        caught_up(primary, replica, timeout=300)
        directory = Path(tmp)
        services: dict[str, Service] = {}
        try:
            services["primary only"] = launch(
                "app.main:create_app", primary.url(), directory, "primary-only"
            )
            services["replica"] = launch(
                "app.main:create_app",
                primary.url(),
                directory,
                "with-replica",
                settings={"SKM_DATABASE_READ_URL": replica.url()},
            )
            services["reader"] = launch(
                "app.main:create_app",
                primary.url(),
                directory,
                "reader",
                settings={"SKM_DATABASE_READ_URL": replica.url()},
            )
            for service in services.values():
                wait_until_healthy(service)
            machine = Machine(primary, replica, services, cpus)
            runs = asyncio.run(measure(machine, city, layouts, args))
        finally:
            for service in services.values():
                service.stop()
            with contextlib.suppress(OSError):
                pin(os.getpid(), cpus)
        report(runs, layouts, cpus, args)
        healthy, check = rows_check(primary, city, runs)
        print(check)
        for (layout, condition), these in runs.items():
            for run in these:
                for error in run.errors:
                    healthy = False
                    print(f"   {layout}, {condition}: {error}")
        return healthy


def interrupted(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m bench.replica", description=__doc__.split("\n\n")[0])
    parser.add_argument("--responses", type=int, default=100_000, help="loaded before")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before each")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--kiosks", type=int, default=8, help="kiosks' connections")
    parser.add_argument("--keys", type=int, default=50, help="collector keys taking turns")
    parser.add_argument("--dashboards", type=int, default=40)
    parser.add_argument("--refresh", type=float, default=10.0, help="seconds between pages")
    parser.add_argument("--layout", choices=["both", *LAYOUTS], default="both")
    args = parser.parse_args(argv)
    if args.repetitions < 1 or args.dashboards < 1 or args.keys < 1:
        parser.error("--repetitions, --dashboards and --keys must be at least 1")
    cpus = sorted(os.sched_getaffinity(0))
    layouts = list(LAYOUTS) if args.layout == "both" else [args.layout]
    if "pinned" in layouts and len(cpus) < 2:
        print("bench.replica: the pinned layout needs 2 CPUs; shared only", file=sys.stderr)
        layouts.remove("pinned")
        if not layouts:
            return 2
    signal.signal(signal.SIGTERM, interrupted)  # stopped: clean up as on Ctrl-C
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"{len(cpus)} CPUs, load average {load} before the run")
    try:
        healthy = bench(args, layouts, cpus)
    except (BenchError, MissingBinaries) as error:
        print(f"bench.replica: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench.replica: interrupted; services stopped, clusters removed", file=sys.stderr)
        return 130
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"load average {load} after the run")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
