"""Database plumbing: declarative base, URL handling, engine and per-request sessions."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


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

# WAL with synchronous=FULL: a commit is on disk (the WAL synced) before it returns, so a
# response answered 201 survives a power loss as well as a killed process. NORMAL syncs
# only at checkpoints: faster, but the last commits before a power loss can vanish.
SQLITE_PRAGMAS = ("foreign_keys=ON", "journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000")


def configure_sqlite(sync_engine: Any) -> None:
    """SQLite: enforce foreign keys, WAL with every commit synced (`SQLITE_PRAGMAS`), and
    take the write lock when a write transaction begins.

    Starting write transactions with BEGIN IMMEDIATE makes concurrent writers queue on
    busy_timeout instead of failing with SQLITE_BUSY when a reader upgrades to a writer.
    Read-only connections (engine option ``skm_read_only``) begin a deferred transaction.
    """

    @event.listens_for(sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    target = async_url(url)
    if target.get_backend_name() == "sqlite":
        engine = create_async_engine(target, hide_parameters=True)
        configure_sqlite(engine.sync_engine)
        return engine
    return create_async_engine(
        target,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
        hide_parameters=True,  # parameters (free text) stay out of logs and error messages
    )


class Database:
    """The engine and the two session factories of one running app."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.engine = create_engine(url, pool_size)
        self.dialect = self.engine.dialect.name
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self.read_only_engine = self.engine.execution_options(**{READ_ONLY: True})
        # PostgreSQL in autocommit: no BEGIN and COMMIT round trips around a statement that
        # stands alone (a key lookup, a single response's insert); several writes that
        # belong together go in `statements.transaction`. On SQLite, the usual engines.
        self.autocommit_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else None
        )
        # Reports read several statements that must agree (a subtree, then its sums): on
        # PostgreSQL they share one snapshot, in a transaction that refuses writes. SQLite's
        # deferred transaction is one snapshot already.
        self.snapshot_engine = (
            self.read_only_engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            if self.dialect == "postgresql"
            else self.read_only_engine
        )
        self.writer = async_sessionmaker(self.engine, expire_on_commit=False)
        self.reader = async_sessionmaker(self.read_only_engine, expire_on_commit=False)

    def write_turn(self) -> AbstractAsyncContextManager[object]:
        """SQLite has one writer at a time: queue writers here rather than in SQLite's
        busy-wait (which sleeps and retries, giving seconds of tail latency)."""
        return self._write_lock if self._write_lock is not None else nullcontext()

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def _write_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent."""
    database = await get_database(request)
    async with database.write_turn(), database.writer() as session, session.begin():
        yield session


async def _write_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """The submission endpoints' Core connection (they need no ORM session).

    On PostgreSQL it is in autocommit: each statement is atomic and durable by itself, and
    writes of several statements are wrapped in `statements.transaction`. On SQLite its
    transaction, begun lazily by the first statement (it holds the write lock from its
    BEGIN), is committed before the response is sent."""
    database = await get_database(request)
    if database.autocommit_engine is not None:
        async with database.autocommit_engine.connect() as conn:
            yield conn
        return
    async with database.write_turn(), database.engine.connect() as conn:
        yield conn
        await conn.commit()


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with (await get_database(request)).reader() as session, session.begin():
        yield session


async def _read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """The index endpoints' Core connection: one read-only transaction, one snapshot (see
    `Database.snapshot_engine`), rolled back when the request is done."""
    async with (await get_database(request)).snapshot_engine.connect() as conn:
        yield conn


WriteSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]
WriteConnection = Annotated[AsyncConnection, Depends(_write_connection, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
ReadConnection = Annotated[AsyncConnection, Depends(_read_connection, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
