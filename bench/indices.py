"""Index benchmark: the service's satisfaction indices against the same sums over raw rows.

Run from the checkout (about six minutes with the defaults, most of it loading 1M rows):

    .venv/bin/python -m bench.indices [--db postgresql|sqlite|both] [--sizes 100000,1000000]
        [--warmup 5] [--repeat 30] [--seed 14] [--raw-jit]
    make bench-indices BENCH_ARGS="--sizes 100000,1000000"

For each data size it drops and creates the database `skm_bench_idx_<size>` (PostgreSQL,
through SKM_BENCH_POSTGRES_URL; SQLite: a file in a temporary directory), bulk-loads the
data set of bench/dataset.py (a city → 2 service malls → ~60 agencies → ~190 service units;
N responses over 2025–2026; the same units at every size) and starts the real service on it
(`uvicorn app.main:create_app --factory`, 1 worker, no access log); all sizes are served at
once. It then measures, with one keep-alive HTTP client per service, sequentially (latency,
not throughput), with an administrator's key and without If-None-Match (so every request
computes its answer; the ETag is never used):

  (a) a service unit's quarter     GET /v1/indices/{busiest unit}?period=2026-Q1
  (b) a service mall's year        GET /v1/indices/{mall}?period=2025 (pooled over tenants)
  (c) its monthly series           GET /v1/indices/{mall}/series?period=2025&granularity=month
  (d) its ranking of agencies      GET /v1/indices/{mall}/ranking?period=2025

and, interleaved with each request, the same aggregate computed directly from the raw
`responses` rows with one plain SQL query through psycopg (sqlite3 on SQLite): SUM/COUNT
per element over the units whose path starts with the unit's path and the local_date range
(grouped by month for the series, by child unit for the ranking), with the indexes the
migrations create. JIT is off on that connection unless --raw-jit (it only slows these
queries down, which would flatter the service). Each query runs in rounds in which every
size gets its API request then its raw SQL, so that load from elsewhere on the machine hits
all sizes and both sides alike; after `--warmup` rounds, `--repeat` rounds give p50 and p95
in ms, and the worker's CPU time per request (from /proc).

Before the queries, in rounds like theirs, the same client measures the HTTP floor of each
service: GET of a path no route serves (a problem+json 404: no key check, no database). No
answer of the service can come back faster, so raw p50 ÷ floor p50 is the highest raw ÷ API
any endpoint could reach on this machine and stack; it is printed beside each ratio.

Printed per size: the table of latencies, raw ÷ API, and a check that the API's numbers
(responses, and answers and total per element; per month and per child for (c) and (d))
equal the raw aggregate's. Then the ratios against their targets: API latency at the
largest size ÷ at the smallest (≤ 1.3) and raw ÷ API at the largest size (≥ 20), on p50,
with the ceiling that the floor sets.
Exits 1 when a check fails, 2 when the benchmark could not run; a missed target is only
reported.
"""

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from app.aggregates import AGGREGATE_COUNTERS
from app.method import ELEMENTS
from app.periods import parse_period
from bench.dataset import Dataset, RawDatabase, counter_sql, fresh_and_loaded, month_sql
from bench.harness import BenchError, Service, code_note, code_version, percentile, serving

DATABASE = "skm_bench_idx"  # _<size> appended
TARGET_GROWTH = 1.3  # API p50 at the largest size ÷ at the smallest
TARGET_RAW_RATIO = 20.0  # raw-SQL p50 ÷ API p50 at the largest size
SUBTREE = "unit_id IN (SELECT id FROM units WHERE path LIKE {p})"
FLOOR_PATH = "/v1/no-such-resource"  # served by no route: the cheapest answer there is

# What is compared between the API and the raw rows: responses, and per element the number
# of answers and their total.
Numbers = tuple[int, tuple[tuple[str, int, int], ...]]
Compared = tuple[dict[Any, Numbers], dict[Any, Numbers]]  # from the API, from the raw rows


def _numbers_from_raw(counters: tuple[Any, ...]) -> Numbers:
    values = dict(zip(AGGREGATE_COUNTERS, (int(c or 0) for c in counters), strict=True))
    per_element = tuple(
        (e, values[f"{e}_n"], values[f"{e}_sum"]) for e in ELEMENTS if values[f"{e}_n"]
    )
    return values["responses"], per_element


def _numbers_from_api(value: dict[str, Any]) -> Numbers:
    elements = sorted(
        ((e["key"], e["answers"], e["total"]) for e in value["elements"] if e["answers"]),
        key=lambda item: ELEMENTS.index(item[0]),
    )
    return value["responses"], tuple(elements)


@dataclass
class Query:
    """One API request and the raw SQL that computes the same sums."""

    label: str
    path: str
    sql: str
    params: tuple[object, ...]
    # (API JSON, raw rows) → each side's numbers, keyed by what they cover.
    compare: Callable[[dict[str, Any], list[tuple[Any, ...]]], Compared]
    api_ms: list[float] = field(default_factory=list)
    raw_ms: list[float] = field(default_factory=list)
    cpu_ms: float = 0.0  # the worker's CPU time per request, mean over the measured rounds
    check: str = ""

    def p(self, side: str, quantile: float) -> float:
        return percentile(self.api_ms if side == "api" else self.raw_ms, quantile)


def _pooled(api: dict[str, Any], raw: list[tuple[Any, ...]]) -> Compared:
    return {"": _numbers_from_api(api["pooled"])}, {"": _numbers_from_raw(raw[0])}


def _series(api: dict[str, Any], raw: list[tuple[Any, ...]]) -> Compared:
    points = {
        p["period"]["label"]: _numbers_from_api(p["value"])
        for p in api["points"]
        if p["value"]["responses"]
    }
    months = {str(row[0])[:7]: _numbers_from_raw(row[1:]) for row in raw}
    return points, months


def _ranking(api: dict[str, Any], raw: list[tuple[Any, ...]]) -> Compared:
    items = {
        i["unit"]["code"]: _numbers_from_api(i["value"])
        for i in api["items"]
        if i["value"]["responses"]
    }
    return items, {row[0]: _numbers_from_raw(row[1:]) for row in raw}


def queries(db: RawDatabase, dataset: Dataset) -> list[Query]:
    units = {
        code: (unit_id, path)
        for code, unit_id, path in db.query(
            "SELECT code, id, path FROM units WHERE code IN ({p}, {p})",
            (dataset.busy_leaf, dataset.mall),
        )
    }
    counters = counter_sql()
    quarter, year = parse_period("2026-Q1"), parse_period("2025")
    leaf_path, (mall_id, mall_path) = units[dataset.busy_leaf][1], units[dataset.mall]
    pooled = (
        f"SELECT {counters} FROM responses WHERE {SUBTREE} AND local_date BETWEEN {{p}} AND {{p}}"
    )
    month = month_sql(db.backend)
    return [
        Query(
            f"(a) unit quarter: {dataset.busy_leaf} 2026-Q1",
            f"/v1/indices/{dataset.busy_leaf}?period=2026-Q1",
            pooled,
            (leaf_path + "%", quarter.start, quarter.end),
            _pooled,
        ),
        Query(
            f"(b) mall year, pooled: {dataset.mall} 2025",
            f"/v1/indices/{dataset.mall}?period=2025",
            pooled,
            (mall_path + "%", year.start, year.end),
            _pooled,
        ),
        Query(
            "(c) mall monthly series 2025",
            f"/v1/indices/{dataset.mall}/series?period=2025&granularity=month",
            f"SELECT {month} AS month, {counters} FROM responses "
            f"WHERE {SUBTREE} AND local_date BETWEEN {{p}} AND {{p}} GROUP BY {month}",
            (mall_path + "%", year.start, year.end),
            _series,
        ),
        Query(
            "(d) mall ranking of agencies 2025",
            f"/v1/indices/{dataset.mall}/ranking?period=2025",
            f"SELECT c.code, {counters} FROM responses r "
            "JOIN units u ON u.id = r.unit_id "
            "JOIN units c ON c.parent_id = {p} AND substr(u.path, 1, length(c.path)) = c.path "
            "WHERE r.local_date BETWEEN {p} AND {p} GROUP BY c.code",
            (mall_id, year.start, year.end),
            _ranking,
        ),
    ]


def _get(client: httpx2.Client, query: Query) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    answer = client.get(query.path)
    body = answer.content
    elapsed = time.perf_counter() - started
    if answer.status_code != 200 or "etag" not in answer.headers:
        raise BenchError(f"GET {query.path}: {answer.status_code} {body[:300]!r}")
    if "if-none-match" in answer.request.headers:
        raise BenchError("the client sent If-None-Match")
    result: dict[str, Any] = answer.json()
    return elapsed, result


def _raw(db: RawDatabase, query: Query) -> tuple[float, list[tuple[Any, ...]]]:
    started = time.perf_counter()
    rows = db.query(query.sql, query.params)
    return time.perf_counter() - started, rows


@dataclass
class Side:
    """One data set: its service, an HTTP client, a raw connection, its queries."""

    dataset: Dataset
    service: Service
    client: httpx2.Client
    db: RawDatabase
    queries: list[Query]
    floor_ms: list[float] = field(default_factory=list)

    @property
    def floor(self) -> float:
        """The HTTP floor's p50, ms."""
        return percentile(self.floor_ms, 0.5)


def _floor(client: httpx2.Client) -> float:
    started = time.perf_counter()
    answer = client.get(FLOOR_PATH)
    body = answer.content
    elapsed = time.perf_counter() - started
    if answer.status_code != 404 or "problem+json" not in answer.headers.get("content-type", ""):
        raise BenchError(f"GET {FLOOR_PATH}: {answer.status_code} {body[:300]!r}")
    return elapsed


def _open(
    dataset: Dataset,
    args: argparse.Namespace,
    directory: Path,
    stack: ExitStack,
    make_queries: Callable[[RawDatabase, Dataset], list[Query]],
) -> Side:
    db = RawDatabase(dataset.url)
    stack.callback(db.close)
    if db.backend == "postgresql":
        db.execute("SET statement_timeout = '120s'")
        db.execute(f"SET jit = {'on' if args.raw_jit else 'off'}")
    service = stack.enter_context(serving(dataset.url, directory))
    client = stack.enter_context(
        httpx2.Client(
            base_url=service.base_url,
            headers={"Authorization": f"Bearer {dataset.token}"},
            timeout=60.0,
        )
    )
    return Side(dataset, service, client, db, make_queries(db, dataset))


def measure(
    datasets: list[Dataset],
    args: argparse.Namespace,
    directory: Path,
    make_queries: Callable[[RawDatabase, Dataset], list[Query]] | None = None,
) -> list[Side]:
    """A service per data set, all running; the HTTP floor, then each query in turn: rounds
    in which every data set gets the API request then the raw SQL (interleaved, so that a
    noisy neighbour on the machine hits every size and both sides alike), warm-up rounds
    first."""
    with ExitStack() as stack:
        sides = [
            _open(dataset, args, directory, stack, make_queries or queries) for dataset in datasets
        ]
        for round_ in range(args.warmup + args.repeat):
            for side in sides:
                seconds = _floor(side.client)
                if round_ >= args.warmup:
                    side.floor_ms.append(1000 * seconds)
        for number in range(len(sides[0].queries)):
            cpu = [0.0] * len(sides)
            answers: list[tuple[dict[str, Any], list[tuple[Any, ...]]]] = []
            for round_ in range(args.warmup + args.repeat):
                answers = []
                for position, side in enumerate(sides):
                    query = side.queries[number]
                    if round_ == args.warmup:
                        cpu[position] = side.service.cpu()
                    api_seconds, api = _get(side.client, query)
                    raw_seconds, raw = _raw(side.db, query)
                    answers.append((api, raw))
                    if round_ >= args.warmup:
                        query.api_ms.append(1000 * api_seconds)
                        query.raw_ms.append(1000 * raw_seconds)
            for position, (side, (api, raw)) in enumerate(zip(sides, answers, strict=True)):
                query = side.queries[number]
                query.cpu_ms = 1000 * (side.service.cpu() - cpu[position]) / args.repeat
                from_api, from_raw = query.compare(api, raw)
                query.check = "OK" if from_api == from_raw else "MISMATCH"
                if from_api != from_raw:
                    print(f"   {query.label}: API {from_api}\n   raw {from_raw}")
        return sides


def server_version(dataset: Dataset) -> str:
    db = RawDatabase(dataset.url)
    try:
        if db.backend == "postgresql":
            return "PostgreSQL " + str(db.query("SHOW server_version")[0][0])
        return "SQLite " + str(db.query("SELECT sqlite_version()")[0][0])
    finally:
        db.close()


def report_size(side: Side, args: argparse.Namespace, code: str) -> None:
    dataset = side.dataset
    print(
        f"\n== {server_version(dataset)}, {dataset.responses:,} responses "
        f"(loaded in {dataset.seconds:.1f} s), {code_note(code)}: {args.warmup} warm-up + "
        f"{args.repeat} measured rounds, sequential, keep-alive; ms"
    )
    print(
        f"{'query':<62} {'API p50':>8} {'API p95':>8} {'API CPU':>8} {'raw p50':>8} "
        f"{'raw p95':>8} {'raw÷API':>8}  check"
    )
    for q in side.queries:
        print(
            f"{q.label:<62} {q.p('api', 0.5):>8.2f} {q.p('api', 0.95):>8.2f} {q.cpu_ms:>8.2f} "
            f"{q.p('raw', 0.5):>8.2f} {q.p('raw', 0.95):>8.2f} "
            f"{q.p('raw', 0.5) / q.p('api', 0.5):>8.1f}  {q.check}"
        )
    print(
        f"{'HTTP floor: GET ' + FLOOR_PATH + ' (404, no key, no database)':<62} "
        f"{side.floor:>8.2f} {percentile(side.floor_ms, 0.95):>8.2f}"
    )
    print("(API CPU: the worker's CPU time per request, mean; the rest of API p50 is waiting)")


def report_ratios(small: Side, large: Side) -> None:
    sizes = f"{large.dataset.responses // 1000:,}k ÷ {small.dataset.responses // 1000:,}k"
    print(
        f"\n== ratios on p50 ({large.dataset.backend}): API latency {sizes}, "
        f"and raw ÷ API at {large.dataset.responses:,}"
    )
    print(
        f"{'query':<36} {'API growth':>10}  {'target':<7} {'verdict':<7} "
        f"{'raw÷API':>8}  {'target':<6} {'verdict':<7} {'ceiling':>8}"
    )
    for before, after in zip(small.queries, large.queries, strict=True):
        growth = after.p("api", 0.5) / before.p("api", 0.5)
        raw_ratio = after.p("raw", 0.5) / after.p("api", 0.5)
        ceiling = after.p("raw", 0.5) / large.floor
        print(
            f"{after.label[:36]:<36} {growth:>10.2f}  ≤ {TARGET_GROWTH:<5} "
            f"{_verdict(growth <= TARGET_GROWTH):<7} {raw_ratio:>8.1f}  ≥ {TARGET_RAW_RATIO:<4g} "
            f"{_verdict(raw_ratio >= TARGET_RAW_RATIO):<7} {ceiling:>8.1f}"
        )
    print(
        "(ceiling: raw p50 ÷ the HTTP floor's p50, the highest raw ÷ API that any answer of "
        "this service could reach here)"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.indices", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="postgresql")
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        type=lambda text: [int(n) for n in text.split(",")],
        help="responses per data set, comma-separated, smallest first",
    )
    parser.add_argument("--warmup", type=int, default=5, help="rounds before measuring")
    parser.add_argument("--repeat", type=int, default=30, help="measured rounds")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--raw-jit", action="store_true", help="leave JIT on for raw SQL")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be at least 1 and --warmup at least 0")
    backends = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
    healthy = True
    code = code_version()
    try:
        with tempfile.TemporaryDirectory(prefix="skm-bench-") as tmp:
            directory = Path(tmp)
            for backend in backends:
                datasets = [
                    fresh_and_loaded(backend, f"{DATABASE}_{size}", directory, size, args.seed)
                    for size in args.sizes
                ]
                sides = measure(datasets, args, directory)
                for side in sides:
                    report_size(side, args, code)
                    healthy = healthy and all(q.check == "OK" for q in side.queries)
                if len(sides) > 1:
                    report_ratios(sides[0], sides[-1])
    except BenchError as error:
        print(f"bench.indices: {error}", file=sys.stderr)
        return 2
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
