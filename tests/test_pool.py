"""The PostgreSQL pool keeps its connections (no session opened above its size, however many
requests come at once), and a pool or a server that cannot give a connection is a 503 with
Retry-After, never a 500: a full pool, and a server refusing a new connection (a role with
CONNECTION LIMIT 1, made for the test and dropped after)."""

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.pq import TransactionStatus
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.db import Database
from app.main import create_app
from tests.conftest import POSTGRES_ADMIN_URL, app_settings, bearer, connect
from tests.factories import PROBLEM
from tests.test_observability import METRICS_TOKEN, samples, value

pytestmark = pytest.mark.postgresql_only


def assert_unavailable(answer: Any, reason: str) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["retry-after"] == "5"
    body = answer.json()
    assert body["type"] == "urn:skm:problem:unavailable"
    assert body["detail"].startswith(reason)
    assert body["request_id"] == answer.headers["x-request-id"]


def test_the_pool_keeps_its_connections_under_more_requests_than_its_size(
    database_url: str,
) -> None:
    """36 connections asked for at once, three times over, of a pool of 3: every one is
    served by one of the same 3 server sessions (pg_backend_pid and backend_start), none
    opened and closed in between (with overflow, as before, up to 6 sessions existed and
    each round opened new ones)."""
    name = f"skm-pool-test-{os.getpid()}"
    seen: list[tuple[int, str]] = []

    async def rounds() -> None:
        database = Database(database_url, pool_size=3, timeout=30, application_name=name)

        async def one() -> None:
            async with database.write_connection() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT pid, backend_start::text FROM pg_stat_activity"
                            " WHERE pid = pg_backend_pid()"
                        )
                    )
                ).one()
                seen.append((row[0], row[1]))
                await conn.execute(text("SELECT pg_sleep(0.01)"))

        try:
            for _ in range(3):
                await asyncio.gather(*(one() for _ in range(36)))
            with connect(POSTGRES_ADMIN_URL) as admin:
                open_now = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
                ).fetchone()
            assert open_now is not None
            assert open_now[0] == 3
        finally:
            await database.dispose()

    asyncio.run(rounds())
    assert len(seen) == 108
    assert len(set(seen)) == 3


@pytest.fixture
def tiny_pool(database_url: str, admin_token: str) -> Iterator[TestClient]:
    """An app with one pooled connection, which gives up waiting for it after 1 s."""
    settings = app_settings(
        database_url, db_pool_size=1, db_timeout_seconds=1, metrics_token=METRICS_TOKEN
    )
    with TestClient(create_app(settings), headers=bearer(admin_token)) as client:
        yield client


def test_a_full_pool_is_a_503_and_the_wait_shows_in_the_metrics(tiny_pool: TestClient) -> None:
    """The pool's one connection held elsewhere: a request waits (skm_db_pool_waiting is 1
    meanwhile), then gets 503 with Retry-After, counted as pool_timeout."""
    assert tiny_pool.get("/v1/units").status_code == 200  # the pool's connection exists
    engine = tiny_pool.app.state.database.engine  # type: ignore[attr-defined]
    held = tiny_pool.portal.call(engine.connect)  # type: ignore[union-attr]
    try:
        before = samples(tiny_pool.get("/metrics", headers=bearer(METRICS_TOKEN)).text)
        answers: list[Any] = []
        waiter = threading.Thread(target=lambda: answers.append(tiny_pool.get("/v1/units")))
        waiter.start()
        waiting = 0.0
        for _ in range(500):
            during = samples(tiny_pool.get("/metrics", headers=bearer(METRICS_TOKEN)).text)
            waiting = value(during, "skm_db_pool_waiting")
            if waiting == 1 or not waiter.is_alive():
                break
            threading.Event().wait(0.002)
        assert waiting == 1
        assert value(during, "skm_db_pool_in_use") >= 1
        waiter.join()
        [answer] = answers
        assert_unavailable(answer, "No database connection became free in time.")
        after = samples(tiny_pool.get("/metrics", headers=bearer(METRICS_TOKEN)).text)
        name = "skm_unavailable_total"
        reason = {"reason": "pool_timeout"}
        assert value(after, name, **reason) - value(before, name, **reason) == 1
        assert value(after, "skm_db_pool_waiting") == 0
    finally:
        tiny_pool.portal.call(held.close)  # type: ignore[union-attr]
    assert tiny_pool.get("/v1/units").status_code == 200


@pytest.fixture
def limited_role(database_url: str) -> Iterator[str]:
    """A role that may hold one connection at a time, with the rights the service needs on
    the test database; its URL. Dropped afterwards."""
    role = f"skm_limited_{os.getpid()}"
    with connect(POSTGRES_ADMIN_URL) as admin:
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
    with connect(database_url) as db:
        db.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        db.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    url = make_url(database_url).set(username=role).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with connect(database_url) as db:
            db.execute(f'DROP OWNED BY "{role}"')
        with connect(POSTGRES_ADMIN_URL) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_server_refusing_connections_is_a_503(limited_role: str, admin_token: str) -> None:
    """The role's one connection taken by another client: the server refuses the service's
    (too many connections, SQLSTATE 53300), answered 503 and counted as db_refused; once
    the other client is gone, the same request is served."""
    settings = app_settings(limited_role, db_pool_size=2, metrics_token=METRICS_TOKEN)
    other = connect(limited_role)
    with TestClient(create_app(settings), headers=bearer(admin_token)) as client:
        try:
            before = samples(client.get("/metrics", headers=bearer(METRICS_TOKEN)).text)
            assert_unavailable(
                client.get("/v1/units"),
                "The database refused a new connection (too many connections).",
            )
            after = samples(client.get("/metrics", headers=bearer(METRICS_TOKEN)).text)
            reason = {"reason": "db_refused"}
            name = "skm_unavailable_total"
            assert value(after, name, **reason) - value(before, name, **reason) == 1
        finally:
            other.close()
        role = make_url(limited_role).username
        with connect(POSTGRES_ADMIN_URL) as admin:
            for _ in range(1000):  # the server ends the closed session's backend meanwhile
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)
                ).fetchone()
                if row is not None and row[0] == 0:
                    break
                threading.Event().wait(0.005)
        assert client.get("/v1/units").status_code == 200


def test_the_refusal_is_told_apart_by_its_sqlstate_or_message() -> None:
    """What psycopg raises when the server refuses a connection (no result: no SQLSTATE)
    is recognised by the server's message; with a SQLSTATE, by the SQLSTATE."""
    from app.db import unavailable

    refused = psycopg.OperationalError(
        'connection failed: FATAL:  too many connections for role "x"'
    )
    assert unavailable(refused) == "db_refused"
    assert unavailable(psycopg.OperationalError("connection refused")) == "db_unavailable"


def _driver_of(conn: Any) -> Any:
    """The psycopg connection under a SQLAlchemy async connection."""
    return conn.sync_connection.connection.driver_connection


def test_the_write_connection_is_in_autocommit_and_given_back_out_of_it(
    database_url: str,
) -> None:
    """The submission's write connection runs each statement by itself (no transaction
    open after one), and the pooled connection it gives back begins transactions again for
    the engine's other users: a session's write rolled back leaves nothing."""
    from app.statements import fetch_all

    async def check() -> None:
        database = Database(database_url, pool_size=1)
        probe = text("SELECT 1 AS one")
        try:
            async with database.write_connection() as conn:
                await fetch_all(conn, probe, {})
                driver = _driver_of(conn)
                assert driver.autocommit
                assert driver.info.transaction_status == TransactionStatus.IDLE
            async with database.engine.connect() as conn:
                same = _driver_of(conn)
                assert same is driver  # the pool's one connection
                assert not same.autocommit
                await conn.execute(text("SELECT 1"))
                assert same.info.transaction_status == TransactionStatus.INTRANS
                await conn.rollback()
        finally:
            await database.dispose()

    asyncio.run(check())


def test_a_write_connection_cancelled_mid_statement_is_given_back_out_of_autocommit(
    database_url: str,
) -> None:
    """A submission cancelled while its statement runs (psycopg has the server cancel it):
    its connection is not given back to the pool still in autocommit; the next user gets a
    connection that begins transactions, and it works."""
    from app.statements import fetch_all

    async def check() -> None:
        database = Database(database_url, pool_size=1)
        started = asyncio.Event()

        async def sleeping() -> None:
            async with database.write_connection() as conn:
                started.set()
                await fetch_all(conn, text("SELECT pg_sleep(5)"), {})

        try:
            task = asyncio.create_task(sleeping())
            await started.wait()
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            async with database.engine.connect() as conn:
                driver = _driver_of(conn)
                assert not driver.autocommit
                assert (await conn.execute(text("SELECT 2"))).scalar() == 2
                assert driver.info.transaction_status == TransactionStatus.INTRANS
                await conn.rollback()
        finally:
            await database.dispose()

    asyncio.run(check())


def test_a_kept_cursor_serves_its_statement_on_its_connection_until_replaced(
    database_url: str,
) -> None:
    """A statement that keeps its cursor runs on the same psycopg cursor each time on a
    pooled connection, with each execution's own rows; another statement has its own; a
    connection the pool replaces starts with none of the old ones."""
    from app.statements import _CURSORS, fetch_all, kept_cursor

    kept = kept_cursor(text("SELECT CAST(:n AS integer) + 1 AS next"))
    other = kept_cursor(text("SELECT CAST(:n AS integer) * 2 AS double"))

    async def check() -> None:
        database = Database(database_url, pool_size=1)
        try:
            seen: list[Any] = []
            for n in (1, 2):
                async with database.write_connection() as conn:
                    assert [r.next for r in await fetch_all(conn, kept, {"n": n})] == [n + 1]
                    assert [r.double for r in await fetch_all(conn, other, {"n": n})] == [2 * n]
                    driver, cursors = conn.sync_connection.connection.info[_CURSORS]  # type: ignore[union-attr]
                    assert driver is _driver_of(conn)
                    seen.append(dict(cursors))
            assert len(seen[0]) == 2
            assert seen[0] == seen[1]  # the same cursors, the second time
            async with database.write_connection() as conn:
                await conn.invalidate()
            async with database.write_connection() as conn:
                assert [r.next for r in await fetch_all(conn, kept, {"n": 5})] == [6]
                _, cursors = conn.sync_connection.connection.info[_CURSORS]  # type: ignore[union-attr]
                assert set(cursors.values()).isdisjoint(seen[0].values())
        finally:
            await database.dispose()

    asyncio.run(check())


def test_a_connection_given_back_in_a_transaction_is_rolled_back(database_url: str) -> None:
    """The pool rolls back what a connection given back still has open (begun on the driver,
    unknown to SQLAlchemy): the next user finds it idle, and the write undone."""

    async def check() -> None:
        database = Database(database_url, pool_size=1)
        name = f"skm_reset_{os.getpid()}"
        try:
            async with database.engine.connect() as conn:
                driver = _driver_of(conn)
                await driver.execute("BEGIN")
                await driver.execute(f"CREATE TABLE {name} (n integer)")
                assert driver.info.transaction_status == TransactionStatus.INTRANS
            async with database.engine.connect() as conn:
                driver = _driver_of(conn)
                assert driver.info.transaction_status == TransactionStatus.IDLE
                found = await conn.scalar(text("SELECT to_regclass(:name) IS NULL"), {"name": name})
                assert found is True
                await conn.rollback()
        finally:
            await database.dispose()

    asyncio.run(check())
