"""Running the hot statements: authentication and response submission.

These are SQLAlchemy Core statements built once, with named bind parameters. On SQLite they
run through SQLAlchemy. On PostgreSQL each is compiled once to SQL text and run on the
psycopg connection underneath the SQLAlchemy connection — the same connection, and its
transaction when it has one — which skips SQLAlchemy's per-execute work (cache keys,
execution context, result processing): that was about half of a single submission's CPU
time. psycopg prepares a statement on the server once it has run a few times on a
connection.

Rows come back as named tuples on both databases. Bind values must already be what the
database stores (aware datetimes, UUIDs, dicts for JSON columns): on PostgreSQL no
SQLAlchemy type runs on them, so keep TypeDecorators with bind-side logic out of these
statements' parameters, except UTCDateTime, whose PostgreSQL side is the identity.
"""

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar, cast

from psycopg import AsyncConnection as PsycopgConnection
from psycopg import AsyncRawCursor, OperationalError
from psycopg.rows import namedtuple_row
from psycopg.types.json import Json
from sqlalchemy import ARRAY, JSON, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import Executable

Params = Mapping[str, Any]
T = TypeVar("T")
logger = logging.getLogger(__name__)

# Compiled with PostgreSQL's own $1, $2 … placeholders and run on psycopg's raw cursors:
# psycopg then has no query to convert (it caches that conversion only for short queries,
# and re-parsed the long single-response statement on every execute).
_POSTGRESQL = postgresql_psycopg.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameter of each placeholder, in order
    json_positions: frozenset[int]  # placeholders of JSON columns: wrapped for psycopg
    literals: Mapping[str, Any]  # values written into the statement, such as 'paper'

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
    return _Compiled(str(compiled), names, positions, literals)


def one_of(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], name: str, dialect: str
) -> ColumnElement[bool]:
    """`column` equal to one of the list bound as `name`: `= ANY(array)` on PostgreSQL (one
    statement text whatever the list's length), an expanding IN on SQLite."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


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
async def _raw_cursor(conn: AsyncConnection) -> AsyncIterator[AsyncRawCursor[Any]]:
    """A raw cursor on the driver's connection. A connection lost meanwhile (a server
    restart, a deadline's cut) is reported to SQLAlchemy, as its own execute would: the
    connection is invalidated rather than reset and put back in the pool."""
    driver = await _psycopg(conn)
    try:
        async with AsyncRawCursor(driver, row_factory=namedtuple_row) as cursor:
            yield cursor
    except OperationalError as error:
        if driver.closed:
            await conn.invalidate(error)
        raise


async def fetch_all(conn: AsyncConnection, statement: Executable, params: Params) -> list[Any]:
    """The rows of a statement run once with `params`."""
    if conn.dialect.name != "postgresql":
        return list((await conn.execute(statement, dict(params))).all())
    compiled = _compiled(statement)
    async with _raw_cursor(conn) as cursor:
        await cursor.execute(compiled.sql, compiled.values(params))
        return await cursor.fetchall()


def transaction(conn: AsyncConnection) -> AbstractAsyncContextManager[Any]:
    """A transaction around several writes on a connection in autocommit (PostgreSQL's
    write connection); nothing to add on a connection already in a transaction."""
    if conn.dialect.name == "postgresql":
        driver = _driver(conn)
        if driver is not None and driver.autocommit:
            return driver.transaction()
    return nullcontext()


async def execute_many(
    conn: AsyncConnection, statement: Executable, rows: Sequence[Params], returning: bool = False
) -> list[Any]:
    """Run a statement once per parameter set (sent together); the rows it returned, in
    order, when `returning`."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        result = await conn.execute(statement, [dict(r) for r in rows])
        return list(result.all()) if returning else []
    compiled = _compiled(statement)
    params: Iterable[list[Any]] = (compiled.values(r) for r in rows)
    async with _raw_cursor(conn) as cursor:
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
