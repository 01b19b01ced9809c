"""Running the hot statements: authentication and response submission.

These are SQLAlchemy Core statements built once, with named bind parameters, each compiled
once to SQL text and run on the driver's connection underneath the SQLAlchemy connection —
the same connection, and its transaction — which skips SQLAlchemy's per-execute work
(cache keys, execution context, result objects).

On PostgreSQL they run on psycopg's raw cursors: that was about half of a single
submission's CPU time. psycopg prepares a statement on the server once it has run a few
times on a connection. Bind values must already be what the database stores (aware
datetimes, UUIDs, dicts for JSON columns): no SQLAlchemy type runs on them, so keep
TypeDecorators with bind-side logic out of these statements' parameters, except
UTCDateTime, whose PostgreSQL side is the identity.

On SQLite, aiosqlite runs the sqlite3 connection in a thread of its own, and SQLAlchemy's
adapter crosses to it four times per statement (cursor, execute, fetch, close): each
crossing wakes that thread and then the event loop, which cost more CPU than SQLite's own
work (about 27 crossings per single submission). Here a statement is one crossing, and
`on_sqlite_thread` runs several statements in one; SQLAlchemy's bind and result processors
of the statement's types run on the values, so rows and stored values are the same as
through SQLAlchemy. A list bound by `one_of` is one JSON text (`json_each`), so a
statement has one text whatever the list's length (sqlite3 caches it prepared).

Rows come back as named tuples on both databases.
"""

import asyncio
import json
import keyword
import logging
import random
import sqlite3
from collections import namedtuple
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar, cast

from psycopg import AsyncConnection as PsycopgConnection
from psycopg import AsyncRawCursor, OperationalError
from psycopg.rows import RowMaker, namedtuple_row, no_result
from psycopg.types.json import Json
from sqlalchemy import ARRAY, JSON, String, any_, bindparam, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.dialects.sqlite import aiosqlite as sqlite_aiosqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeDecorator, TypeEngine

from app.db import BEGIN_PENDING, BEGIN_WITH_WORK

Params = Mapping[str, Any]
T = TypeVar("T")
logger = logging.getLogger(__name__)

# Compiled with PostgreSQL's own $1, $2 … placeholders and run on psycopg's raw cursors:
# psycopg then has no query to convert (it caches that conversion only for short queries,
# and re-parsed the long single-response statement on every execute).
_POSTGRESQL = postgresql_psycopg.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


# The execution option of a statement whose raw cursor is kept on each connection between
# its executions (`kept_cursor`).
KEEP_CURSOR = "skm_keep_cursor"


def kept_cursor(statement: T) -> T:
    """`statement`, run on a raw cursor kept on each PostgreSQL connection for it, from one
    execution to the next: psycopg then keeps its adapters for the parameters (a new
    cursor looks up each parameter's dumper again), and the cursor itself is not made
    anew. For the submission's statements, run on every request; the last rows each
    returned stay held by its cursor until the next execution (few, for these)."""
    return cast(Any, statement).execution_options(**{KEEP_CURSOR: True})  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameter of each placeholder, in order
    json_positions: frozenset[int]  # placeholders of JSON columns: wrapped for psycopg
    literals: Mapping[str, Any]  # values written into the statement, such as 'paper'
    keep_cursor: bool = False  # see `kept_cursor`

    def values(self, params: Params) -> list[Any]:
        values = [params[name] if name in params else self.literals[name] for name in self.names]
        for position in self.json_positions:
            if values[position] is not None:
                values[position] = Json(values[position])
        return values


@cache
def _compiled(statement: Executable) -> _Compiled:
    compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=_POSTGRESQL))
    names = tuple(compiled.positiontup or ())
    json_names = {
        compiled.bind_names[bind] for bind in compiled.binds.values() if isinstance(bind.type, JSON)
    }
    positions = frozenset(i for i, name in enumerate(names) if name in json_names)
    literals = {
        compiled.bind_names[bind]: bind.value
        for bind in compiled.binds.values()
        if not bind.required and bind.value is not None
    }
    keep = bool(cast(Any, statement).get_execution_options().get(KEEP_CURSOR, False))
    return _Compiled(str(compiled), names, positions, literals, keep)


class JsonList(TypeDecorator[list[Any]]):
    """A list bound as one JSON text, each value as its type `item` binds it (a UUID as
    SQLite stores it): what SQLite's `json_each` reads."""

    impl = String
    cache_ok = True

    def __init__(self, item: TypeEngine[Any]) -> None:
        super().__init__()
        self.item = item

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        process = self.item._cached_bind_processor(dialect)
        return json.dumps([process(v) for v in value] if process else list(value))


class JsonRows(TypeDecorator[list[tuple[Any, ...]]]):
    """A list of rows bound as one JSON text of arrays, each value as the type of its
    position binds it: what SQLite's `json_each` reads a row at a time (one text parsed
    once, where a list per position joined on their positions was parsed again for every
    row)."""

    impl = String
    cache_ok = True

    def __init__(self, *items: TypeEngine[Any]) -> None:
        super().__init__()
        self.items = items

    def process_bind_param(
        self, value: list[tuple[Any, ...]] | None, dialect: Dialect
    ) -> str | None:
        if value is None:
            return None
        processes = [item._cached_bind_processor(dialect) for item in self.items]
        return json.dumps(
            [
                [v if p is None else p(v) for p, v in zip(processes, row, strict=True)]
                for row in value
            ]
        )


def one_of(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], name: str, dialect: str
) -> ColumnElement[bool]:
    """`column` equal to one of the list bound as `name`: `= ANY(array)` on PostgreSQL, IN
    the values of a JSON array on SQLite (`json_each`; searched in the column's index
    value by value). Either way one statement text whatever the list's length."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    values = func.json_each(bindparam(name, type_=JsonList(column.type))).table_valued("value")
    return column.in_(select(values.c.value))


def dialect_insert(dialect: str) -> Any:
    """The dialect's INSERT construct: the one that has ON CONFLICT."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _driver(conn: AsyncConnection) -> PsycopgConnection[Any] | None:
    """The psycopg connection of a live SQLAlchemy connection, reached without I/O
    (get_raw_connection() would cost a greenlet switch on every statement)."""
    sync = conn.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        return None
    driver: PsycopgConnection[Any] = sync.connection.driver_connection  # type: ignore[assignment]
    return driver


async def _psycopg(conn: AsyncConnection) -> PsycopgConnection[Any]:
    """The driver's connection. Unless it is in autocommit, SQLAlchemy's transaction is
    begun on it (psycopg sends the BEGIN with the first statement), so that SQLAlchemy
    commits or rolls back our work."""
    driver = _driver(conn)
    if driver is None:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
    assert driver is not None
    if not driver.autocommit and not conn.in_transaction():
        await conn.begin()
    return driver


@asynccontextmanager
async def _raw_cursor(
    conn: AsyncConnection, compiled: _Compiled
) -> AsyncIterator[AsyncRawCursor[Any]]:
    """A new raw cursor on the driver's connection (the statements that keep theirs run in
    `fetch_all`). A connection lost meanwhile (a server restart, a deadline's cut) is
    reported to SQLAlchemy, as its own execute would: the connection is invalidated rather
    than reset and put back in the pool."""
    driver = await _psycopg(conn)
    try:
        async with AsyncRawCursor(driver, row_factory=namedtuple_row) as cursor:
            yield cursor
    except OperationalError as error:
        await _invalidate_if_lost(conn, driver, error)
        raise


async def _invalidate_if_lost(
    conn: AsyncConnection, driver: PsycopgConnection[Any], error: OperationalError
) -> None:
    if driver.closed:
        await conn.invalidate(error)


_CURSORS = "skm_cursors"  # pooled connection info: (its psycopg connection, cursor by SQL)
_MOST_KEPT = 16  # cursors kept per connection


def _connection_cursor(
    conn: AsyncConnection, driver: PsycopgConnection[Any], sql: str
) -> AsyncRawCursor[Any]:
    """The cursor kept for `sql` on this pooled connection (made the first time). The
    pool clears a connection's info when it replaces the connection; the driver is
    compared all the same."""
    sync = conn.sync_connection
    assert sync is not None
    info = sync.connection.info
    kept: tuple[PsycopgConnection[Any], dict[str, AsyncRawCursor[Any]]] | None
    kept = info.get(_CURSORS)
    if kept is None or kept[0] is not driver:
        kept = info[_CURSORS] = (driver, {})
    cursors: dict[str, AsyncRawCursor[Any]] = kept[1]
    cursor = cursors.pop(sql, None)  # put back last: the least recently used goes first
    if cursor is None or cursor.closed:
        if len(cursors) >= _MOST_KEPT:
            del cursors[next(iter(cursors))]
        cursor = AsyncRawCursor(driver, row_factory=_KeptRows())
    cursors[sql] = cursor
    return cursor


class _KeptRows:
    """A kept cursor's row factory: psycopg's `namedtuple_row`, whose row class is looked
    up once rather than on every execution (the column names read from each result and
    hashed: about 10 µs of the submission's read, 28 columns). A kept cursor runs one
    statement, whose columns are named in it and never change."""

    def __init__(self) -> None:
        self._make: RowMaker[Any] | None = None

    def __call__(self, cursor: Any) -> RowMaker[Any]:
        if self._make is not None:
            return self._make
        made = namedtuple_row(cursor)
        if made is not no_result:  # a result with columns: the statement's, kept
            self._make = made
        return made


# --- SQLite: statements on sqlite3's own thread ----------------------------------------------

_SQLITE = sqlite_aiosqlite.dialect(paramstyle="qmark")


@dataclass(frozen=True)
class _SqliteCompiled:
    sql: str
    names: tuple[str, ...]  # the parameter of each placeholder, in order
    binds: tuple[Callable[[Any], Any] | None, ...]  # each placeholder's bind processor
    literals: Mapping[str, Any]  # values written into the statement, such as 'paper'
    row: Callable[[Iterable[Any]], Any]  # the named tuple of a row
    results: tuple[Callable[[Any], Any] | None, ...] | None  # each column's, if any has one
    values_group: str | None = None  # an INSERT's "(?, ?, …)": repeated for several rows

    def values(self, params: Params) -> list[Any]:
        values = []
        for name, process in zip(self.names, self.binds, strict=True):
            value = params[name] if name in params else self.literals[name]
            values.append(value if process is None else process(value))
        return values

    def values_of(self, rows: Sequence[Params]) -> list[list[Any]]:
        """`values` of each parameter set, column by column: a processor runs once for a
        value that is the same object as the row before's (the batch's `now`, its day)."""
        names = self.names
        found = [[r[n] if n in r else self.literals[n] for n in names] for r in rows]
        for position, process in enumerate(self.binds):
            if process is None:
                continue
            last: Any = _UNSET
            processed: Any = None
            for values in found:
                value = values[position]
                if value is not last:
                    last, processed = value, process(value)
                values[position] = processed
        return found

    def rows(self, found: list[tuple[Any, ...]]) -> list[Any]:
        make, results = self.row, self.results
        if results is None:
            return [make(r) for r in found]
        return [
            make([v if p is None else p(v) for p, v in zip(results, r, strict=True)]) for r in found
        ]


_UNSET = object()
# Rows per multi-row INSERT: each a power of two up to this (a batch of 50: 32, 16, 2), so
# that a statement has a few texts, prepared once each in sqlite3's statement cache.
_MOST_ROWS = 64


def _row_counts(rows: int, most: int) -> Iterator[int]:
    """`rows` split into powers of two of at most `most`, the largest first."""
    while rows:
        count = min(most, 1 << (rows.bit_length() - 1))
        yield count
        rows -= count


@cache
def _several_rows(sql: str, group: str, rows: int) -> str:
    return sql.replace(f" VALUES {group}", " VALUES " + ", ".join([group] * rows), 1)


@cache
def _sqlite_compiled(statement: Executable) -> _SqliteCompiled | None:
    """The statement as SQLite text with its types' processors; None for one this path does
    not run (a list bound by an expanding IN, columns without plain names)."""
    compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=_SQLITE))
    columns = compiled._result_columns or []
    names = [c.keyname for c in columns]
    if (
        "POSTCOMPILE" in compiled.string
        or compiled.literal_execute_params
        or len(set(names)) != len(names)
        or not all(n.isidentifier() and not keyword.iskeyword(n) for n in names)
    ):
        return None
    positions = tuple(compiled.positiontup or ())
    processors = compiled._bind_processors
    binds = []
    for name in positions:
        process = processors.get(name)
        binds.append(process if callable(process) else None)
    literals = {
        compiled.bind_names[bind]: bind.value
        for bind in compiled.binds.values()
        if not bind.required and bind.value is not None
    }
    results = tuple(c.type._cached_result_processor(_SQLITE, None) for c in columns)
    row: Callable[[Iterable[Any]], Any] = tuple
    if names:
        row = namedtuple("Row", names)._make  # type: ignore[attr-defined]
    group = "(" + ", ".join(["?"] * len(positions)) + ")"
    several = (
        bool(positions) and compiled.isinsert and compiled.string.count(f" VALUES {group}") == 1
    )
    return _SqliteCompiled(
        compiled.string,
        positions,
        tuple(binds),
        literals,
        row,
        results if any(results) else None,
        group if several else None,
    )


class SqliteStatements:
    """Statements run on the sqlite3 connection itself, in aiosqlite's thread (given to
    the work of `on_sqlite_thread`): what `fetch_all` and `execute_many` do, synchronously."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    def fetch_all(self, statement: Executable, params: Params) -> list[Any]:
        compiled = _sqlite_compiled(statement)
        assert compiled is not None, "a statement the SQLite path cannot run"
        return compiled.rows(self._raw.execute(compiled.sql, compiled.values(params)).fetchall())

    def execute_many(
        self, statement: Executable, rows: Sequence[Params], returning: bool = False
    ) -> list[Any]:
        compiled = _sqlite_compiled(statement)
        assert compiled is not None, "a statement the SQLite path cannot run"
        if not returning:
            self._raw.executemany(compiled.sql, compiled.values_of(rows))
            return []
        values = compiled.values_of(rows)
        group = compiled.values_group
        if group is None:
            found: list[tuple[Any, ...]] = []
            for row in values:
                found.extend(self._raw.execute(compiled.sql, row).fetchall())
            return compiled.rows(found)
        found = []
        for cursor in self._several_rows_at_once(compiled, group, values):
            found.extend(cursor.fetchall())
        return compiled.rows(found)

    def inserted_count(self, statement: Executable, rows: Sequence[Params]) -> int:
        """An INSERT without RETURNING run for `rows` (in statements of several rows, as
        `execute_many`): how many rows it inserted. Where RETURNING gives a row per insert,
        each a step of SQLite that gives the interpreter's lock up and takes it back."""
        compiled = _sqlite_compiled(statement)
        assert compiled is not None, "a statement the SQLite path cannot run"
        group = compiled.values_group
        assert group is not None, "an INSERT of one VALUES group"
        values = compiled.values_of(rows)
        return sum(c.rowcount for c in self._several_rows_at_once(compiled, group, values))

    def _several_rows_at_once(
        self, compiled: _SqliteCompiled, group: str, values: list[list[Any]]
    ) -> Iterator[sqlite3.Cursor]:
        """An INSERT's rows in a few statements of several rows each (one execute apiece,
        where a row each cost its own), within SQLite's bound on parameters: each
        statement's cursor, executed."""
        most = self._raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(compiled.names)
        start = 0
        for count in _row_counts(len(values), max(1, min(_MOST_ROWS, most))):
            flat = [v for row in values[start : start + count] for v in row]
            sql = _several_rows(compiled.sql, group, count) if count > 1 else compiled.sql
            yield self._raw.execute(sql, flat)
            start += count

    def execute_sql(self, sql: str) -> None:
        """A statement without parameters (SAVEPOINT, RELEASE …)."""
        self._raw.execute(sql)


def _aiosqlite(conn: AsyncConnection) -> Any:
    """The aiosqlite connection of a live SQLAlchemy connection (no I/O)."""
    sync = conn.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        return None
    return sync.connection.driver_connection


async def on_sqlite_thread(
    conn: AsyncConnection,
    work: Callable[[SqliteStatements], T],
    commit: bool = False,
    transaction: bool = True,
) -> T:
    """`work`, run in the SQLite connection's own thread with its statements: one crossing to
    that thread for all of them, in the connection's transaction (begun first, as
    SQLAlchemy would: the write lock for a write connection, see `db.configure_sqlite`; the
    BEGIN in the same crossing).
    A database error comes out as SQLAlchemy's error wrapping it, as through
    SQLAlchemy. `commit`: the transaction committed after the work, in the same crossing
    (SQLAlchemy's own commit then has nothing left to do on the driver). Without
    `transaction`, on a connection not in one, the work's statements run each in its own
    (reads: no write lock taken)."""
    begin: str | None = None
    if transaction and not conn.in_transaction():
        # The BEGIN runs here, in the same crossing as the work (the begin event leaves it).
        info = conn.sync_connection.info if conn.sync_connection is not None else None
        if info is not None:
            info[BEGIN_WITH_WORK] = True
        try:
            await conn.begin()
        finally:
            if info is not None:
                info.pop(BEGIN_WITH_WORK, None)
                begin = info.pop(BEGIN_PENDING, None)
    driver = _aiosqlite(conn)
    if driver is None:
        driver = (await conn.get_raw_connection()).driver_connection

    def run() -> T:
        raw: sqlite3.Connection = driver._conn
        if begin is not None:
            raw.execute(begin)
        done = work(SqliteStatements(raw))
        if commit:
            raw.commit()
        return done

    try:
        # aiosqlite's queue to its thread: its public calls each run one sqlite3 call there.
        result: T = await driver._execute(run)
    except sqlite3.Error as error:
        raise sa_exc.DBAPIError.instance(
            None, None, error, sqlite3.Error, hide_parameters=True
        ) from error
    return result


def _on_sqlite(statement: Executable) -> bool:
    return _sqlite_compiled(statement) is not None


async def fetch_all(conn: AsyncConnection, statement: Executable, params: Params) -> list[Any]:
    """The rows of a statement run once with `params`."""
    if conn.dialect.name != "postgresql":
        if _on_sqlite(statement):
            return await on_sqlite_thread(conn, lambda s: s.fetch_all(statement, params))
        return list((await conn.execute(statement, dict(params))).all())
    compiled = _compiled(statement)
    if compiled.keep_cursor:  # the submission's statements, on their kept cursor
        driver = await _psycopg(conn)
        cursor = _connection_cursor(conn, driver, compiled.sql)
        try:
            await cursor.execute(compiled.sql, compiled.values(params))
            return await cursor.fetchall()
        except OperationalError as error:
            await _invalidate_if_lost(conn, driver, error)
            raise
    async with _raw_cursor(conn, compiled) as cursor:
        await cursor.execute(compiled.sql, compiled.values(params))
        return await cursor.fetchall()


def transaction(conn: AsyncConnection) -> AbstractAsyncContextManager[Any]:
    """A transaction around several writes on a connection in autocommit (PostgreSQL's
    write connection); nothing to add on a connection already in a transaction."""
    if conn.dialect.name == "postgresql":
        driver = _driver(conn)
        if driver is not None and driver.autocommit:
            return _pipelined_transaction(driver)
    return nullcontext()


@asynccontextmanager
async def _pipelined_transaction(driver: PsycopgConnection[Any]) -> AsyncIterator[None]:
    """A transaction in pipeline mode: BEGIN goes with the first statement, and statements
    whose rows are not read go with the next that waits (COMMIT at the latest), so a
    batch's insert and aggregates take two round trips rather than five."""
    async with driver.pipeline(), driver.transaction():
        yield


async def execute_many(
    conn: AsyncConnection, statement: Executable, rows: Sequence[Params], returning: bool = False
) -> list[Any]:
    """Run a statement once per parameter set (sent together); the rows it returned, in
    order, when `returning`."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        if _on_sqlite(statement):
            return await on_sqlite_thread(
                conn, lambda s: s.execute_many(statement, rows, returning)
            )
        result = await conn.execute(statement, [dict(r) for r in rows])
        return list(result.all()) if returning else []
    compiled = _compiled(statement)
    params: Iterable[list[Any]] = (compiled.values(r) for r in rows)
    async with _raw_cursor(conn, compiled) as cursor:
        if len(rows) == 1:
            await cursor.execute(compiled.sql, next(iter(params)))
            return await cursor.fetchall() if returning else []
        await cursor.executemany(compiled.sql, params, returning=returning)
        if not returning:
            return []
        found = []
        while True:
            found.extend(await cursor.fetchall())
            if not cursor.nextset():
                return found


# Deadlock detected, serialization failure: PostgreSQL undid the statement (and, in a
# transaction, everything since its start or the savepoint) so that another could go on;
# running the same work again is expected to succeed.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
RETRY_ATTEMPTS = 4
RETRY_BACKOFF_SECONDS = 0.02  # the first wait is up to twice this, then doubling, jittered


def _retryable(error: BaseException) -> bool:
    cause = getattr(error, "orig", error)  # SQLAlchemy wraps the driver's error
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


@asynccontextmanager
async def _savepoint(driver: PsycopgConnection[Any]) -> AsyncIterator[None]:
    await driver.execute("SAVEPOINT skm_attempt")
    try:
        yield
    except BaseException:
        await driver.execute("ROLLBACK TO SAVEPOINT skm_attempt")
        raise
    await driver.execute("RELEASE SAVEPOINT skm_attempt")


def _attempt(conn: AsyncConnection) -> AbstractAsyncContextManager[None]:
    """What undoes a failed attempt: a savepoint on a connection in a transaction (the
    public submission's, which holds its ticket), so that the transaction can go on;
    nothing on PostgreSQL's write connection in autocommit, where the work is atomic by
    itself (one statement, or its own `transaction`), nor on SQLite (one writer at a time:
    no deadlock, no serialization failure)."""
    driver = _driver(conn) if conn.dialect.name == "postgresql" else None
    if driver is None or driver.autocommit:
        return nullcontext()
    return _savepoint(driver)


async def retrying(conn: AsyncConnection, work: Callable[[], Awaitable[T]]) -> T:
    """`work()`, run again after a deadlock or a serialization failure (SQLSTATE 40P01,
    40001), at most RETRY_ATTEMPTS times in all, after a short random wait that doubles, so
    that a client never sees one. `work` must be safe to run again once undone: ingest's
    insert is (its rows are keyed by the response ids). Costs nothing when nothing fails,
    except a savepoint's two round trips inside a transaction."""
    attempt = 1
    while True:
        try:
            async with _attempt(conn):
                return await work()
        except Exception as error:
            if attempt >= RETRY_ATTEMPTS or not _retryable(error):
                raise
            sqlstate = getattr(getattr(error, "orig", error), "sqlstate", None)
        logger.warning("SQLSTATE %s on attempt %d; trying again", sqlstate, attempt)
        await asyncio.sleep(random.uniform(0, RETRY_BACKOFF_SECONDS * 2**attempt))
        attempt += 1
