"""A realistic SKM data set, bulk-loaded into a freshly migrated database (no HTTP).

Run on its own to load a database and leave it in place for inspection:

    .venv/bin/python -m bench.dataset [--db postgresql|sqlite] [--responses 100000]
        [--name skm_bench_data] [--path DIR] [--seed 14]

(`bench.indices` and `bench.export` call `fresh_and_loaded` themselves.) The database is
dropped and created first (PostgreSQL, through SKM_BENCH_POSTGRES_URL, default
postgresql://postgres@127.0.0.1:5432/postgres; SQLite: a file in `--path`, else in a
temporary directory), migrated, then filled:

* the hierarchy: a city government (Asia/Makassar) → 2 service malls → about 30 agencies
  each (three of them liaison offices on Asia/Jakarta or Asia/Jayapura) → 2–4 service units
  each (about 190 in all, 250 units overall), and 2–4 services per service unit;
* API keys: an administrator's (its token is returned for the benchmarks) and a collector
  key per service unit, recorded on the kiosk and paper responses it posted;
* N responses over the local days 2025-01-01..2026-12-31: uneven volumes per unit
  (log-normal, a few busy agencies, some quiet counters), fewer on Saturdays and hardly any
  on Sundays, growing over the two years; scores mostly 3–4 (biaya mostly 4, *Gratis*),
  some 1–2; channels kiosk/mobile/web/paper, blanks (NULL) only on paper; profile fields
  sometimes blank, suggestions rare; the standard survey version (id 1); uuid ids;
  collected_at in UTC within opening hours, local_date in the unit's own zone, received_at
  a little (paper: days; an offline kiosk: hours) later; none flagged. PostgreSQL: COPY;
  SQLite: executemany in chunks;
* `daily_aggregates` and `monthly_aggregates` from `responses` with INSERT … SELECT …
  GROUP BY (`yearly_aggregates` from the monthly one, as its migration backfills it), then
  checked with one query: the counters summed over each aggregate table equal the same
  counters computed over the raw rows (and the row count is N), and the yearly ones equal
  the monthly ones.

A fixed seed gives the same data set every time. PostgreSQL tables are then VACUUM ANALYZEd
(as autovacuum would have done on a live database).
"""

import argparse
import hashlib
import math
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, insert
from sqlalchemy.engine import make_url

from app.aggregates import AGGREGATE_COUNTERS, AGGREGATE_KEY, FLAGGED
from app.auth import new_token, token_hash
from app.db import sync_url
from app.method import ELEMENTS
from app.models import ApiKey, Service, Unit
from app.partitions import ensure_months, months
from app.stored_responses import RESPONSES
from bench.harness import BenchError, fresh_database, migrate

FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2026, 12, 31)
STANDARD_VERSION_ID = 1  # seeded by the initial migration
CREATED = datetime(2024, 12, 1, tzinfo=UTC)
OFFSETS = {"Asia/Jakarta": 7, "Asia/Makassar": 8, "Asia/Jayapura": 9}  # no daylight saving
CHUNK = 10_000  # rows per executemany on SQLite

# Everything a generated response row holds, in order.
COLUMNS = (
    "id",
    "unit_id",
    "service_id",
    "survey_version_id",
    "channel",
    "collected_at",
    "received_at",
    "local_date",
    *ELEMENTS,
    "gender",
    "age_band",
    "education",
    "occupation",
    "suggestion",
    "content_hash",
    "api_key_id",
    "device",
)
Row = tuple[Any, ...]


# --- SQL shared with the benchmarks --------------------------------------------------------


def counter_sql() -> str:
    """The aggregate counters (AGGREGATE_COUNTERS, in order) computed over response rows."""
    total = " + ".join(ELEMENTS)  # NULL unless all nine were answered
    parts = [
        "count(*)",
        f"count({total})",
        f"coalesce(sum({total}), 0)",
        f"coalesce(sum(({total}) * ({total})), 0)",
    ]
    for e in ELEMENTS:
        parts += [f"count({e})", f"coalesce(sum({e}), 0)", f"coalesce(sum({e} * {e}), 0)"]
    return ", ".join(parts)


def month_sql(backend: str, column: str = "local_date") -> str:
    """The first day of the month of a date column."""
    if backend == "postgresql":
        return f"CAST(date_trunc('month', {column}) AS date)"
    return f"date({column}, 'start of month')"


def _key_sql(backend: str) -> list[str]:
    """The aggregate key (AGGREGATE_KEY, in order) computed from a response row."""
    yes, no = ("true", "false") if backend == "postgresql" else ("1", "0")
    flagged = ", ".join(f"'{f}'" for f in FLAGGED)
    return [
        f"CASE WHEN flag IN ({flagged}) THEN {yes} ELSE {no} END" if k == "flagged" else k
        for k in AGGREGATE_KEY
    ]


def libpq_url(url: str) -> str:
    """An SQLAlchemy postgresql:// URL as libpq takes it (no +driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class RawDatabase:
    """A plain DB-API connection (psycopg in autocommit, or sqlite3) for SQL written by
    hand; `{p}` marks a parameter on either driver, and dates go the way each expects."""

    def __init__(self, url: str) -> None:
        self.backend = make_url(url).get_backend_name()
        self._postgres: psycopg.Connection[tuple[Any, ...]] | None = None
        self._sqlite: sqlite3.Connection | None = None
        if self.backend == "postgresql":
            self._postgres = psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5)
        else:
            self._sqlite = sqlite3.connect(make_url(url).database or "", isolation_level=None)

    def _prepare(self, text: str, params: Sequence[object]) -> tuple[str, list[object]]:
        if self._postgres is not None:
            return text.replace("{p}", "%s"), list(params)
        values = [v.isoformat() if isinstance(v, date) else v for v in params]
        return text.replace("{p}", "?"), values

    def execute(self, text: str, params: Sequence[object] = ()) -> None:
        query, values = self._prepare(text, params)
        if self._postgres is not None:
            self._postgres.execute(query, values)
        elif self._sqlite is not None:
            self._sqlite.execute(query, values)

    def query(self, text: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        query, values = self._prepare(text, params)
        if self._postgres is not None:
            return self._postgres.execute(query, values).fetchall()
        assert self._sqlite is not None
        return self._sqlite.execute(query, values).fetchall()

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.close()
        if self._sqlite is not None:
            self._sqlite.close()


# --- the hierarchy -------------------------------------------------------------------------

AGENCIES = (
    ("disdukcapil", "Dinas Kependudukan dan Pencatatan Sipil"),
    ("samsat", "UPTD Samsat"),
    ("dpmptsp", "Dinas Penanaman Modal dan PTSP"),
    ("imigrasi", "Kantor Imigrasi"),
    ("atr-bpn", "Kantor Pertanahan"),
    ("kpp-pratama", "Kantor Pelayanan Pajak Pratama"),
    ("polresta", "Polresta (SKCK)"),
    ("bpjs-kesehatan", "BPJS Kesehatan"),
    ("bpjs-tk", "BPJS Ketenagakerjaan"),
    ("pdam", "Perumda Air Minum"),
    ("pln", "PLN UP3"),
    ("kemenag", "Kantor Kementerian Agama"),
    ("pengadilan-agama", "Pengadilan Agama"),
    ("pengadilan-negeri", "Pengadilan Negeri"),
    ("kejaksaan", "Kejaksaan Negeri"),
    ("bapenda", "Badan Pendapatan Daerah"),
    ("dinkes", "Dinas Kesehatan"),
    ("dinsos", "Dinas Sosial"),
    ("disnaker", "Dinas Tenaga Kerja"),
    ("dishub", "Dinas Perhubungan"),
    ("dpupr", "Dinas Pekerjaan Umum dan Penataan Ruang"),
    ("dlh", "Dinas Lingkungan Hidup"),
    ("disdik", "Dinas Pendidikan"),
    ("diskop-ukm", "Dinas Koperasi dan UKM"),
    ("disperkim", "Dinas Perumahan dan Permukiman"),
    ("bpom", "Loka Pengawas Obat dan Makanan"),
    ("kantor-pos", "Kantor Pos"),
    ("bank-daerah", "Bank Pembangunan Daerah"),
    ("taspen", "PT Taspen"),
    ("karantina", "Balai Karantina"),
)
# (code, name, tenant agencies, liaison offices on another island's clock)
MALLS = (
    (
        "mpp-balikpapan",
        "Mal Pelayanan Publik Balikpapan",
        30,
        (("penghubung-jakarta", "Kantor Penghubung Jakarta", "Asia/Jakarta"),),
    ),
    (
        "mpp-balikpapan-utara",
        "Mal Pelayanan Publik Balikpapan Utara",
        28,
        (
            ("penghubung-jakarta", "Kantor Penghubung Jakarta", "Asia/Jakarta"),
            ("penghubung-papua", "Kantor Penghubung Papua", "Asia/Jayapura"),
        ),
    ),
)
COUNTERS = ("Loket Pendaftaran", "Loket Pengambilan", "Loket Informasi", "Loket Pembayaran")
SERVICES = ("Penerbitan baru", "Perpanjangan", "Perubahan data", "Legalisir")
BUSY_AGENCIES = {"disdukcapil": 4.0, "samsat": 3.0, "imigrasi": 2.0}


@dataclass
class UnitRow:
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    path: str
    time_zone: str
    inherited: bool
    weight: float = 0.0  # relative volume of responses (service units only)
    services: list[int] = field(default_factory=list)


@dataclass
class Hierarchy:
    units: list[UnitRow]
    services: list[tuple[int, int, str, str]]  # id, unit_id, code, name

    @property
    def leaves(self) -> list[UnitRow]:
        return [u for u in self.units if u.services]


def build_hierarchy(rng: random.Random) -> Hierarchy:
    units: list[UnitRow] = []
    services: list[tuple[int, int, str, str]] = []

    def add(code: str, name: str, kind: str, parent: UnitRow | None, zone: str | None) -> UnitRow:
        unit_id = len(units) + 1
        units.append(
            UnitRow(
                id=unit_id,
                code=code,
                name=name,
                kind=kind,
                parent_id=parent.id if parent else None,
                path=f"{parent.path if parent else '/'}{unit_id}/",
                time_zone=zone or (parent.time_zone if parent else "Asia/Makassar"),
                inherited=zone is None,
            )
        )
        return units[-1]

    city = add(
        "pemkot-balikpapan", "Pemerintah Kota Balikpapan", "government", None, "Asia/Makassar"
    )
    for mall_code, mall_name, tenants, liaisons in MALLS:
        mall = add(mall_code, mall_name, "service_mall", city, None)
        agencies = [(code, name, None) for code, name in AGENCIES[:tenants]]
        for code, name, zone in (*agencies, *liaisons):
            agency = add(f"{mall_code}-{code}", name, "agency", mall, zone)
            for number in range(rng.choice((2, 3, 3, 3, 4))):
                leaf = add(
                    f"{agency.code}-loket-{number + 1}",
                    f"{name} — {COUNTERS[number]}",
                    "service_unit",
                    agency,
                    None,
                )
                leaf.weight = math.exp(rng.gauss(0.0, 0.9)) * BUSY_AGENCIES.get(code, 1.0)
                if rng.random() < 0.1:
                    leaf.weight *= 0.05  # a quiet counter
                for service_number in range(rng.randint(2, 4)):
                    service_id = len(services) + 1
                    code_name = (f"layanan-{service_number + 1}", SERVICES[service_number])
                    services.append((service_id, leaf.id, *code_name))
                    leaf.services.append(service_id)
    return Hierarchy(units, services)


# --- responses -------------------------------------------------------------------------------

CHANNELS = ("kiosk", "mobile", "web", "paper")
CHANNEL_WEIGHTS = (0.55, 0.2, 0.15, 0.1)
ELEMENT_BIAS = {
    "persyaratan": 0.05,
    "prosedur": 0.0,
    "waktu": -0.3,
    "biaya": 0.6,  # most services are free: Gratis = 4
    "produk": 0.05,
    "kompetensi": 0.1,
    "perilaku": 0.15,
    "sarana": -0.05,
    "pengaduan": -0.35,
}
PROFILE_CHOICES: tuple[tuple[tuple[str | None, ...], tuple[float, ...]], ...] = (
    (("L", "P", None), (0.47, 0.45, 0.08)),
    (("<20", "20-29", "30-39", "40-49", "50-59", "60+", None), (4, 26, 25, 18, 12, 6, 9)),
    (("SD", "SMP", "SMA", "D1-D3", "D4-S1", "S2", "S3", None), (5, 9, 40, 12, 20, 3, 1, 10)),
    (("PNS", "TNI", "POLRI", "SWASTA", "WIRAUSAHA", "LAINNYA", None), (8, 2, 2, 30, 25, 23, 10)),
)
SUGGESTIONS = (
    "Antrean pagi terlalu panjang.",
    "Petugas ramah dan cepat, terima kasih.",
    "Mohon tambah kursi di ruang tunggu.",
    "Informasi persyaratan di website belum lengkap.",
    "Parkir sempit.",
    "AC ruang tunggu kurang dingin.",
)
POOL = 512  # answer vectors per unit; profiles and public devices overall


def _answer_pool(rng: random.Random) -> list[tuple[int, ...]]:
    """Complete answers at one unit: its own level, each respondent's mood, element biases."""
    level = rng.gauss(0.0, 0.25)
    pool = []
    for _ in range(POOL):
        mood = rng.gauss(level, 0.45)
        pool.append(
            tuple(
                min(4, max(1, round(3.15 + mood + ELEMENT_BIAS[e] + rng.gauss(0.0, 0.45))))
                for e in ELEMENTS
            )
        )
    return pool


def _day_counts(total: int) -> list[tuple[date, int]]:
    """`total` responses over the days: weekdays busy, Saturday less, Sunday hardly; growing
    by a quarter over the two years; largest remainders keep the sum exact."""
    days = [FIRST_DAY + timedelta(days=n) for n in range((LAST_DAY - FIRST_DAY).days + 1)]
    weekday = (1.0, 1.0, 1.0, 1.0, 0.9, 0.35, 0.06)
    weights = [weekday[d.weekday()] * (1 + 0.25 * n / len(days)) for n, d in enumerate(days)]
    scale = total / sum(weights)
    counts = [math.floor(w * scale) for w in weights]
    by_remainder = sorted(range(len(days)), key=lambda n: counts[n] - weights[n] * scale)
    for n in by_remainder[: total - sum(counts)]:
        counts[n] += 1
    return list(zip(days, counts, strict=True))


def generate(
    hierarchy: Hierarchy, keys: dict[int, int], total: int, rng: random.Random
) -> Iterator[Row]:
    """The response rows (COLUMNS order), day after day, each day in collected_at order.
    `keys`: each service unit's collector key (kiosk and paper); mobile and web come in
    public, from a client address."""
    leaves = hierarchy.leaves
    cumulative = list(accumulate(leaf.weight for leaf in leaves))
    answer_pools = [_answer_pool(rng) for _ in leaves]
    profiles = [
        tuple(rng.choices(values, weights)[0] for values, weights in PROFILE_CHOICES)
        for _ in range(POOL)
    ]
    addresses = [f"ip:{rng.getrandbits(96):024x}" for _ in range(POOL)]
    offsets = [timedelta(hours=OFFSETS[leaf.time_zone]) for leaf in leaves]
    for day, count in _day_counts(total):
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        rows: list[Row] = []
        picks = rng.choices(range(len(leaves)), cum_weights=cumulative, k=count)
        channels = rng.choices(CHANNELS, CHANNEL_WEIGHTS, k=count)
        for pick, channel in zip(picks, channels, strict=True):
            leaf = leaves[pick]
            key_id: int | None = keys[leaf.id]
            if channel in ("kiosk", "paper"):  # opening hours
                second = rng.randrange(8 * 3600, 15 * 3600 + 1800)
            else:
                second = rng.randrange(6 * 3600, 23 * 3600)
                key_id = None
            collected = midnight - offsets[pick] + timedelta(seconds=second + rng.random())
            answers: Sequence[int | None] = rng.choice(answer_pools[pick])
            if channel == "paper":  # transcribed as filled in, blanks included
                delay = timedelta(days=rng.randint(1, 10), seconds=rng.randrange(86400))
                blanked = [None if rng.random() < 0.06 else a for a in answers]
                answers = blanked if any(a is not None for a in blanked) else answers
            elif channel == "kiosk" and rng.random() < 0.03:  # an offline kiosk's backlog
                delay = timedelta(hours=rng.randint(1, 48))
            else:
                delay = timedelta(seconds=rng.uniform(0.05, 20.0))
            response_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            rows.append(
                (
                    response_id,
                    leaf.id,
                    rng.choice(leaf.services),
                    STANDARD_VERSION_ID,
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


# --- loading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """A loaded database, and what the benchmarks ask it about."""

    url: str
    backend: str
    responses: int
    units: int
    services: int
    token: str  # an administrator's API key
    mall: str  # the busier service mall
    busy_leaf: str  # the busiest service unit
    seconds: float  # to migrate, load, aggregate, check and analyze


def _insert_hierarchy(url: str, hierarchy: Hierarchy, token: str) -> dict[int, int]:
    """Units, services and keys (explicit ids); each service unit's collector key id."""
    keys = {leaf.id: number + 2 for number, leaf in enumerate(hierarchy.leaves)}
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            times = {"created_at": CREATED, "updated_at": CREATED}
            conn.execute(
                insert(Unit),
                [
                    {
                        "id": u.id,
                        "code": u.code,
                        "name": u.name,
                        "kind": u.kind,
                        "parent_id": u.parent_id,
                        "path": u.path,
                        "time_zone": u.time_zone,
                        "time_zone_inherited": u.inherited,
                        **times,
                    }
                    for u in hierarchy.units
                ],
            )
            conn.execute(
                insert(Service),
                [
                    {"id": service_id, "unit_id": unit_id, "code": code, "name": name, **times}
                    for service_id, unit_id, code, name in hierarchy.services
                ],
            )
            admin = {"id": 1, "name": "bench admin", "role": "admin", "scope_unit_id": None}
            collectors = [
                {"id": key_id, "name": f"kiosk {unit_id}", "role": "collector"}
                | {"scope_unit_id": unit_id}
                for unit_id, key_id in keys.items()
            ]
            conn.execute(
                insert(ApiKey),
                [
                    key
                    | {
                        "read_responses": key["role"] == "admin",
                        "token_hash": token_hash(token if key["id"] == 1 else new_token()),
                        "prefix": token[:10] if key["id"] == 1 else "skm_kiosk",
                        "created_at": CREATED,
                    }
                    for key in (admin, *collectors)
                ],
            )
            if conn.dialect.name == "postgresql":  # explicit ids: move the sequences on
                for table in ("units", "services", "api_keys"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
    finally:
        engine.dispose()
    return keys


def _copy_responses(url: str, rows: Iterator[Row]) -> None:
    """COPY in one transaction, the usual bulk-load way: the table's primary key, foreign
    keys and indexes are dropped first and made again afterwards from their definitions in
    the catalog (so the schema ends up exactly as migrated, every constraint validated).
    The table is truncated first. On the monthly partitions (migration 0010) COPY routes
    each row to its month."""
    columns = ", ".join((*COLUMNS, "extra_answers"))
    with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("TRUNCATE responses")
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'responses'::regclass AND contype IN ('p', 'f') "
            "ORDER BY contype DESC, conname"  # the primary key first
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'responses' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname"
        ).fetchall()
        for name, _ in reversed(constraints):
            conn.execute(f'ALTER TABLE responses DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        # No FREEZE: PostgreSQL refuses it on a partitioned table (VACUUM follows the load).
        with conn.cursor().copy(f"COPY responses ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row, "null"))  # the service stores JSON null, not SQL NULL
        for _, definition in indexes:
            conn.execute(definition)
        for name, definition in constraints:
            conn.execute(f'ALTER TABLE responses ADD CONSTRAINT "{name}" {definition}')


def _partitioned_and_registered(url: str, store: Callable[[], None]) -> None:
    """`store()` the rows, on PostgreSQL into the monthly partitions of the data set's
    days (created first: the migration makes only the months around today), then every
    id registered in `response_ids`, as the service's write path does (migration 0010)."""
    engine = create_engine(sync_url(url))
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                ensure_months(conn, months(FIRST_DAY, LAST_DAY))
        store()
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO response_ids (id, unit_id, local_date, content_hash) "
                "SELECT id, unit_id, local_date, content_hash FROM responses"
            )
    finally:
        engine.dispose()


def _insert_responses_sqlite(url: str, rows: Iterator[Row]) -> None:
    """Through SQLAlchemy Core, so that uuids and instants are stored as the service does."""
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            chunk: list[dict[str, Any]] = []
            for row in rows:
                chunk.append(dict(zip(COLUMNS, row, strict=True)) | {"extra_answers": None})
                if len(chunk) == CHUNK:
                    conn.execute(insert(RESPONSES), chunk)
                    chunk = []
            if chunk:
                conn.execute(insert(RESPONSES), chunk)
    finally:
        engine.dispose()


def _fill_aggregates(db: RawDatabase) -> None:
    key = _key_sql(db.backend)
    columns = ", ".join((*AGGREGATE_KEY, "{bucket}", *AGGREGATE_COUNTERS, "updated_at"))
    for table, bucket, expression in (
        ("daily_aggregates", "local_date", "local_date"),
        ("monthly_aggregates", "month", month_sql(db.backend)),
    ):
        grouped = ", ".join((*key, expression))
        db.execute(f"DELETE FROM {table}")
        db.execute(
            f"INSERT INTO {table} ({columns.replace('{bucket}', bucket)}) "
            f"SELECT {grouped}, {counter_sql()}, max(received_at) "
            f"FROM responses GROUP BY {grouped}"
        )


def fill_yearly_aggregates(db: RawDatabase) -> None:
    """`yearly_aggregates` from `monthly_aggregates`, as its migration backfills it."""
    key = ", ".join((*AGGREGATE_KEY, "slot"))
    year = (
        "CAST(date_trunc('year', month) AS date)"
        if db.backend == "postgresql"
        else "date(month, 'start of year')"
    )
    db.execute("DELETE FROM yearly_aggregates")
    db.execute(
        f"INSERT INTO yearly_aggregates ({key}, year, {', '.join(AGGREGATE_COUNTERS)}, "
        f"updated_at) SELECT {key}, {year}, {', '.join(f'sum({c})' for c in AGGREGATE_COUNTERS)}, "
        f"max(updated_at) FROM monthly_aggregates GROUP BY {key}, {year}"
    )


def check_yearly_aggregates(db: RawDatabase) -> None:
    """The yearly aggregates' counters, summed, equal the monthly ones'."""
    summed = ", ".join(f"sum({c})" for c in AGGREGATE_COUNTERS)
    monthly, yearly = (
        [int(v or 0) for v in db.query(f"SELECT {summed} FROM {table}")[0]]
        for table in ("monthly_aggregates", "yearly_aggregates")
    )
    if monthly != yearly:
        raise BenchError(f"yearly aggregates differ from the monthly ones: {yearly} {monthly}")


def check_aggregates(db: RawDatabase, expected: int) -> None:
    """One query: every counter over the raw rows, and summed over each aggregate table."""
    summed = ", ".join(f"sum({c})" for c in AGGREGATE_COUNTERS)
    rows = db.query(
        f"SELECT 'responses', {counter_sql()} FROM responses "
        f"UNION ALL SELECT 'daily_aggregates', {summed} FROM daily_aggregates "
        f"UNION ALL SELECT 'monthly_aggregates', {summed} FROM monthly_aggregates"
    )
    totals = {row[0]: [int(v or 0) for v in row[1:]] for row in rows}
    raw = totals["responses"]
    if raw[0] != expected or any(values != raw for values in totals.values()):
        raise BenchError(f"aggregates differ from the raw rows: {totals}")


def load(url: str, responses: int, seed: int = 14) -> Dataset:
    """Migrate the (empty) database at `url` and fill it; the data set is fixed by `seed`."""
    started = time.perf_counter()
    rng = random.Random(seed)
    hierarchy = build_hierarchy(rng)
    token = new_token()
    migrate(url)
    keys = _insert_hierarchy(url, hierarchy, token)
    backend = make_url(url).get_backend_name()
    rows = generate(hierarchy, keys, responses, rng)
    _partitioned_and_registered(
        url,
        lambda: (_copy_responses if backend == "postgresql" else _insert_responses_sqlite)(
            url, rows
        ),
    )
    db = RawDatabase(url)
    try:
        if backend == "postgresql":
            db.execute("SET work_mem = '256MB'")
        _fill_aggregates(db)
        fill_yearly_aggregates(db)
        check_aggregates(db, responses)
        check_yearly_aggregates(db)
        if backend == "postgresql":
            db.execute("VACUUM (ANALYZE)")
    finally:
        db.close()
    # The same units at every size: by their expected volume, not the sampled one.
    leaves = hierarchy.leaves
    malls = [u for u in hierarchy.units if u.kind == "service_mall"]
    return Dataset(
        url=url,
        backend=backend,
        responses=responses,
        units=len(hierarchy.units),
        services=len(hierarchy.services),
        token=token,
        mall=max(
            malls, key=lambda m: sum(u.weight for u in leaves if u.path.startswith(m.path))
        ).code,
        busy_leaf=max(leaves, key=lambda u: u.weight).code,
        seconds=time.perf_counter() - started,
    )


def fresh_and_loaded(
    backend: str, name: str, directory: Path, responses: int, seed: int = 14
) -> Dataset:
    """Drop and create the database `name`, then load it; prints what was loaded."""
    url = fresh_database(backend, name, directory)
    print(f"loading {responses:,} responses into {backend} database {name} …", flush=True)
    dataset = load(url, responses, seed)
    print(
        f"loaded {dataset.responses:,} responses ({dataset.units} units, "
        f"{dataset.services} services) in {dataset.seconds:.1f} s: rows, daily, monthly and yearly "
        "aggregates, check aggregates = raw rows OK"
        + (", VACUUM ANALYZE" if backend == "postgresql" else ""),
        flush=True,
    )
    return dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dataset", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--name", default="skm_bench_data", help="database (file) name")
    parser.add_argument("--path", type=Path, help="SQLite: the directory for the file")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="skm-bench-") as tmp:
            directory = args.path or Path(tmp)
            dataset = fresh_and_loaded(args.db, args.name, directory, args.responses, args.seed)
            print(f"{dataset.url}: busier mall {dataset.mall}, busiest unit {dataset.busy_leaf}")
    except BenchError as error:
        print(f"bench.dataset: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
