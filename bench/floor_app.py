"""The floor of the required work, for `bench.ingest --reference floor`: the baseline
(bench/baseline_app.py) plus the database work that the service must do for every response
and that the baseline leaves out, on the same raw drivers and with as little Python:

* the submitter's key read by its token's hash on every request (a revoked key is refused at
  once, so it is not cached), with the units and services the items name (not cached either:
  a unit can be deactivated) — refused with a bare 401, 403 or 422;
* burst detection: the key's device's stored responses with the same answers in the window
  around the items (`app.bursts`' comparison, `SKM_BURST_SECONDS` as the service's), read in
  the same statement on PostgreSQL, in a second one on SQLite; the new rows flagged;
* the response stored with its key (the foreign key to `api_keys` checked), its device and its
  answers' signature, and counted in the yearly aggregate as well as the daily and monthly ones.

Its shape: on PostgreSQL, a connection in autocommit; one response runs the service's own two
statements as the service runs them (`_service_statements`), a batch one read and one statement
that stores and counts (`_stored_and_counted_sql`) — two round trips where the baseline makes
five, so there the floor can be faster than the baseline. On SQLite, the baseline's shape (one
transaction, each statement a crossing to aiosqlite's thread) with the reads and the yearly
upsert added.

Still no framework, no validation beyond `json.loads` and the references, no problem answers,
metrics or logs. So service ÷ floor is what the service's own Python costs (FastAPI, Pydantic,
problem answers, metrics, request ids, rate limits) — on PostgreSQL's single submission
exactly, the statements being the same; elsewhere, with the difference of the statements'
shape (on SQLite the floor crosses to the driver's thread once per statement, the service
once per write) — and floor ÷ baseline what the database work the product requires costs,
in the floor's shape. The floor imports the service's burst and aggregate helpers, which
load SQLAlchemy: its resident memory is not the baseline's.

    SKM_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/db \\
        uvicorn bench.floor_app:create_app --factory
"""

import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

from psycopg import AsyncRawCursor
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.aggregates import AGGREGATE_SLOTS
from app.bursts import answers_signature, compared_months, flag_bursts, recent_from_json
from app.db import SQLITE_CHECKPOINT_PAGES, SQLITE_TEMP_STORE
from app.method import ELEMENTS
from bench.baseline_app import (
    AGGREGATE_COUNTERS,
    AGGREGATE_KEY,
    AGGREGATE_TABLES,
    PROFILE_FIELDS,
    REGISTRY_COLUMNS,
    RESPONSE_COLUMNS,
    RESPONSE_TYPES,
    AggregateTable,
    Execute,
    _json,
    _values,
    aggregate_rows,
    open_store,
    upsert_aggregates_sql,
)

FLOOR_COLUMNS = (*RESPONSE_COLUMNS, "answers_signature")
FLOOR_TYPES = {**RESPONSE_TYPES, "answers_signature": "integer"}
FLOOR_TABLES = (
    *AGGREGATE_TABLES,
    AggregateTable("yearly_aggregates", "year", lambda day: day.replace(month=1, day=1)),
)


class SlotZero(AggregateTable):
    """SQLite: an aggregate table keyed as the service keys it there, slot 0 included (its
    primary key: no index of the baseline's added)."""

    @property
    def key(self) -> tuple[str, ...]:
        return (*super().key, "slot")


SLOT_ZERO_TABLES = tuple(SlotZero(t.name, t.bucket, t.bucket_of) for t in FLOOR_TABLES)
DEVICE_PREFIX = "key:"  # as the service labels a key's device (app.auth.device_of)


class Refused(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


# PostgreSQL, a batch: the key by its token's hash, the units and services named, and the
# recent alike of the key's device, one index search per signature (a LATERAL fenced by
# OFFSET 0: flattened, the generic plan hash-joined every response of the device's window):
# one row per unit and service found, at least one while the key exists.
_READ_POSTGRESQL = (
    "SELECT k.id, k.revoked_at, k.expires_at, scope.path, u.code, u.id, u.time_zone, u.path,"
    " s.code, s.id, recent.rows"
    " FROM api_keys AS k LEFT JOIN units AS scope ON scope.id = k.scope_unit_id"
    " LEFT JOIN LATERAL ("
    "  SELECT json_agg(json_build_array(a.unit_id, a.service_id, a.collected_at,"
    "   a.answers_signature)) AS rows"
    "  FROM unnest(%s::integer[]) AS wanted(signature) CROSS JOIN LATERAL ("
    "   SELECT r.unit_id, r.service_id, r.collected_at, r.answers_signature FROM responses AS r"
    "   WHERE r.device = 'key:' || k.id AND r.answers_signature = wanted.signature"
    "   AND r.collected_at BETWEEN %s AND %s AND r.local_date BETWEEN %s AND %s OFFSET 0"
    "  ) AS a"
    " ) AS recent ON true"
    " LEFT JOIN units AS u ON u.code = ANY(%s)"
    " LEFT JOIN services AS s ON s.unit_id = u.id AND s.code = ANY(%s)"
    " WHERE k.token_hash = %s"
)


@cache
def _service_statements(months: tuple[date, date]) -> tuple[Any, Any]:
    """PostgreSQL, one response: the service's own two statements as the service runs them
    (`app.statements`: compiled once, $n placeholders, on psycopg's raw cursors) — its read
    of the key, the references and the recent alike (`app.ingest._key_and_references`) and
    its insert counting the response in the three aggregates
    (`app.ingest._insert_one_counted`). The floor of a single submission is the very
    database work the service does, without its framework and validation."""
    from app.ingest import _insert_one_counted, _key_and_references
    from app.statements import _compiled

    read = _key_and_references(True, True, months)  # as the service calls it (one cache entry)
    return _compiled(read), _compiled(_insert_one_counted())


# The columns of the service's read (`_service_statements`) that `Floor._rows` takes, in its
# order: the key's id, revoked_at, expires_at and scope path, the unit's code, id, time zone
# and path, the service's code and id; and the column of the recent alike.
_SERVICE_READ_COLUMNS = (0, 6, 5, 9, 13, 12, 15, 14, 18, 17)
_SERVICE_READ_RECENT = 11


def _marks(count: int) -> str:
    return ", ".join("?" * count)


@cache
def _read_sqlite(units: int, services: int) -> str:
    return (
        "SELECT k.id, k.revoked_at, k.expires_at, scope.path, u.code, u.id, u.time_zone,"
        " u.path, s.code, s.id"
        " FROM api_keys AS k LEFT JOIN units AS scope ON scope.id = k.scope_unit_id"
        f" LEFT JOIN units AS u ON u.code IN ({_marks(units)})"
        f" LEFT JOIN services AS s ON s.unit_id = u.id AND s.code IN ({_marks(services)})"
        " WHERE k.token_hash = ?"
    )


@cache
def _recent_sqlite(signatures: int) -> str:
    return (
        "SELECT unit_id, service_id, collected_at, answers_signature FROM responses"
        f" WHERE device = ? AND answers_signature IN ({_marks(signatures)})"
        " AND collected_at BETWEEN ? AND ?"
    )


@cache
def _registered_insert_sql(rows: int) -> str:
    """PostgreSQL: as the baseline's `registered_insert_sql`, with the floor's columns."""
    columns = ", ".join(FLOOR_COLUMNS)
    typed = "(" + ", ".join(f"%s::{FLOOR_TYPES.get(c, 'varchar')}" for c in FLOOR_COLUMNS) + ")"
    registry = (
        f"INSERT INTO response_ids ({', '.join(REGISTRY_COLUMNS)}) "
        f"VALUES {_values(REGISTRY_COLUMNS, rows, '%s')} ON CONFLICT (id) DO NOTHING RETURNING id"
    )
    return (
        f"WITH registered AS ({registry}) INSERT INTO responses ({columns}) "
        f"SELECT v.* FROM (VALUES {', '.join([typed] * rows)}) AS v ({columns}) "
        "WHERE v.id IN (SELECT id FROM registered) RETURNING id"
    )


def _counters(summed: bool) -> str:
    """The aggregate counters of the inserted responses, or the sums of the counted ones
    (`summed`)."""
    if summed:
        return ", ".join(f"sum({c})" for c in AGGREGATE_COUNTERS)
    total = " + ".join(ELEMENTS)
    parts = [
        "count(*)",
        f"count({total})",
        f"sum({total})",
        f"sum(({total}) * ({total}))",
    ]
    for e in ELEMENTS:
        parts += [f"count({e})", f"sum({e})", f"sum({e} * {e})"]
    named = zip(parts, AGGREGATE_COUNTERS, strict=True)
    return ", ".join(f"{part} AS {name}" for part, name in named)


# The service's slot of a response (app.aggregates.slot_of: its id's value modulo 8, the
# last hex digit's), so that one unit's kiosks spread over its rows as the service's do (%%:
# psycopg's escaped %).
_SLOT = "('x' || right(id::text, 1))::bit(4)::integer %% 8"


@cache
def _stored_and_counted_sql(rows: int) -> str:
    """PostgreSQL: `_registered_insert_sql` and the new rows counted in the daily, monthly and
    yearly aggregates, one statement (data-modifying WITH; each table's part reads the one
    before it, so concurrent requests lock the rows in one order); gives the new ids. Its
    parameters: `_registered_insert_sql`'s, then the time of the request three times."""
    key = ", ".join(AGGREGATE_KEY[:-1])
    counters = ", ".join(AGGREGATE_COUNTERS)
    registered, inserted = _registered_insert_sql(rows).removeprefix("WITH ").split(" INSERT", 1)
    parts = [
        registered,
        f"inserted AS (INSERT{inserted}, {key}, flag, local_date, {', '.join(ELEMENTS)})",
        f"counted AS (SELECT {key}, coalesce(flag IN ('suspected', 'confirmed'), false) AS"
        f" flagged, local_date AS bucket, {_SLOT} AS slot, {_counters(False)} FROM inserted"
        f" GROUP BY {key}, flagged, local_date, slot)",
    ]
    before = "counted"
    for table, bucket in (
        ("daily_aggregates", "bucket"),
        ("monthly_aggregates", "date_trunc('month', bucket)::date"),
        ("yearly_aggregates", "date_trunc('year', bucket)::date"),
    ):
        name = table.split("_")[0]
        bucket_column = {"daily": "local_date", "monthly": "month", "yearly": "year"}[name]
        added = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in AGGREGATE_COUNTERS)
        parts.append(
            f"{name} AS (INSERT INTO {table} ({key}, flagged, {bucket_column}, slot, {counters},"
            f" updated_at) SELECT {key}, flagged, {bucket}, slot, {_counters(True)},"
            f" %s FROM counted WHERE (SELECT count(*) FROM {before}) >= 0"
            f" GROUP BY {key}, flagged, {bucket}, slot ORDER BY {key}, flagged, {bucket}, slot"
            f" ON CONFLICT ({key}, flagged, {bucket_column}, slot)"
            f" DO UPDATE SET {added}, updated_at = excluded.updated_at RETURNING 1)"
        )
        before = name
    return f"WITH {', '.join(parts)} SELECT id FROM inserted"


@cache
def _insert_sqlite(table: str, columns: tuple[str, ...], rows: int) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {_values(columns, rows, '?')} "
        "ON CONFLICT DO NOTHING RETURNING id"
    )


def _signature(answers: dict[str, int | None]) -> int:
    return answers_signature({e: answers.get(e) for e in ELEMENTS})


def _moment(value: str | datetime) -> datetime:
    """A stored time as an aware datetime (SQLite stores naive UTC, as text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Floor:
    """PostgreSQL: a pool of connections in autocommit and two statements per request, as
    the service; SQLite: the baseline's store (one connection, writers queued, every
    statement a crossing to aiosqlite's thread) and the baseline's shape plus the reads."""

    def __init__(self, url: str, burst: timedelta) -> None:
        self.burst = burst
        self.postgresql = url.startswith("postgresql://")
        self.store = open_store(url)
        if self.postgresql:
            size = int(os.environ.get("SKM_DB_POOL_SIZE", "10"))
            self.pool = AsyncConnectionPool(
                url, min_size=size, max_size=size, open=False, kwargs={"autocommit": True}
            )
            # A raw cursor per connection and statement, kept as the service keeps them.
            self.cursors: WeakKeyDictionary[Any, dict[str, AsyncRawCursor[Any]]]
            self.cursors = WeakKeyDictionary()

    async def open(self) -> None:
        if self.postgresql:
            await self.pool.open(wait=True)
            return
        await self.store.open()
        # The service's other SQLite settings (app.db), beside the durability the baseline
        # shares: the WAL folded back every SQLITE_CHECKPOINT_PAGES, temporary storage in
        # memory.
        db = self.store._db  # type: ignore[attr-defined]
        await db.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        await db.execute(f"PRAGMA temp_store={SQLITE_TEMP_STORE}")

    async def close(self) -> None:
        await (self.pool.close() if self.postgresql else self.store.close())

    async def _read(
        self, execute: Execute, token: str, items: Sequence[dict[str, Any]]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The rows of the key and the references, and the recent alike of its device."""
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        units = sorted({i["unit"] for i in items})
        services = sorted({i["service"] for i in items})
        signatures = sorted({_signature(i["answers"]) for i in items})
        moments = [datetime.fromisoformat(i["collected_at"]) for i in items]
        first, last = min(moments) - self.burst, max(moments) + self.burst
        if self.postgresql:
            days = (first.date() - timedelta(days=1), last.date() + timedelta(days=1))
            rows = await execute(
                _READ_POSTGRESQL, (signatures, first, last, *days, units, services, token_hash)
            )
            found = rows[0][10] if rows else None
            recent = recent_from_json(found)
            return rows, recent
        rows = await execute(
            _read_sqlite(len(units), len(services)), (*units, *services, token_hash)
        )
        if not rows:
            return rows, []
        recent = await execute(
            _recent_sqlite(len(signatures)),
            (f"{DEVICE_PREFIX}{rows[0][0]}", *signatures, first, last),
        )
        return rows, [(u, s, _moment(at), sig) for u, s, at, sig in recent]

    def _rows(
        self,
        found: list[tuple[Any, ...]],
        items: Sequence[dict[str, Any]],
        now: datetime,
    ) -> list[dict[str, Any]]:
        """The rows to store; refused when the key is unknown, revoked or expired (401), a
        unit or service is not found (422) or a unit is outside the key's scope (403)."""
        if not found or found[0][0] is None:
            raise Refused(401)
        key_id, revoked_at, expires_at, scope = found[0][:4]
        if revoked_at is not None or (expires_at is not None and _moment(expires_at) < now):
            raise Refused(401)
        targets = {
            (unit, service): (unit_id, service_id, zone, path)
            for *_, unit, unit_id, zone, path, service, service_id in (r[:10] for r in found)
            if service_id is not None
        }
        rows = []
        for item in items:
            target = targets.get((item["unit"], item["service"]))
            if target is None:
                raise Refused(422)
            unit_id, service_id, zone, path = target
            if scope is not None and not path.startswith(scope):
                raise Refused(403)
            collected_at = datetime.fromisoformat(item["collected_at"])
            answers = item["answers"]
            profile = item.get("profile") or {}
            extra = item.get("extra_answers")
            canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            rows.append(
                {
                    "id": item["id"],
                    "unit_id": unit_id,
                    "service_id": service_id,
                    "survey_version_id": item["survey_version_id"],
                    "channel": item["channel"],
                    "collected_at": collected_at,
                    "received_at": now,
                    "local_date": collected_at.astimezone(ZoneInfo(zone)).date(),
                    **{e: answers.get(e) for e in ELEMENTS},
                    **{f: profile.get(f) for f in PROFILE_FIELDS},
                    "extra_answers": json.dumps(extra) if extra else None,
                    "suggestion": item.get("suggestion") or None,
                    "content_hash": hashlib.sha256(canonical.encode()).hexdigest(),
                    "api_key_id": key_id,
                    "device": f"{DEVICE_PREFIX}{key_id}",
                    "flag": None,
                    "flag_reason": None,
                    "flag_reviewed_at": None,
                    "flag_reviewed_by_id": None,
                    "answers_signature": _signature(answers),
                }
            )
        return sorted(rows, key=lambda r: r["id"])

    async def save(self, token: str, items: Sequence[dict[str, Any]]) -> int:
        """Store the responses not stored yet; how many were new."""
        now = datetime.now(UTC)
        if self.postgresql:
            async with self.pool.connection() as conn:

                async def run(
                    sql: str, params: Sequence[Any] | dict[str, Any]
                ) -> list[tuple[Any, ...]]:
                    cursor = await conn.execute(sql, params)
                    return await cursor.fetchall()

                if len(items) == 1:
                    cursors = self.cursors.setdefault(conn, {})

                    async def run_compiled(
                        compiled: Any, params: dict[str, Any]
                    ) -> list[tuple[Any, ...]]:
                        cursor = cursors.get(compiled.sql)
                        if cursor is None:
                            cursor = cursors[compiled.sql] = AsyncRawCursor(conn)
                        await cursor.execute(compiled.sql, compiled.values(params))
                        return await cursor.fetchall()

                    return await self._save_one(run_compiled, token, items, now)

                found, recent = await self._read(run, token, items)
                rows = self._rows(found, items, now)
                flag_bursts(rows, recent, self.burst)
                inserted = await run(
                    _stored_and_counted_sql(len(rows)),
                    [row[c] for row in rows for c in REGISTRY_COLUMNS]
                    + [row[c] for row in rows for c in FLOOR_COLUMNS]
                    + [now] * 3,
                )
                return len(inserted)
        p = self.store.placeholder
        async with self.store.transaction() as execute:
            found, recent = await self._read(execute, token, items)
            rows = self._rows(found, items, now)
            flag_bursts(rows, recent, self.burst)
            new_ids = await self._insert(execute, rows)
            new_rows = [r for r in rows if r["id"] in new_ids]
            for table in SLOT_ZERO_TABLES if new_rows else ():
                # The baseline's counter rows with slot 0 after the key.
                key = len(table.key) - 1
                aggregates = [
                    (*row[:key], 0, *row[key:]) for row in aggregate_rows(table, new_rows, now)
                ]
                await execute(
                    upsert_aggregates_sql(table, len(aggregates), p),
                    [value for row in aggregates for value in row],
                )
        return len(new_ids)

    async def _save_one(
        self,
        run: Callable[[Any, dict[str, Any]], Awaitable[list[tuple[Any, ...]]]],
        token: str,
        items: Sequence[dict[str, Any]],
        now: datetime,
    ) -> int:
        """PostgreSQL, one response: the service's two statements (`_service_statements`)."""
        [item] = items
        collected_at = datetime.fromisoformat(item["collected_at"])
        first, last = collected_at - self.burst, collected_at + self.burst
        read, insert = _service_statements(compared_months((first, last)))
        found = await run(
            read,
            {
                "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                "signature": _signature(item["answers"]),
                "first": first,
                "last": last,
                "unit_code": item["unit"],
                "service_code": item["service"],
            },
        )
        carried = found[0][_SERVICE_READ_RECENT] if found else None
        recent = recent_from_json(carried)
        rows = self._rows([tuple(r[i] for i in _SERVICE_READ_COLUMNS) for r in found], items, now)
        flag_bursts(rows, recent, self.burst)
        [row] = rows
        [counted] = aggregate_rows(AGGREGATE_TABLES[1], rows, now)  # the month's
        month = counted[len(AGGREGATE_KEY)]
        counters = dict(zip(AGGREGATE_COUNTERS, counted[len(AGGREGATE_KEY) + 1 : -1], strict=True))
        params = row | counters
        params |= {
            "flagged": counted[len(AGGREGATE_KEY) - 1],
            "month": month,
            "year": month.replace(month=1),
            "slot": uuid.UUID(row["id"]).int % AGGREGATE_SLOTS,
            "updated_at": now,
        }
        return len(await run(insert, params))

    async def _insert(self, execute: Execute, rows: list[dict[str, Any]]) -> set[str]:
        """SQLite: the baseline's two inserts, with the floor's columns; the new ids."""
        for row in rows:  # stored as SQLAlchemy stores a Uuid on SQLite
            row["id"] = row["id"].replace("-", "")
        registered = await execute(
            _insert_sqlite("response_ids", REGISTRY_COLUMNS, len(rows)),
            [row[c] for row in rows for c in REGISTRY_COLUMNS],
        )
        new = {i for (i,) in registered}
        rows = [r for r in rows if r["id"] in new]
        if not rows:
            return set()
        inserted = await execute(
            _insert_sqlite("responses", FLOOR_COLUMNS, len(rows)),
            [row[c] for row in rows for c in FLOOR_COLUMNS],
        )
        return {i for (i,) in inserted}


def create_app() -> Starlette:
    burst = timedelta(seconds=int(os.environ.get("SKM_BURST_SECONDS", "30")))
    floor = Floor(os.environ["SKM_DATABASE_URL"], burst)

    async def save(request: Request, items: list[dict[str, Any]]) -> int | Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            return await floor.save(token, items)
        except Refused as refused:
            return _json({"status": refused.status}, refused.status)

    async def health(_: Request) -> Response:
        return _json({"status": "ok"})

    async def submit(request: Request) -> Response:
        item = json.loads(await request.body())
        created = await save(request, [item])
        if isinstance(created, Response):
            return created
        return _json({"id": item["id"], "created": created}, 201 if created else 200)

    async def submit_batch(request: Request) -> Response:
        items = json.loads(await request.body())["items"]
        created = await save(request, items)
        if isinstance(created, Response):
            return created
        return _json({"created": created, "duplicate": len(items) - created})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await floor.open()
        try:
            yield
        finally:
            await floor.close()

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/v1/responses", submit, methods=["POST"]),
            Route("/v1/responses/batch", submit_batch, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
