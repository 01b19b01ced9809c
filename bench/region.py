"""A region's volume: a province of 10 cities × 600 service units, 1 M and 10 M responses,
and the index reads that must hold at that size (issue 16, item 3).

    .venv/bin/python -m bench.region [--sizes 1000000,10000000] [--workers 2] [--reload]
        [--load-only] [--warmup 5] [--repeat 30] [--seed 14]
    make bench-region BENCH_ARGS="--sizes 1000000,10000000"

Each size is a PostgreSQL database `skm_bench_region_<size>` on the server of
SKM_BENCH_POSTGRES_URL, kept between runs: a load takes long on two cores (10 M: about half
an hour). The database's comment fingerprints what is in it (the generator's version, the
seed, the number of responses); a database whose fingerprint matches is reused after
`alembic upgrade head` (the migrations backfill what they add), anything else is dropped
and loaded again (`--reload` forces it). A new administrator's key is written into a reused
database for the run.

The data set: a provincial government → 10 city governments (Asia/Makassar; a few big
cities, most small) → 600 service units each (6,000 in all), 2–4 services per unit (7 for a
few big offices), N responses over the local days 2025-01-01..2026-12-31, uneven volumes
per unit (log-normal, busy offices and quiet counters), the weekly and yearly rhythm and the
answers, channels and profiles of bench/dataset.py. Rows are generated per city, each city
from its own seeded generator, so that `--workers` processes can COPY cities in parallel
(the responses table's keys and indexes are dropped first and made again afterwards from
the catalog, as bench/dataset.py does). Then the daily and monthly aggregates (and the
yearly one) are built with INSERT … SELECT … GROUP BY, checked against the raw rows, and
the database VACUUM ANALYZEd. The timings of every step are printed.

Measured, as `bench.indices` does (the real service, one keep-alive client, each API
request interleaved with the same sums computed from the raw rows by plain SQL, every size
in each round; p50/p95 in ms; a check that both give the same numbers):

  (a) a service unit's quarter     GET /v1/indices/{busiest unit}?period=2026-Q1
  (b) a city's year, pooled        GET /v1/indices/{biggest city}?period=2025
  (c) its monthly series           GET /v1/indices/{city}/series?period=2025&granularity=month
  (d) its ranking of 600 units     GET /v1/indices/{city}/ranking?period=2025
  (e) the province's year          GET /v1/indices/{province}?period=2025 (10 cities)

Targets at 10 M (p50): (a) ≤ 1.3× its time at 1 M, (b) ≤ 50 ms, (d) ≤ 100 ms, (e) ≤ 150 ms.
Run it under `flock /work/bench.lock` when others share the machine.
"""

import argparse
import hashlib
import math
import multiprocessing
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, insert, update
from sqlalchemy.engine import make_url

from app.auth import new_token, token_hash
from app.db import sync_url
from app.models import ApiKey, Service, Unit
from app.partitions import ensure_months, months
from app.periods import parse_period
from bench.dataset import (
    CHANNEL_WEIGHTS,
    CHANNELS,
    COLUMNS,
    CREATED,
    FIRST_DAY,
    LAST_DAY,
    POOL,
    PROFILE_CHOICES,
    SERVICES,
    SUGGESTIONS,
    Dataset,
    RawDatabase,
    Row,
    _answer_pool,
    _day_counts,
    _fill_aggregates,
    check_yearly_aggregates,
    counter_sql,
    fill_yearly_aggregates,
    libpq_url,
    month_sql,
)
from bench.harness import ADMIN_URL, BenchError, code_version, migrate
from bench.indices import SUBTREE, Query, _pooled, _ranking, _series, measure, report_size

# Bump when the generated data change: a cached database with another version is reloaded.
GENERATOR_VERSION = "region-1"  # the rows; the schema follows by migration
DATABASE = "skm_bench_region"  # _<size> appended
CITIES = 10
UNITS_PER_CITY = 600
ZONE = "Asia/Makassar"
PROVINCE = "prov-kaltim"
OFFSET = timedelta(hours=8)
CITY_NAMES = (
    "Samarinda",
    "Balikpapan",
    "Bontang",
    "Kutai Kartanegara",
    "Kutai Timur",
    "Berau",
    "Paser",
    "Penajam Paser Utara",
    "Kutai Barat",
    "Mahakam Ulu",
)
CITY_WEIGHTS = (3.0, 2.6, 0.8, 2.2, 1.1, 0.8, 0.9, 0.6, 0.5, 0.15)  # a few big, most small
OFFICES = (
    "Disdukcapil",
    "Samsat",
    "DPMPTSP",
    "Puskesmas",
    "Kelurahan",
    "Kecamatan",
    "Kantor Pertanahan",
    "BPJS Kesehatan",
    "Perumda Air Minum",
    "Dinas Sosial",
)
MORE_SERVICES = ("Konsultasi", "Pengaduan", "Pengambilan dokumen")
TARGETS = {"(b)": 50.0, "(d)": 100.0, "(e)": 150.0}  # ms, p50 at the largest size
TARGET_GROWTH = 1.3  # (a): p50 at the largest size ÷ at the smallest


# --- the hierarchy -------------------------------------------------------------------------


class Region:
    """Units (id, code, name, kind, parent, path), services (id, unit, code, name), and per
    city its service units with their relative volumes and services."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"{seed}-region")
        self.units: list[tuple[int, str, str, str, int | None, str]] = []
        self.services: list[tuple[int, int, str, str]] = []
        # per city: [(unit id, weight, [service ids])]
        self.cities: list[list[tuple[int, float, list[int]]]] = []
        province = self._add(PROVINCE, "Pemerintah Provinsi Kalimantan Timur", None)
        city_ids = []
        for number, name in enumerate(CITY_NAMES):
            city_ids.append(self._add(f"kota-{number + 1:02d}", f"Pemerintah {name}", province))
        for number, city_id in enumerate(city_ids):
            leaves = []
            for unit_number in range(UNITS_PER_CITY):
                office = OFFICES[unit_number % len(OFFICES)]
                unit_id = self._add(
                    f"kota-{number + 1:02d}-unit-{unit_number + 1:03d}",
                    f"{office} {unit_number // len(OFFICES) + 1}",
                    city_id,
                    kind="service_unit",
                )
                weight = math.exp(rng.gauss(0.0, 1.0))
                if rng.random() < 0.1:
                    weight *= 0.05  # a quiet counter
                names = SERVICES[: rng.randint(2, 4)]
                if rng.random() < 0.03:  # a big office with many services
                    names = (*SERVICES, *MORE_SERVICES)
                services = []
                for code_number, service_name in enumerate(names):
                    service_id = len(self.services) + 1
                    self.services.append(
                        (service_id, unit_id, f"layanan-{code_number + 1}", service_name)
                    )
                    services.append(service_id)
                leaves.append((unit_id, weight, services))
            self.cities.append(leaves)
        self.city_codes = [f"kota-{n + 1:02d}" for n in range(CITIES)]

    def _add(self, code: str, name: str, parent: int | None, kind: str = "government") -> int:
        unit_id = len(self.units) + 1
        parent_path = self.units[parent - 1][5] if parent else "/"
        self.units.append((unit_id, code, name, kind, parent, f"{parent_path}{unit_id}/"))
        return unit_id

    def city_totals(self, total: int) -> list[int]:
        """`total` responses split over the cities by their weights (exact sum)."""
        scale = total / sum(CITY_WEIGHTS)
        counts = [math.floor(w * scale) for w in CITY_WEIGHTS]
        for n in range(total - sum(counts)):
            counts[n % CITIES] += 1
        return counts

    @property
    def busy_leaf(self) -> str:
        city = max(range(CITIES), key=lambda n: CITY_WEIGHTS[n])
        unit_id = max(self.cities[city], key=lambda leaf: leaf[1])[0]
        return self.units[unit_id - 1][1]

    @property
    def big_city(self) -> str:
        return self.city_codes[max(range(CITIES), key=lambda n: CITY_WEIGHTS[n])]


def collector_key(unit_id: int) -> int:
    """A service unit's collector key id (the administrator's is 1)."""
    return unit_id  # unit ids start at 1 with the province, which has no key: no clash


def _insert_hierarchy(url: str, region: Region, token: str) -> None:
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            times = {"created_at": CREATED, "updated_at": CREATED}
            conn.execute(
                insert(Unit),
                [
                    {
                        "id": unit_id,
                        "code": code,
                        "name": name,
                        "kind": kind,
                        "parent_id": parent,
                        "path": path,
                        "time_zone": ZONE,
                        "time_zone_inherited": parent is not None,
                        **times,
                    }
                    for unit_id, code, name, kind, parent, path in region.units
                ],
            )
            conn.execute(
                insert(Service),
                [
                    {"id": service_id, "unit_id": unit_id, "code": code, "name": name, **times}
                    for service_id, unit_id, code, name in region.services
                ],
            )
            kiosk_hash = token_hash(new_token())  # collector keys are never used here
            keys = [
                {
                    "id": 1,
                    "name": "bench admin",
                    "role": "admin",
                    "scope_unit_id": None,
                    "read_responses": True,
                    "token_hash": token_hash(token),
                    "prefix": token[:10],
                    "created_at": CREATED,
                }
            ]
            for leaves in region.cities:
                for unit_id, _, _ in leaves:
                    keys.append(
                        {
                            "id": collector_key(unit_id),
                            "name": f"kiosk {unit_id}",
                            "role": "collector",
                            "scope_unit_id": unit_id,
                            "read_responses": False,
                            "token_hash": f"{kiosk_hash[:-8]}{unit_id:08x}",
                            "prefix": "skm_kiosk",
                            "created_at": CREATED,
                        }
                    )
            conn.execute(insert(ApiKey), keys)
            for table in ("units", "services", "api_keys"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    finally:
        engine.dispose()


# --- responses -------------------------------------------------------------------------------


def city_rows(leaves: list[tuple[int, float, list[int]]], total: int, seed: str) -> Iterator[Row]:
    """One city's responses (COLUMNS order), day after day, each day in collected_at order:
    the answers, channels, delays and profiles of bench/dataset.py's generator."""
    rng = random.Random(seed)
    cumulative = list(accumulate(weight for _, weight, _ in leaves))
    answer_pools = [_answer_pool(rng) for _ in leaves]
    profiles = [
        tuple(rng.choices(values, weights)[0] for values, weights in PROFILE_CHOICES)
        for _ in range(POOL)
    ]
    addresses = [f"ip:{rng.getrandbits(96):024x}" for _ in range(POOL)]
    for day, count in _day_counts(total):
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - OFFSET
        rows: list[Row] = []
        picks = rng.choices(range(len(leaves)), cum_weights=cumulative, k=count)
        channels = rng.choices(CHANNELS, CHANNEL_WEIGHTS, k=count)
        for pick, channel in zip(picks, channels, strict=True):
            unit_id, _, services = leaves[pick]
            key_id: int | None = collector_key(unit_id)
            if channel in ("kiosk", "paper"):  # opening hours
                second = rng.randrange(8 * 3600, 15 * 3600 + 1800)
            else:
                second = rng.randrange(6 * 3600, 23 * 3600)
                key_id = None
            collected = midnight + timedelta(seconds=second + rng.random())
            answers: Any = rng.choice(answer_pools[pick])
            if channel == "paper":
                delay = timedelta(days=rng.randint(1, 10), seconds=rng.randrange(86400))
                blanked = [None if rng.random() < 0.06 else a for a in answers]
                answers = blanked if any(a is not None for a in blanked) else answers
            elif channel == "kiosk" and rng.random() < 0.03:
                delay = timedelta(hours=rng.randint(1, 48))
            else:
                delay = timedelta(seconds=rng.uniform(0.05, 20.0))
            response_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            rows.append(
                (
                    response_id,
                    unit_id,
                    rng.choice(services),
                    1,
                    channel,
                    collected,
                    collected + delay,
                    day,
                    *answers,
                    *rng.choice(profiles),
                    rng.choice(SUGGESTIONS) if rng.random() < 0.04 else None,
                    hashlib.sha256(response_id.bytes).hexdigest(),
                    key_id,
                    f"key:{key_id}" if key_id is not None else rng.choice(addresses),
                )
            )
        rows.sort(key=lambda row: row[5])
        yield from rows


def _copy_cities(job: tuple[str, int, list[int], list[int]]) -> tuple[int, float]:
    """A worker: COPY the given cities' rows in one transaction; (rows, seconds)."""
    url, seed, cities, totals = job
    region = Region(seed)
    started = time.perf_counter()
    columns = ", ".join((*COLUMNS, "extra_answers"))
    written = 0
    with (
        psycopg.connect(libpq_url(url), connect_timeout=5) as conn,
        conn.cursor().copy(f"COPY responses ({columns}) FROM STDIN") as copy,
    ):
        for city, total in zip(cities, totals, strict=True):
            for row in city_rows(region.cities[city], total, f"{seed}-city-{city}"):
                copy.write_row((*row, "null"))  # JSON null, as the service stores
                written += 1
    return written, time.perf_counter() - started


def _keys_and_indexes(conn: psycopg.Connection[Any]) -> tuple[list[Any], list[Any]]:
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'responses'::regclass AND contype IN ('p', 'f', 'u') "
        "AND conparentid = 0 ORDER BY contype DESC, conname"  # the primary key first
    ).fetchall()
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'responses' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname"
    ).fetchall()
    return constraints, indexes


def copy_responses(url: str, region: Region, responses: int, seed: int, workers: int) -> None:
    """Drop the table's keys and indexes, COPY the cities in `workers` processes (the
    biggest cities first, each to the least loaded worker), then make the keys and indexes
    again, and register every id in `response_ids` as the write path does (migration
    0010); prints the timings. The monthly partitions of the data's days are made first
    (the migration makes only the months around today)."""
    engine = create_engine(sync_url(url), pool_size=1)
    try:
        with engine.begin() as sa_conn:
            ensure_months(sa_conn, months(FIRST_DAY, LAST_DAY))
    finally:
        engine.dispose()
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
        constraints, indexes = _keys_and_indexes(conn)
        for name, _ in reversed(constraints):
            conn.execute(f'ALTER TABLE responses DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    totals = region.city_totals(responses)
    shares: list[tuple[list[int], list[int]]] = [([], []) for _ in range(workers)]
    for city in sorted(range(CITIES), key=lambda n: -totals[n]):
        lightest = min(shares, key=lambda share: sum(share[1]))
        lightest[0].append(city)
        lightest[1].append(totals[city])
    jobs = [(url, seed, cities, counts) for cities, counts in shares if cities]
    started = time.perf_counter()
    if workers == 1:
        results = [_copy_cities(job) for job in jobs]
    else:
        with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
            results = pool.map(_copy_cities, jobs)
    seconds = time.perf_counter() - started
    rate = sum(r for r, _ in results) / seconds
    print(
        f"  COPY {responses:,} rows with {len(jobs)} worker(s): {seconds:.1f} s "
        f"({rate:,.0f} rows/s; workers {', '.join(f'{s:.0f} s' for _, s in results)})",
        flush=True,
    )
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            conn.execute(definition)
        for name, definition in constraints:
            conn.execute(f'ALTER TABLE responses ADD CONSTRAINT "{name}" {definition}')
    print(f"  keys and indexes made again: {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            "INSERT INTO response_ids (id, unit_id, local_date, content_hash) "
            "SELECT id, unit_id, local_date, content_hash FROM responses"
        )
    print(f"  ids registered: {time.perf_counter() - started:.1f} s", flush=True)


# --- aggregates --------------------------------------------------------------------------------


def fill_aggregates(db: RawDatabase) -> None:
    """The aggregate tables from the raw rows, with bench/dataset.py's SQL (the yearly one
    from the monthly one, as its migration backfills it)."""
    _fill_aggregates(db)
    fill_yearly_aggregates(db)


def check_aggregates(db: RawDatabase, expected: int) -> None:
    """Every counter over the raw rows equals the same counter summed over each aggregate
    table."""
    from app.aggregates import AGGREGATE_COUNTERS

    summed = ", ".join(f"sum({c})" for c in AGGREGATE_COUNTERS)
    tables = [
        t
        for (t,) in db.query(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'complete_total_sq' AND table_name <> 'responses' "
            "ORDER BY table_name"
        )
    ]
    parts = [f"SELECT 'responses', {counter_sql()} FROM responses"]
    parts += [f"SELECT '{t}', {summed} FROM {t}" for t in tables]
    rows = db.query(" UNION ALL ".join(parts))
    totals = {row[0]: [int(v or 0) for v in row[1:]] for row in rows}
    raw = totals["responses"]
    if raw[0] != expected or any(values != raw for values in totals.values()):
        raise BenchError(f"aggregates differ from the raw rows: {totals}")
    print(f"  checked: {', '.join(tables)} = the raw rows", flush=True)


# --- the cache -------------------------------------------------------------------------------


def fingerprint(responses: int, seed: int) -> str:
    return f"skm bench region {GENERATOR_VERSION} seed {seed} responses {responses}"


def _database_comment(name: str) -> str | None:
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    return None if row is None else (row[0] or "")


def loaded(responses: int, seed: int, workers: int, reload: bool) -> Dataset:
    """The data set of `responses` rows: the cached database if its fingerprint matches
    (migrated to head, a new administrator's key), else dropped, created and loaded."""
    name = f"{DATABASE}_{responses}"
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    region = Region(seed)
    token = new_token()
    started = time.perf_counter()
    comment = _database_comment(name)
    if not reload and comment == fingerprint(responses, seed):
        print(f"{name}: cached ({comment}); alembic upgrade head …", flush=True)
        db = RawDatabase(url)
        try:
            before = db.query("SELECT version_num FROM alembic_version")
            migrate(url)
            if db.query("SELECT version_num FROM alembic_version") != before:
                check_yearly_aggregates(db)  # backfilled by the migration
                db.execute("ANALYZE")  # the tables the migrations made or filled
        finally:
            db.close()
        engine = create_engine(sync_url(url), pool_size=1)
        try:
            with engine.begin() as conn:
                conn.execute(
                    update(ApiKey)
                    .where(ApiKey.id == 1)
                    .values(token_hash=token_hash(token), prefix=token[:10], revoked_at=None)
                )
        finally:
            engine.dispose()
        print(f"  migrated in {time.perf_counter() - started:.1f} s", flush=True)
    else:
        why = "not there" if comment is None else f"fingerprint {comment!r}"
        print(f"{name}: loading {responses:,} responses ({why}) …", flush=True)
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        step = time.perf_counter()
        migrate(url)
        _insert_hierarchy(url, region, token)
        print(
            f"  migrated, {len(region.units):,} units, {len(region.services):,} services: "
            f"{time.perf_counter() - step:.1f} s",
            flush=True,
        )
        copy_responses(url, region, responses, seed, workers)
        db = RawDatabase(url)
        try:
            db.execute("SET work_mem = '256MB'")
            step = time.perf_counter()
            fill_aggregates(db)
            print(f"  aggregates built: {time.perf_counter() - step:.1f} s", flush=True)
            step = time.perf_counter()
            check_aggregates(db, responses)
            print(f"  check: {time.perf_counter() - step:.1f} s", flush=True)
            step = time.perf_counter()
            db.execute("VACUUM (ANALYZE)")
            print(f"  VACUUM ANALYZE: {time.perf_counter() - step:.1f} s", flush=True)
            db.execute(f"COMMENT ON DATABASE \"{name}\" IS '{fingerprint(responses, seed)}'")
        finally:
            db.close()
        print(f"  loaded in {time.perf_counter() - started:.1f} s", flush=True)
    return Dataset(
        url=url,
        backend="postgresql",
        responses=responses,
        units=len(region.units),
        services=len(region.services),
        token=token,
        mall=region.big_city,
        busy_leaf=region.busy_leaf,
        seconds=time.perf_counter() - started,
    )


# --- the measurement -------------------------------------------------------------------------


def region_queries(db: RawDatabase, dataset: Dataset) -> list[Query]:
    codes = (dataset.busy_leaf, dataset.mall, PROVINCE)
    units = {
        code: (unit_id, path)
        for code, unit_id, path in db.query(
            "SELECT code, id, path FROM units WHERE code IN ({p}, {p}, {p})", codes
        )
    }
    counters = counter_sql()
    quarter, year = parse_period("2026-Q1"), parse_period("2025")
    leaf, (city_id, city_path), province = codes[0], units[dataset.mall], codes[2]
    pooled = (
        f"SELECT {counters} FROM responses WHERE {SUBTREE} AND local_date BETWEEN {{p}} AND {{p}}"
    )
    month = month_sql("postgresql")
    return [
        Query(
            f"(a) unit quarter: {leaf} 2026-Q1",
            f"/v1/indices/{leaf}?period=2026-Q1",
            pooled,
            (units[leaf][1] + "%", quarter.start, quarter.end),
            _pooled,
        ),
        Query(
            f"(b) city year, pooled: {dataset.mall} 2025",
            f"/v1/indices/{dataset.mall}?period=2025",
            pooled,
            (city_path + "%", year.start, year.end),
            _pooled,
        ),
        Query(
            "(c) city monthly series 2025",
            f"/v1/indices/{dataset.mall}/series?period=2025&granularity=month",
            f"SELECT {month} AS month, {counters} FROM responses "
            f"WHERE {SUBTREE} AND local_date BETWEEN {{p}} AND {{p}} GROUP BY {month}",
            (city_path + "%", year.start, year.end),
            _series,
        ),
        Query(
            "(d) city ranking of 600 units 2025",
            f"/v1/indices/{dataset.mall}/ranking?period=2025",
            f"SELECT c.code, {counters} FROM responses r "
            "JOIN units u ON u.id = r.unit_id "
            "JOIN units c ON c.parent_id = {p} AND substr(u.path, 1, length(c.path)) = c.path "
            "WHERE r.local_date BETWEEN {p} AND {p} GROUP BY c.code",
            (city_id, year.start, year.end),
            _ranking,
        ),
        Query(
            f"(e) province year, 10 cities: {province} 2025",
            f"/v1/indices/{province}?period=2025",
            pooled,
            (units[province][1] + "%", year.start, year.end),
            _pooled,
        ),
    ]


def report_targets(small: Any, large: Any) -> None:
    print(f"\n== targets at {large.dataset.responses:,} (p50)")
    for before, after in zip(small.queries, large.queries, strict=True):
        p50 = after.p("api", 0.5)
        tag = after.label[:3]
        if tag == "(a)":
            growth = p50 / before.p("api", 0.5)
            verdict = "met" if growth <= TARGET_GROWTH else "MISSED"
            print(f"{after.label[:40]:<40} {p50:>8.2f} ms  {growth:.2f}× of 1 M  ≤ 1.3×  {verdict}")
        elif tag in TARGETS:
            verdict = "met" if p50 <= TARGETS[tag] else "MISSED"
            print(f"{after.label[:40]:<40} {p50:>8.2f} ms  ≤ {TARGETS[tag]:g} ms  {verdict}")
        else:
            print(f"{after.label[:40]:<40} {p50:>8.2f} ms  (no target)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.region", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--sizes",
        default="1000000,10000000",
        type=lambda text: [int(n) for n in text.split(",")],
        help="responses per data set, comma-separated, smallest first",
    )
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--reload", action="store_true", help="load even if cached")
    parser.add_argument("--load-only", action="store_true", help="load (or migrate), no reads")
    parser.add_argument("--warmup", type=int, default=5, help="rounds before measuring")
    parser.add_argument("--repeat", type=int, default=30, help="measured rounds")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--raw-jit", action="store_true", help="leave JIT on for raw SQL")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0 or args.workers < 1:
        parser.error("--repeat and --workers must be at least 1, --warmup at least 0")
    code = code_version()
    try:
        datasets = [loaded(n, args.seed, args.workers, args.reload) for n in args.sizes]
        if args.load_only:
            return 0
        print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        with tempfile.TemporaryDirectory(prefix="skm-bench-") as tmp:
            sides = measure(datasets, args, Path(tmp), region_queries)
        for side in sides:
            report_size(side, args, code)
        if len(sides) > 1:
            report_targets(sides[0], sides[-1])
        print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        healthy = all(q.check == "OK" for side in sides for q in side.queries)
    except BenchError as error:
        print(f"bench.region: {error}", file=sys.stderr)
        return 2
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
