"""The baseline for `bench.ingest`: the floor the service is compared with.

A bare Starlette app on the raw database driver (psycopg 3 with psycopg_pool on PostgreSQL,
aiosqlite on SQLite) that stores each submitted response with the same statements as the
service, in one transaction per request: the ids registered in `response_ids` (ON CONFLICT
(id) DO NOTHING), the INSERT into `responses` (every column) of the rows whose ids were new
there — one statement on PostgreSQL, as the service's, two on SQLite — and, for the rows it
inserted, the upserts adding their counters to `daily_aggregates` and `monthly_aggregates`
(ON CONFLICT on the key DO UPDATE adding).
Nothing is validated: the body is only `json.loads`-ed, the unit's and service's ids and
time zone are looked up once and cached, and the key and flag columns are left NULL (no
authentication, no burst detection).

    SKM_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/db \\
        uvicorn bench.baseline_app:create_app --factory
"""

import asyncio
import hashlib
import json
import os
import sqlite3
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.method import ELEMENTS

PROFILE_FIELDS = ("gender", "age_band", "education", "occupation")
RESPONSE_COLUMNS = (
    "id",
    "unit_id",
    "service_id",
    "survey_version_id",
    "channel",
    "collected_at",
    "received_at",
    "local_date",
    *ELEMENTS,
    *PROFILE_FIELDS,
    "extra_answers",
    "suggestion",
    "content_hash",
    "api_key_id",
    "device",
    "flag",
    "flag_reason",
    "flag_reviewed_at",
    "flag_reviewed_by_id",
)
# PostgreSQL's type of each column: the VALUES of `registered_insert_sql` are cast to them.
RESPONSE_TYPES = {
    "id": "uuid",
    "collected_at": "timestamptz",
    "received_at": "timestamptz",
    "flag_reviewed_at": "timestamptz",
    "local_date": "date",
    **dict.fromkeys(ELEMENTS, "smallint"),
    "extra_answers": "json",
    "suggestion": "text",
    **dict.fromkeys(("unit_id", "service_id", "survey_version_id"), "integer"),
    **dict.fromkeys(("api_key_id", "flag_reviewed_by_id"), "integer"),
}
REGISTRY_COLUMNS = ("id", "unit_id", "local_date", "content_hash")
# Written as NULL: the baseline knows no keys and flags nothing.
UNSET_COLUMNS = RESPONSE_COLUMNS[-6:]
AGGREGATE_KEY = ("unit_id", "service_id", "survey_version_id", "flagged")
AGGREGATE_COUNTERS = (
    "responses",
    "complete",
    "complete_total",
    "complete_total_sq",
    *(f"{e}_{s}" for e in ELEMENTS for s in ("n", "sum", "sq")),
)


@dataclass(frozen=True)
class AggregateTable:
    """Counters per unit, service, survey version, flagged or not, and local time bucket
    (a day, a month)."""

    name: str
    bucket: str
    bucket_of: Callable[[date], date]

    @property
    def key(self) -> tuple[str, ...]:
        return (*AGGREGATE_KEY, self.bucket)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.key, *AGGREGATE_COUNTERS, "updated_at")


AGGREGATE_TABLES = (
    AggregateTable("daily_aggregates", "local_date", lambda day: day),
    AggregateTable("monthly_aggregates", "month", lambda day: day.replace(day=1)),
)

# Runs one statement in the current transaction; returns the rows it gave.
Execute = Callable[[str, Sequence[Any]], Awaitable[list[tuple[Any, ...]]]]


def _values(columns: Sequence[str], rows: int, placeholder: str) -> str:
    group = "(" + ", ".join([placeholder] * len(columns)) + ")"
    return ", ".join([group] * rows)


@cache
def register_sql(rows: int, placeholder: str) -> str:
    """The ids registered; those new to the registry returned."""
    return (
        f"INSERT INTO response_ids ({', '.join(REGISTRY_COLUMNS)}) "
        f"VALUES {_values(REGISTRY_COLUMNS, rows, placeholder)} "
        "ON CONFLICT (id) DO NOTHING RETURNING id"
    )


@cache
def insert_responses_sql(rows: int, placeholder: str) -> str:
    return (
        f"INSERT INTO responses ({', '.join(RESPONSE_COLUMNS)}) "
        f"VALUES {_values(RESPONSE_COLUMNS, rows, placeholder)} "
        "ON CONFLICT DO NOTHING RETURNING id"
    )


@cache
def registered_insert_sql(rows: int) -> str:
    """PostgreSQL: the registry and the rows of the ids new to it, in one statement (the
    parameters: the registry's columns of every row, then every row's columns)."""
    columns = ", ".join(RESPONSE_COLUMNS)
    typed = "(" + ", ".join(f"%s::{RESPONSE_TYPES.get(c, 'varchar')}" for c in RESPONSE_COLUMNS)
    return (
        f"WITH registered AS ({register_sql(rows, '%s')}) "
        f"INSERT INTO responses ({columns}) SELECT v.* FROM (VALUES "
        + ", ".join([typed + ")"] * rows)
        + f") AS v ({columns}) WHERE v.id IN (SELECT id FROM registered) RETURNING id"
    )


@cache
def upsert_aggregates_sql(table: AggregateTable, rows: int, placeholder: str) -> str:
    added = ", ".join(f"{c} = {table.name}.{c} + excluded.{c}" for c in AGGREGATE_COUNTERS)
    return (
        f"INSERT INTO {table.name} ({', '.join(table.columns)}) "
        f"VALUES {_values(table.columns, rows, placeholder)} "
        f"ON CONFLICT ({', '.join(table.key)}) "
        f"DO UPDATE SET {added}, updated_at = excluded.updated_at"
    )


def aggregate_rows(
    table: AggregateTable, rows: Iterable[dict[str, Any]], now: datetime
) -> list[tuple[Any, ...]]:
    """One counter row per key of `table`, in key order (as the service sums them)."""
    totals: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        flagged = row["flag"] in ("suspected", "confirmed")
        key = (*(row[k] for k in AGGREGATE_KEY[:-1]), flagged, table.bucket_of(row["local_date"]))
        counters = totals.setdefault(key, [0] * len(AGGREGATE_COUNTERS))
        scores = [row[e] for e in ELEMENTS]
        counters[0] += 1
        if None not in scores:
            total = sum(scores)
            counters[1] += 1
            counters[2] += total
            counters[3] += total * total
        for position, score in enumerate(scores):
            if score is not None:
                counters[4 + 3 * position] += 1
                counters[5 + 3 * position] += score
                counters[6 + 3 * position] += score * score
    return [(*key, *counters, now) for key, counters in sorted(totals.items())]


class Store(ABC):
    """Where responses go: one transaction per `save`."""

    placeholder = "%s"

    def __init__(self) -> None:
        self._targets: dict[tuple[str, str], tuple[int, int, ZoneInfo]] = {}

    @abstractmethod
    async def open(self) -> None:
        """Connect."""

    @abstractmethod
    async def close(self) -> None:
        """Disconnect."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Execute]:
        """A transaction, committed when the block ends without an exception."""

    async def _target(self, execute: Execute, unit: str, service: str) -> tuple[int, int, ZoneInfo]:
        """(unit id, service id, unit time zone), cached for the life of the process."""
        found = self._targets.get((unit, service))
        if found is None:
            p = self.placeholder
            [(unit_id, zone, service_id)] = await execute(
                "SELECT units.id, units.time_zone, services.id FROM units "
                "JOIN services ON services.unit_id = units.id "
                f"WHERE units.code = {p} AND services.code = {p}",
                (unit, service),
            )
            found = self._targets[(unit, service)] = (unit_id, service_id, ZoneInfo(zone))
        return found

    async def _row(self, execute: Execute, item: dict[str, Any], now: datetime) -> dict[str, Any]:
        unit_id, service_id, zone = await self._target(execute, item["unit"], item["service"])
        collected_at = datetime.fromisoformat(item["collected_at"])
        answers = item["answers"]
        profile = item.get("profile") or {}
        extra = item.get("extra_answers")
        canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return {
            "id": uuid.UUID(item["id"]),
            "unit_id": unit_id,
            "service_id": service_id,
            "survey_version_id": item["survey_version_id"],
            "channel": item["channel"],
            "collected_at": collected_at,
            "received_at": now,
            "local_date": collected_at.astimezone(zone).date(),
            **{e: answers.get(e) for e in ELEMENTS},
            **{f: profile.get(f) for f in PROFILE_FIELDS},
            "extra_answers": json.dumps(extra) if extra else None,
            "suggestion": item.get("suggestion") or None,
            "content_hash": hashlib.sha256(canonical.encode()).hexdigest(),
            **dict.fromkeys(UNSET_COLUMNS),
        }

    async def save(self, items: Sequence[dict[str, Any]]) -> int:
        """Store the responses not stored yet; how many were new."""
        now = datetime.now(UTC)
        p = self.placeholder
        async with self.transaction() as execute:
            rows = sorted([await self._row(execute, i, now) for i in items], key=lambda r: r["id"])
            new_ids = await self.insert(execute, rows)
            new_rows = [r for r in rows if r["id"] in new_ids]
            for table in AGGREGATE_TABLES if new_rows else ():
                aggregates = aggregate_rows(table, new_rows, now)
                await execute(
                    upsert_aggregates_sql(table, len(aggregates), p),
                    [value for row in aggregates for value in row],
                )
        return len(new_ids)

    async def insert(self, execute: Execute, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        """The ids registered, then the rows new to the registry inserted; their ids."""
        p = self.placeholder
        registered = await execute(
            register_sql(len(rows), p), [row[c] for row in rows for c in REGISTRY_COLUMNS]
        )
        new = {_as_uuid(i) for (i,) in registered}
        rows = [r for r in rows if r["id"] in new]
        if not rows:
            return set()
        inserted = await execute(
            insert_responses_sql(len(rows), p), [row[c] for row in rows for c in RESPONSE_COLUMNS]
        )
        return {_as_uuid(i) for (i,) in inserted}


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


class PostgresStore(Store):
    def __init__(self, url: str, pool_size: int) -> None:
        super().__init__()
        # Like the service's engine: pool_size connections, as many again in overflow.
        self._pool = AsyncConnectionPool(
            url, min_size=pool_size, max_size=2 * pool_size, open=False
        )

    async def open(self) -> None:
        await self._pool.open(wait=True)

    async def insert(self, execute: Execute, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
        inserted = await execute(
            registered_insert_sql(len(rows)),
            [row[c] for row in rows for c in REGISTRY_COLUMNS]
            + [row[c] for row in rows for c in RESPONSE_COLUMNS],
        )
        return {_as_uuid(i) for (i,) in inserted}

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Execute]:
        async with self._pool.connection() as conn, conn.transaction():

            async def execute(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
                cursor = await conn.execute(sql, params)
                return await cursor.fetchall() if cursor.description else []

            yield execute


# The service's durability (app.db.SQLITE_PRAGMAS), so that the comparison is fair; the
# benchmark refuses to run when they differ.
SQLITE_PRAGMAS = ("foreign_keys=ON", "journal_mode=WAL", "synchronous=FULL")


class SqliteStore(Store):
    """One connection, writers queued on a lock (SQLite has a single writer anyway); the
    same pragmas as the service: WAL, synchronous=FULL, foreign keys on."""

    placeholder = "?"

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path
        self._lock = asyncio.Lock()
        self._db: aiosqlite.Connection | None = None
        # Stored as SQLAlchemy stores them on SQLite: uuid hex, naive UTC, ISO dates.
        sqlite3.register_adapter(uuid.UUID, lambda u: u.hex)
        sqlite3.register_adapter(datetime, lambda d: str(d.astimezone(UTC).replace(tzinfo=None)))
        sqlite3.register_adapter(date, date.isoformat)

    async def open(self) -> None:
        self._db = await aiosqlite.connect(self._path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            await self._db.execute(f"PRAGMA {pragma}")

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Execute]:
        db = self._db
        assert db is not None, "the store is not open"

        async def execute(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
            async with db.execute(sql, params) as cursor:
                return [tuple(row) for row in await cursor.fetchall()]

        async with self._lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield execute
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")


def open_store(url: str) -> Store:
    if url.startswith("postgresql://"):
        return PostgresStore(url, int(os.environ.get("SKM_DB_POOL_SIZE", "10")))
    if url.startswith("sqlite:///"):
        return SqliteStore(url.removeprefix("sqlite:///"))
    raise ValueError(f"unsupported database URL: {url}")


def _json(payload: dict[str, Any], status_code: int = 200) -> Response:
    return Response(json.dumps(payload), status_code, media_type="application/json")


def create_app() -> Starlette:
    store = open_store(os.environ["SKM_DATABASE_URL"])

    async def health(_: Request) -> Response:
        return _json({"status": "ok"})

    async def submit(request: Request) -> Response:
        item = json.loads(await request.body())
        created = await store.save([item])
        return _json({"id": item["id"], "created": created}, 201 if created else 200)

    async def submit_batch(request: Request) -> Response:
        items = json.loads(await request.body())["items"]
        created = await store.save(items)
        return _json({"created": created, "duplicate": len(items) - created})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await store.open()
        try:
            yield
        finally:
            await store.close()

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/v1/responses", submit, methods=["POST"]),
            Route("/v1/responses/batch", submit_batch, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
