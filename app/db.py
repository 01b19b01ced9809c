"""Database plumbing: declarative base, URL handling, engine, and the sessions and
connections a request works in (given to endpoints by `app.dependencies`)."""

import asyncio
import logging
import math
import os
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aiosqlite
import psycopg
import redis.exceptions
from psycopg.pq import TransactionStatus
from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, PoolResetState
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util.concurrency import await_

from app.observability import POOL_IN_USE, POOL_SIZE, POOL_WAITING, REPLICA_USABLE

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# SQLite's DATETIME text (SQLAlchemy's default storage format).
_SQLITE_DATETIME_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC; always timezone-aware in Python, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, `process_bind_param` and then its DATETIME's text in one function:
        the naive UTC instant's ISO text with a space, its microseconds always written —
        the text of SQLite's DATETIME ("%(year)04d-…%(microsecond)06d"), which took a
        dictionary and a format per value (a batch binds a few hundred)."""
        stored = self.impl_instance.dialect_impl(dialect)
        if getattr(stored, "_storage_format", None) != _SQLITE_DATETIME_FORMAT:
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given for a UTC column")
            instant = value.astimezone(UTC).replace(tzinfo=None)
            text = instant.isoformat(" ")
            return text if instant.microsecond else text + ".000000"

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


# The driver per backend: psycopg (v3) serves PostgreSQL both ways; SQLite needs aiosqlite.
ASYNC_DRIVERS = {"postgresql": "postgresql+psycopg", "sqlite": "sqlite+aiosqlite"}
SYNC_DRIVERS = {"postgresql": "postgresql+psycopg", "sqlite": "sqlite+pysqlite"}


def _with_driver(url: str, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database backend: {backend}")
    return parsed.set(drivername=drivers[backend])


def async_url(url: str) -> URL:
    """The URL for the service's async engine."""
    return _with_driver(url, ASYNC_DRIVERS)


def sync_url(url: str) -> URL:
    """The URL for synchronous tools (Alembic, the tests' resets)."""
    return _with_driver(url, SYNC_DRIVERS)


READ_ONLY = "skm_read_only"
# SQLite: set in a connection's `info` by a caller that runs the BEGIN itself, with its first
# statement in one crossing to aiosqlite's thread (`statements.on_sqlite_thread`); the begin
# event then leaves the BEGIN it would have run under BEGIN_PENDING.
BEGIN_WITH_WORK = "skm_begin_with_work"
BEGIN_PENDING = "skm_begin_pending"

# WAL with synchronous=FULL: a commit is on disk (the WAL synced) before it returns, so a
# response answered 201 survives a power loss as well as a killed process. NORMAL syncs
# only at checkpoints: faster, but the last commits before a power loss can vanish.
SQLITE_PRAGMAS = ("foreign_keys=ON", "journal_mode=WAL", "synchronous=FULL")
# The WAL is copied back into the database every this many pages (SQLite's default: 1,000).
# A batch of 50 dirties some 400 pages (its rows and the pages of every index and aggregate
# they land in), so by default a checkpoint ran every two or three batches, in a commit,
# copying the same hot pages again each time: about a tenth of a batch's CPU. The WAL file
# grows to about 40 MB before a checkpoint.
SQLITE_CHECKPOINT_PAGES = 10_000
# Temporary tables and indices, and the journals of statements and savepoints, in memory: a
# batch's INSERT of several rows keeps the pages it changes in a statement journal (to undo
# it alone should a constraint stop it), some 1 MB for 50 rows, which past 64 KiB SQLite
# wrote to a temporary file, created and deleted in every write turn (about 500 writes):
# about a sixth of the turn's CPU. A statement's temporary b-trees (GROUP BY, DISTINCT)
# are then held in memory too.
SQLITE_TEMP_STORE = "MEMORY"


def configure_sqlite(sync_engine: Any, busy_timeout_seconds: float = 30) -> None:
    """SQLite: enforce foreign keys, WAL with every commit synced (`SQLITE_PRAGMAS`), a busy
    timeout, temporary storage in memory (`SQLITE_TEMP_STORE`), and take the write lock
    when a write transaction begins.

    Starting write transactions with BEGIN IMMEDIATE makes concurrent writers queue on
    busy_timeout instead of failing with SQLITE_BUSY when a reader upgrades to a writer.
    Read-only connections (engine option ``skm_read_only``) begin a deferred transaction.
    A writer waits at most `busy_timeout_seconds` for another process's write lock (the
    lock of `Database.write_turn` is per process), then fails with "database is locked".
    """

    @event.listens_for(sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA temp_store={SQLITE_TEMP_STORE}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
        if conn.info.pop(BEGIN_WITH_WORK, False):
            conn.info[BEGIN_PENDING] = begin
            return
        driver = conn.connection.driver_connection
        if not isinstance(driver, aiosqlite.Connection):
            conn.exec_driver_sql(begin)
            return
        # One crossing to aiosqlite's thread rather than three (see `app.statements`).
        try:
            await_(driver._execute(driver._conn.execute, begin))  # type: ignore[no-untyped-call]
        except sqlite3.Error as error:
            raise sa_exc.DBAPIError.instance(
                begin, None, error, sqlite3.Error, hide_parameters=True
            ) from error


class CountingPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool, counting the requests that wait for a connection (a
    free one, or one being opened) in `skm_db_pool_waiting`."""

    def _do_get(self) -> ConnectionPoolEntry:
        if not self._pool.empty():  # a free connection, taken without waiting
            return super()._do_get()
        POOL_WAITING.inc()
        try:
            return super()._do_get()
        finally:
            POOL_WAITING.dec()


def create_engine(
    url: str,
    pool_size: int = 10,
    connect_timeout: float = 5,
    timeout: float = 10,
    prepare: bool = True,
    application_name: str = "skm",
) -> AsyncEngine:
    """The service's engine. On PostgreSQL, a pool that keeps `pool_size` connections and
    never opens more (no overflow: a connection opened above the pool's size was closed
    again when given back, so a busy worker opened and closed sessions continuously and
    could reach the server's limit); a request waits at most `timeout` seconds for a free
    one, a new connection `connect_timeout` seconds (a stale pooled connection is replaced
    at checkout: `Database` adds `watch_connections`). Without `prepare`, the driver never
    prepares statements on the server (behind PgBouncer in transaction mode a statement
    prepared on one server connection is not there on the next). On SQLite, `timeout` is
    the wait for another process's write lock."""
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(target, hide_parameters=True)
        configure_sqlite(engine.sync_engine, timeout)
        return engine
    connect_args: dict[str, Any] = {
        # libpq counts whole seconds, at least 2.
        "connect_timeout": max(2, round(connect_timeout)),
        "application_name": application_name,  # the service's sessions in pg_stat_activity
    }
    if not prepare:
        connect_args["prepare_threshold"] = None
    engine = create_async_engine(
        target,
        poolclass=CountingPool,
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=1800,
        pool_timeout=timeout,
        pool_reset_on_return=None,  # `_reset_on_return` instead
        connect_args=connect_args,
        hide_parameters=True,  # parameters (free text) stay out of logs and error messages
    )
    event.listen(engine.sync_engine, "reset", _reset_on_return)
    return engine


def _reset_on_return(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
    """The pool's reset of a PostgreSQL connection given back, in place of its
    rollback-on-return: the rollback only when a transaction is open on the connection
    (or it is lost: the rollback's error has the pool discard it). psycopg's rollback of
    an idle connection does nothing, but reaching it from the pool crossed into
    SQLAlchemy's greenlet on every checkin (the submission's connection, in autocommit, is
    always idle). Skipped when SQLAlchemy's own would be: its transaction already ended
    (rolled back or committed), or outside the event loop (a connection only terminated)."""
    if state.transaction_was_reset or not state.asyncio_safe:
        return
    driver = dbapi_connection.driver_connection
    if driver.closed or driver.info.transaction_status != TransactionStatus.IDLE:
        dbapi_connection.rollback()


class DatabaseTimeout(Exception):
    """A request's database work outlasted its deadline (`Database.deadline`)."""


_CHECKED_OUT_BY = "skm_deadline"  # connection record info: the deadline of its holder
_FRESH = "skm_fresh"  # connection record info: connected, never checked out
_DEADLINES: dict["asyncio.Task[Any]", "Deadline"] = {}
_RECHECK_SECONDS = 0.25


# What a connection shut down by the deadline raises, through SQLAlchemy or on the raw path.
_CUT_ERRORS = (sa_exc.SQLAlchemyError, psycopg.Error, OSError)


class Deadline:
    """The client-side limit on the database time of one request (PostgreSQL).

    A paused or unreachable server answers nothing, so no server-side timeout can fire and
    the kernel keeps acknowledging TCP: the limit has to be kept here. When it is reached,
    each connection the request holds that is waiting for a statement's answer is shut
    down (the driver then fails at once, as on a lost connection, and the connection is
    discarded), and `DatabaseTimeout` is raised from the error. The request's task is not
    cancelled: psycopg answers a cancellation by asking the server to cancel the statement,
    which on a stalled server waits ten seconds more. Waits elsewhere have their own
    bounds: a free pooled connection (`pool_timeout`), a new one (`connect_timeout`)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.connections: list[Any] = []  # connection records checked out under it
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> "Deadline":
        self._task = asyncio.current_task()
        if self._task is not None and self._task not in _DEADLINES:
            _DEADLINES[self._task] = self
            self._timer = asyncio.get_running_loop().call_later(self.seconds, self._expire)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self._timer is None:
            return  # an outer deadline of the same task keeps the time
        self._timer.cancel()
        assert self._task is not None
        del _DEADLINES[self._task]
        # Only the database's errors: an answer the app chose (a 404, a 409) stands, and so
        # does the pool's timeout (its own reason, however close to the deadline it came).
        if (
            self.expired
            and isinstance(error, _CUT_ERRORS)
            and not isinstance(error, sa_exc.TimeoutError)
        ):
            raise DatabaseTimeout(
                f"no answer from the database within {self.seconds:g} s"
            ) from error

    def _expire(self) -> None:
        self.expired = True
        for record in self.connections:
            if record.info.get(_CHECKED_OUT_BY) is self:
                _cut_if_waiting(record.driver_connection)
        # A statement begun after the deadline is cut as soon as it is seen.
        self._timer = asyncio.get_running_loop().call_later(_RECHECK_SECONDS, self._expire)


def _cut_if_waiting(driver: Any) -> None:
    """Shut down the socket of a psycopg connection waiting for a statement's answer."""
    if (
        not isinstance(driver, psycopg.AsyncConnection)
        or driver.closed
        or driver.info.transaction_status != TransactionStatus.ACTIVE
    ):
        return
    with socket.socket(fileno=os.dup(driver.pgconn.socket)) as sock:
        sock.shutdown(socket.SHUT_RDWR)  # the socket itself, not just this duplicate


def _lost(driver: Any) -> bool:
    """Whether the server has closed this idle connection (a restart, a terminated
    backend): what it sent is read without waiting, and the end of the stream shows.
    No round trip, unlike a ping: the check costs the hot path nothing."""
    if not isinstance(driver, psycopg.AsyncConnection):
        return False
    if driver.closed:
        return True
    try:
        driver.pgconn.consume_input()
    except psycopg.OperationalError:
        return True
    return driver.closed


def watch_connections(sync_engine: Any) -> None:
    """At checkout, replace a connection the server has closed (SQLAlchemy's pool then
    opens a new one), tie the connection to the deadline of the task taking it, and count
    it in `skm_db_pool_in_use` (until its checkin) — one listener each way, as they run on
    every checkout.

    This stands in for `pool_pre_ping`, whose round trip is made before the checkout
    event, outside any deadline: on a stalled server it waited as long as the stall."""

    @event.listens_for(sync_engine, "connect")
    def _connect(_dbapi: Any, record: ConnectionPoolEntry) -> None:
        record.info[_FRESH] = True

    @event.listens_for(sync_engine, "checkout")
    def _checkout(_dbapi: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        # A connection just opened is not checked (as pre-ping does not ping one): the
        # pool replaces a lost connection only twice, then fails the checkout. A refused
        # one is not counted: the pool opens another, which is.
        info = record.info
        if not info.pop(_FRESH, False) and _lost(record.driver_connection):
            raise sa_exc.DisconnectionError("the server closed this pooled connection")
        POOL_IN_USE.inc()
        try:
            deadline = _DEADLINES.get(asyncio.current_task())  # type: ignore[arg-type]
        except RuntimeError:  # no running loop: a synchronous caller
            deadline = None
        if deadline is not None:
            info[_CHECKED_OUT_BY] = deadline
            deadline.connections.append(record)

    @event.listens_for(sync_engine, "checkin")
    def _checkin(_dbapi: Any, record: ConnectionPoolEntry) -> None:
        POOL_IN_USE.dec()
        record.info.pop(_CHECKED_OUT_BY, None)


# SQLSTATE classes of a server that cannot serve now: connection exception, insufficient
# resources (too many connections), operator intervention (shutdown, query cancelled),
# transaction rollback (deadlock, serialization failure: retrying later succeeds).
_UNAVAILABLE_CLASSES = ("08", "40", "53", "57")
TOO_MANY_CONNECTIONS = "53300"

# Why a request could not be served, by the reason's label in `skm_unavailable_total`.
UNAVAILABLE_REASONS = {
    "db_timeout": "The database did not answer in time.",
    "pool_timeout": "No database connection became free in time.",
    "db_refused": "The database refused a new connection (too many connections).",
    "connection_lost": "The connection to the database was lost.",
    "db_unavailable": "The database is unavailable.",
    "db_busy": "The database is busy.",
    "redis": "The rate-limit store (Redis) cannot be reached.",
}


def _too_many_connections(error: psycopg.OperationalError) -> bool:
    """A refused connection: its SQLSTATE when the driver has it, else the server's message
    (a failed connection attempt has no result to carry a SQLSTATE)."""
    if error.sqlstate is not None:
        return error.sqlstate == TOO_MANY_CONNECTIONS
    message = str(error)
    return "too many connections" in message or "too many clients" in message


def unavailable(error: BaseException) -> str | None:
    """Why a request could not be served for want of its database (or of Redis), as a key
    of `UNAVAILABLE_REASONS`, or None when `error` is something else. Such a request is
    answered 503 with Retry-After."""
    if isinstance(error, DatabaseTimeout):
        return "db_timeout"
    if isinstance(error, sa_exc.TimeoutError):
        return "pool_timeout"
    if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return "redis"
    cause: BaseException | None = error
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return "connection_lost"
        cause = error.orig
    if isinstance(cause, psycopg.OperationalError):
        if _too_many_connections(cause):
            return "db_refused"
        if cause.sqlstate is None or cause.sqlstate[:2] in _UNAVAILABLE_CLASSES:
            return "db_unavailable"
    if isinstance(cause, sqlite3.OperationalError) and (
        "locked" in str(cause) or "busy" in str(cause)
    ):
        return "db_busy"
    return None


# How far a replica is behind, in seconds: 0 when it has replayed all it received and is
# streaming (an idle primary sends nothing, and the last replayed commit ages without any
# lag), otherwise the age of the last commit it replayed; NULL when it is not a replica (a
# promoted one no longer follows the primary) or has replayed nothing.
REPLICA_LAG = text(
    "SELECT CASE"
    " WHEN NOT pg_is_in_recovery() THEN NULL"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
    "  AND EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN 0"
    " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
    " END"
)
# A report's reads on PostgreSQL: one snapshot, in a transaction that refuses writes (the
# primary's reports and every use of a replica's connection alike).
SNAPSHOT: dict[str, Any] = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
_PRIMARY = "skm_primary"  # connection record info of a replica connection: its primary


class Replica:
    """A PostgreSQL streaming replica for the heavy reads, used while it is up and at most
    `max_lag` seconds behind. Its state is probed at most once per `check_seconds` per
    process (one round trip, on the request that finds it stale); a replica that cannot be
    reached is tried again after `retry_seconds`."""

    def __init__(
        self,
        url: str,
        primary: "Database",
        pool_size: int,
        connect_timeout: float,
        timeout: float,
        prepare: bool,
        max_lag: float,
        check_seconds: float = 1.0,
        retry_seconds: float = 10.0,
    ) -> None:
        self.engine = create_engine(
            url, pool_size, connect_timeout, timeout, prepare, application_name="skm-replica"
        )
        watch_connections(self.engine.sync_engine)
        POOL_SIZE.inc(pool_size)
        self._counted_pool = pool_size
        self.snapshot_engine = self.engine.execution_options(**SNAPSHOT)
        self.max_lag = max_lag
        self.check_seconds = check_seconds
        self.connect_timeout = connect_timeout
        self.usable = False
        self.lag: float | None = None
        self.retry_seconds = retry_seconds
        self._next_check = -math.inf
        self._lock = asyncio.Lock()

        @event.listens_for(self.engine.sync_engine, "connect")
        def _mark(_dbapi: Any, record: ConnectionPoolEntry) -> None:
            record.info[_PRIMARY] = primary

    async def in_use(self) -> bool:
        """Whether reads go to the replica now (probed when the last probe is stale). While
        one request probes, the others go by the last answer rather than wait for it (a
        replica whose host drops packets holds a probe for the connect timeout)."""
        if time.monotonic() < self._next_check or self._lock.locked():
            return self.usable
        async with self._lock:
            self.lag, reached = await self._probe()
            self.usable = self.lag is not None and self.lag <= self.max_lag
            # A replica that cannot be reached is tried again less often.
            wait = self.check_seconds if reached else self.retry_seconds
            self._next_check = time.monotonic() + wait
            REPLICA_USABLE.set(1 if self.usable else 0)
        return self.usable

    async def _probe(self) -> tuple[float | None, bool]:
        """(the replica's lag or None, whether it answered)."""
        try:
            # Every use of a replica's connection is read-only: a connection once given
            # back from a read-only use begins READ WRITE otherwise, which a server in
            # recovery refuses.
            timeout = asyncio.timeout(self.connect_timeout)
            async with timeout, self.snapshot_engine.connect() as conn:
                lag = await conn.scalar(REPLICA_LAG)
        except (TimeoutError, sa_exc.SQLAlchemyError, psycopg.Error, OSError) as error:
            logger.warning(
                "read replica unreachable, reading from the primary: %s %s",
                type(error).__name__,
                error,
            )
            return None, False
        if lag is None or lag > self.max_lag:
            logger.warning("read replica behind (lag %s s), reading from the primary", lag)
        return (None if lag is None else float(lag)), True

    async def dispose(self) -> None:
        await self.engine.dispose()
        POOL_SIZE.dec(self._counted_pool)
        self._counted_pool = 0


@asynccontextmanager
async def primary_reads(conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
    """Where to read what must be current whatever a replica's lag (publication records;
    keys are read apart, see `dependencies.reading_caller`): `conn` itself on the primary,
    a short read connection of the primary when `conn` is a replica's."""
    primary = conn.info.get(_PRIMARY)
    if primary is None:
        yield conn
        return
    async with primary.read_connection() as current:
        yield current


def on_replica(conn: AsyncConnection) -> bool:
    """Whether `conn` is a replica's (see `Database.analysis_connection`)."""
    return conn.info.get(_PRIMARY) is not None


@asynccontextmanager
async def _autocommit(conn: AsyncConnection) -> AsyncIterator[None]:
    """The pooled PostgreSQL connection `conn` in autocommit for the block, out of it again
    before it goes back to the pool (the engine's other users begin transactions). Set on
    psycopg's connection directly: no I/O, where SQLAlchemy's isolation level option
    (`execution_options(isolation_level="AUTOCOMMIT")`) crossed into its greenlet four
    times a checkout to set it and set it back (about 40 µs of a single submission's CPU).

    A connection that is not idle at the end (a statement cut short by a cancellation) is
    invalidated rather than given back; one already lost is discarded by the pool."""
    sync = conn.sync_connection
    assert sync is not None  # started
    driver: psycopg.AsyncConnection[Any] = sync.connection.driver_connection  # type: ignore[assignment]
    await driver.set_autocommit(True)
    try:
        yield
    finally:
        if not conn.invalidated and not driver.closed:
            if driver.info.transaction_status == TransactionStatus.IDLE:
                await driver.set_autocommit(False)
            else:
                await conn.invalidate()


def _given_back(conn: AsyncConnection) -> bool:
    """Give the pooled PostgreSQL connection `conn` back to its pool at once, when nothing in
    its return needs I/O: no transaction open on it (SQLAlchemy's or the server's), not
    lost, not invalidated, out of autocommit (the pool's reset then does nothing:
    `_reset_on_return`).
    SQLAlchemy's own close runs in a task of its own and crosses into its greenlet, about
    25 µs of a single submission's CPU. Whether it was given back; if not, the caller
    closes it SQLAlchemy's way."""
    sync = conn.sync_connection
    if sync is None or sync.closed or sync.invalidated or sync.in_transaction():
        return False
    driver = sync.connection.driver_connection
    if (
        not isinstance(driver, psycopg.AsyncConnection)
        or driver.closed
        or driver.autocommit
        or driver.info.transaction_status != TransactionStatus.IDLE
    ):
        return False
    sync.close()
    return True


class _Turn:
    """SQLite's write turn of one request (`Database.write_connection`): taken before its
    connection; given up when its block ends, or once its writes are committed
    (`Database.written`)."""

    def __init__(self, lock: AbstractAsyncContextManager[object]) -> None:
        self._lock = lock  # `Database.write_turn`
        self._held = False

    async def acquire(self) -> None:
        if not self._held:
            await self._lock.__aenter__()
            self._held = True

    async def release(self) -> None:
        if self._held:
            self._held = False
            await self._lock.__aexit__(None, None, None)


_TURN = "skm_write_turn"  # a write connection's `_Turn`, in its info while it is given out


class Database:
    """The engine and the two session factories of one running app."""

    def __init__(
        self,
        url: str,
        pool_size: int = 10,
        connect_timeout: float = 5,
        timeout: float = 10,
        prepare: bool = True,
        application_name: str = "skm",
        read_url: str | None = None,
        replica_max_lag: float = 30,
    ) -> None:
        self.engine = create_engine(
            url, pool_size, connect_timeout, timeout, prepare, application_name
        )
        self.replica = (
            Replica(read_url, self, pool_size, connect_timeout, timeout, prepare, replica_max_lag)
            if read_url is not None
            else None
        )
        self.dialect = self.engine.dialect.name
        self.timeout = timeout
        self._counted_pool = 0
        if self.dialect == "postgresql":
            watch_connections(self.engine.sync_engine)
            self._counted_pool = pool_size
            POOL_SIZE.inc(pool_size)
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self.read_only_engine = self.engine.execution_options(**{READ_ONLY: True})
        # PostgreSQL in autocommit: no BEGIN and COMMIT round trips around a statement that
        # stands alone (a key lookup on a connection of its own); several writes that belong
        # together go in `statements.transaction`. On SQLite, the usual engines. (The
        # request's write connection is put in autocommit by `_autocommit`, cheaper.)
        self.autocommit_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else None
        )
        # Reports read several statements that must agree (a subtree, then its sums): on
        # PostgreSQL they share one snapshot, in a transaction that refuses writes. SQLite's
        # deferred transaction is one snapshot already.
        self.snapshot_engine = (
            self.read_only_engine.execution_options(**SNAPSHOT)
            if self.dialect == "postgresql"
            else self.read_only_engine
        )
        self.writer = async_sessionmaker(self.engine, expire_on_commit=False)
        self.reader = async_sessionmaker(self.read_only_engine, expire_on_commit=False)

    def write_turn(self) -> AbstractAsyncContextManager[object]:
        """SQLite has one writer at a time: queue writers here rather than in SQLite's
        busy-wait (which sleeps and retries, giving seconds of tail latency)."""
        return self._write_lock if self._write_lock is not None else nullcontext()

    def deadline(self) -> AbstractAsyncContextManager[object]:
        """The limit on a request's database time (see `Deadline`). PostgreSQL only: SQLite
        is embedded (it cannot stall), and its waits for a lock end at busy_timeout."""
        return Deadline(self.timeout) if self.dialect == "postgresql" else nullcontext()

    @asynccontextmanager
    async def write_session(self) -> AsyncIterator[AsyncSession]:
        """A request's ORM session: one transaction, committed when the block ends (for a
        request, before the response is sent)."""
        async with self.deadline(), self.write_turn(), self.writer() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """The submission endpoints' Core connection (they need no ORM session).

        On PostgreSQL it is in autocommit: each statement is atomic and durable by itself, and
        writes of several statements are wrapped in `statements.transaction`. On SQLite its
        transaction, begun lazily by the first statement (it holds the write lock from its
        BEGIN), is committed when the block ends, and the write turn is taken before the
        connection (a writer waiting for it holds no pooled connection), and given up when
        the block ends or, once the writes are committed, by `written`."""
        if self.dialect == "postgresql":
            async with self.deadline():
                conn = await self.engine.connect().start()
                try:
                    async with _autocommit(conn):
                        yield conn
                finally:
                    if not _given_back(conn):
                        await conn.__aexit__(None, None, None)  # SQLAlchemy's close
            return
        turn = _Turn(self.write_turn())
        try:
            await turn.acquire()
            async with self.engine.connect() as conn:
                conn.info[_TURN] = turn
                try:
                    yield conn
                    await conn.commit()
                finally:
                    # A connection invalidated meanwhile has no info to read (its error
                    # is the one raised); the turn is given up below all the same.
                    with suppress(sa_exc.SQLAlchemyError):
                        conn.info.pop(_TURN, None)
        finally:
            await turn.release()

    async def written(self, conn: AsyncConnection, committed: bool = False) -> None:
        """A write connection's work is done: on SQLite, its transaction committed (unless
        `committed` already on the driver, by the crossing of its last statements: see
        `statements.on_sqlite_thread`) and the write turn given to the next writer, while
        the request shapes its answer (the connection then begins no other transaction).
        Nothing to do on PostgreSQL, where the connection is in autocommit."""
        turn = conn.info.pop(_TURN, None) if self.dialect == "sqlite" else None
        if turn is None:
            return
        if committed:
            await turn.release()
        await conn.commit()  # failing, the turn is kept until the connection is given back
        await turn.release()

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        async with self.deadline(), self.reader() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read_connection(self) -> AsyncIterator[AsyncConnection]:
        """The index endpoints' Core connection: one read-only transaction, one snapshot (see
        `snapshot_engine`), rolled back when the block ends."""
        async with self.deadline(), self.snapshot_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def analysis_connection(self) -> AsyncIterator[AsyncConnection]:
        """The heavy reads' connection (indices, documents, compliance): as
        `read_connection`, on the replica while it is in use (up, and at most
        SKM_REPLICA_MAX_LAG_SECONDS behind), on the primary otherwise. What must be current
        whatever the lag is read through `primary_reads`."""
        if self.replica is None or not await self.replica.in_use():
            async with self.read_connection() as conn:
                yield conn
            return
        async with self.deadline(), self.replica.snapshot_engine.connect() as conn:
            yield conn

    async def export_engine(self) -> AsyncEngine:
        """Where a long export streams from, on a connection of its own: the replica while it
        is in use (read-only, one snapshot), the primary's read-only engine otherwise. The
        replica is chosen when the export starts; a standby cancels a query that conflicts
        with replay beyond `max_standby_streaming_delay`, so a replica serving exports wants
        `hot_standby_feedback = on` (README)."""
        if self.replica is not None and await self.replica.in_use():
            return self.replica.snapshot_engine
        return self.read_only_engine

    async def dispose(self) -> None:
        if self.replica is not None:
            await self.replica.dispose()
        await self.engine.dispose()
        POOL_SIZE.dec(self._counted_pool)
        self._counted_pool = 0
