"""Database trouble: 503 with Retry-After, never 500, never a hang; nothing lost or doubled.

The PostgreSQL tests put an asyncio TCP proxy (`StallingProxy`) between the app and the
server, on a database of their own, and switch it to stall (accept, forward nothing: a
paused server), refuse (a stopped one) or cut every connection (a restart). The machine's
server itself is never paused or restarted, and only this database's backends are ever
terminated (`pg_stat_activity` filtered by `datname`).
"""

import asyncio
import itertools
import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.db import sync_url
from app.main import create_app
from tests.conftest import (
    app_settings,
    bearer,
    connect,
    drop_postgres_database,
    insert_key,
    migrated,
    postgres_database,
)
from tests.factories import PROBLEM, make_unit, response_item

PAUSE_SECONDS = 20  # how long a stall lasts at most: the length of a server's pause


class StallingProxy:
    """A TCP proxy on 127.0.0.1 in front of a PostgreSQL server, run by its own event loop
    in a thread. `stall()` holds every byte in both directions (new connections are
    accepted and hang) until `resume()` or `PAUSE_SECONDS`; `refuse()` closes every
    connection and stops listening, `restore()` listens again on the same port; `cut()`
    closes every connection, as a server restart does."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.flowing = asyncio.Event()
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.port = 0
        self._call(self._listen)
        self._call(self._resume)

    def _call(self, function: Any) -> Any:
        async def run() -> Any:
            return await function() if asyncio.iscoroutinefunction(function) else function()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        self.writers.add(client_out)
        try:
            server_in, server_out = await asyncio.open_connection(*self.target)
        except OSError:
            client_out.close()
            return
        self.writers.add(server_out)
        await asyncio.gather(self._pipe(client_in, server_out), self._pipe(server_in, client_out))

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self.flowing.wait()
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self.writers.discard(sink)
            sink.close()

    def _resume(self) -> None:
        self.flowing.set()

    def _stall(self) -> None:
        self.flowing.clear()
        self.loop.call_later(PAUSE_SECONDS, self.flowing.set)

    def _cut(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _refuse(self) -> None:
        assert self.server is not None
        self.server.close()
        self._cut()
        await self.server.wait_closed()

    def stall(self) -> None:
        self._call(self._stall)

    def resume(self) -> None:
        self._call(self._resume)

    def cut(self) -> None:
        self._call(self._cut)

    def refuse(self) -> None:
        self._call(self._refuse)

    def restore(self) -> None:
        self._call(self._listen)

    def close(self) -> None:
        self._call(self._refuse)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


FAULTS_DATABASE = f"skm_faults_{os.getpid()}"


@pytest.fixture(scope="module")
def faults_url() -> Iterator[str]:
    """A PostgreSQL database of this module's own (its backends may be terminated)."""
    url = migrated(postgres_database(FAULTS_DATABASE))
    yield url
    drop_postgres_database(FAULTS_DATABASE)


@pytest.fixture
def proxy(faults_url: str) -> Iterator[StallingProxy]:
    target = make_url(faults_url)
    running = StallingProxy(target.host or "127.0.0.1", target.port or 5432)
    yield running
    running.close()


def proxied_client(faults_url: str, proxy: StallingProxy, **settings: Any) -> TestClient:
    url = make_url(faults_url).set(host="127.0.0.1", port=proxy.port)
    app = create_app(
        app_settings(
            url.render_as_string(hide_password=False),
            db_pool_size=2,
            db_timeout_seconds=1,
            db_connect_timeout_seconds=2,
            **settings,
        )
    )
    return TestClient(app, headers=bearer(insert_key(faults_url)), raise_server_exceptions=False)


def assert_unavailable(answer: httpx2.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert int(answer.headers["retry-after"]) > 0
    body = answer.json()
    assert body["status"] == 503
    assert body["type"] == "urn:skm:problem:unavailable"


def unit_code() -> str:
    return f"u{uuid.uuid4().hex[:12]}"


@pytest.mark.postgresql_only
def test_a_stalled_database_answers_503_and_liveness_stays_up(
    faults_url: str, proxy: StallingProxy
) -> None:
    """A paused server: every kind of request gets 503 once its deadline passes (before,
    each waited for the whole pause), liveness still answers, and once the server answers
    again so does the service."""
    with proxied_client(faults_url, proxy) as client:
        code = unit_code()
        make_unit(client, code, services=("ktp",))
        assert client.post("/v1/responses", json=response_item(code, "ktp")).status_code == 201
        proxy.stall()
        try:
            # the submission's raw statements, an ORM session, an index's Core connection
            assert_unavailable(client.post("/v1/responses", json=response_item(code, "ktp")))
            assert_unavailable(client.get(f"/v1/units/{code}"))
            assert_unavailable(client.get(f"/v1/indices/{code}", params={"period": "2026"}))
            assert_unavailable(client.get("/health/ready"))
            assert_unavailable(client.get("/health"))
            assert client.get("/health/live").status_code == 200
        finally:
            proxy.resume()
        item = response_item(code, "ktp")
        assert client.post("/v1/responses", json=item).status_code == 201
        assert client.get(f"/v1/responses/{item['id']}").status_code == 200
        assert client.get("/health/ready").status_code == 200


@pytest.mark.postgresql_only
def test_a_stalled_database_answers_a_read_503_at_its_deadline_key_included(
    faults_url: str, proxy: StallingProxy
) -> None:
    """A keyed read is the first request of a stall, its pooled connection alive: its key's
    read (on a connection of its own) answers 503 at the deadline, as the rest of the
    request would; it waited for the whole stall (20 s here) and then answered 200."""
    with proxied_client(faults_url, proxy) as client:
        code = unit_code()
        make_unit(client, code, services=("ktp",))
        assert client.get(f"/v1/units/{code}").status_code == 200
        proxy.stall()
        try:
            started = time.monotonic()
            assert_unavailable(client.get(f"/v1/units/{code}"))
            assert time.monotonic() - started < PAUSE_SECONDS / 2
        finally:
            proxy.resume()
        assert client.get(f"/v1/units/{code}").status_code == 200


@pytest.mark.postgresql_only
def test_a_stopped_database_answers_503_until_it_is_back(
    faults_url: str, proxy: StallingProxy
) -> None:
    with proxied_client(faults_url, proxy) as client:
        code = unit_code()
        make_unit(client, code, services=("ktp",))
        proxy.refuse()
        assert_unavailable(client.post("/v1/responses", json=response_item(code, "ktp")))
        assert_unavailable(
            client.post("/v1/responses/batch", json={"items": [response_item(code, "ktp")]})
        )
        assert_unavailable(client.get("/v1/units"))
        assert_unavailable(client.get("/health/ready"))
        assert client.get("/health/live").status_code == 200
        proxy.restore()
        assert client.post("/v1/responses", json=response_item(code, "ktp")).status_code == 201
        assert client.get("/health/ready").status_code == 200


@pytest.mark.postgresql_only
def test_a_restart_costs_no_request_once_the_server_is_back(
    faults_url: str, proxy: StallingProxy
) -> None:
    """Every pooled connection dies with the server (the proxy cuts them all): each is
    found stale before use and replaced, so no request fails."""
    with proxied_client(faults_url, proxy) as client:
        code = unit_code()
        make_unit(client, code, services=("ktp",))

        def submit(_: int) -> int:
            return client.post("/v1/responses", json=response_item(code, "ktp")).status_code

        with ThreadPoolExecutor(4) as pool:  # opens the pool's connections
            assert set(pool.map(submit, range(8))) == {201}
        proxy.cut()
        statuses = [submit(i) for i in range(4)]
        statuses += [client.get(f"/v1/units/{code}").status_code for _ in range(4)]
        statuses += [
            client.get(f"/v1/indices/{code}", params={"period": "2026"}).status_code
            for _ in range(4)
        ]
        assert statuses == [201] * 4 + [200] * 8


def test_a_database_locked_by_another_process_answers_503(tmp_path: Path) -> None:
    """SQLite only by nature: a writer of another process holds the file's lock past the
    busy timeout (SKM_DB_TIMEOUT_SECONDS)."""
    url = migrated(f"sqlite:///{tmp_path / 'locked.db'}")
    settings = app_settings(url, db_timeout_seconds=0.5)
    with TestClient(create_app(settings), headers=bearer(insert_key(url))) as client:
        code = unit_code()
        make_unit(client, code, services=("ktp",))
        other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            assert_unavailable(client.post("/v1/responses", json=response_item(code, "ktp")))
            assert_unavailable(
                client.post("/v1/units", json={"code": "x", "name": "X", "kind": "agency"})
            )
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert client.post("/v1/responses", json=response_item(code, "ktp")).status_code == 201


def _terminate_backends(
    admin_url: str, database: str, stop: threading.Event, kills: list[int] | None = None
) -> int:
    """Terminate the backends of `database` (and only those) again and again until `stop`,
    at random intervals of 20–400 ms: short enough to cut requests at every step, long
    enough now and then for a batch to finish on a loaded machine (a fixed 50 ms cut a
    batch taking 50–180 ms there a hundred times in a row)."""
    killed = 0
    with connect(admin_url) as conn:
        while not stop.wait(random.uniform(0.02, 0.4)):
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
            killed += row[0] if row else 0
            if kills is not None and row and row[0]:
                kills.append(row[0])
    return killed


@pytest.mark.postgresql_only
def test_connections_killed_under_load_lose_and_double_nothing(faults_url: str) -> None:
    """Kiosks submit singles and batches while the database's backends are terminated
    again and again. Every answer is a success or a 503 (never a 500); a refused
    submission is retried with the same ids; at the end the stored responses are exactly
    the ids answered 201/200 and each aggregate table counts every one once."""
    settings = app_settings(faults_url, db_pool_size=3, db_timeout_seconds=5, burst_seconds=0)
    token = insert_key(faults_url)
    with TestClient(create_app(settings), headers=bearer(token)) as client:
        code = unit_code()
        make_unit(client, code, services=("ktp",))
        accepted: set[str] = set()
        statuses: list[int] = []
        lock = threading.Lock()

        def send(path: str, body: dict[str, Any]) -> httpx2.Response:
            for _ in range(100):
                answer = client.post(path, json=body)
                with lock:
                    statuses.append(answer.status_code)
                if answer.status_code != 503:
                    return answer
                assert answer.headers["content-type"] == PROBLEM
            raise AssertionError(f"{path}: still refused after 100 attempts")

        kills: list[int] = []  # the killer's successful rounds, as they happen

        def kiosk(number: int) -> None:
            # At least 12 rounds, and on until the killer has cut connections ten times (a
            # fast machine finishes 12 rounds between two kills).
            for round_ in itertools.count():
                if round_ >= 12 and (len(kills) >= 10 or round_ >= 1000):
                    return
                if (number + round_) % 3:
                    item = response_item(code, "ktp")
                    answer = send("/v1/responses", item)
                    assert answer.status_code in (200, 201), answer.text
                    with lock:
                        accepted.add(item["id"])
                else:
                    items = [response_item(code, "ktp") for _ in range(20)]
                    answer = send("/v1/responses/batch", {"items": items})
                    assert answer.status_code == 200, answer.text
                    outcomes = {i["id"]: i["status"] for i in answer.json()["items"]}
                    assert set(outcomes.values()) <= {"created", "duplicate"}
                    with lock:
                        accepted.update(outcomes)

        stop = threading.Event()
        admin_url = os.environ.get(
            "SKM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
        with ThreadPoolExecutor(5) as pool:
            killer = pool.submit(_terminate_backends, admin_url, FAULTS_DATABASE, stop, kills)
            kiosks = [pool.submit(kiosk, n) for n in range(4)]
            try:
                for done in kiosks:
                    done.result()
            finally:
                stop.set()
            assert killer.result() >= len(kills)
        assert len(kills) >= 10
        assert 500 not in statuses
        assert set(statuses) <= {200, 201, 503}

        stored = _stored(faults_url, code)
        assert stored["ids"] == accepted
        assert stored["daily"] == stored["monthly"] == len(accepted)


def _stored(url: str, code: str) -> dict[str, Any]:
    """The unit's stored response ids and the responses each aggregate table counts, read
    on a connection of the test's own."""
    engine = create_engine(sync_url(url))
    unit = "(SELECT id FROM units WHERE code = :code)"
    try:
        with engine.connect() as conn:
            ids = conn.scalars(
                text(f"SELECT id FROM responses WHERE unit_id = {unit}"), {"code": code}
            )
            found: dict[str, Any] = {"ids": {str(i) for i in ids}}
            for table in ("daily", "monthly"):
                found[table] = conn.scalar(
                    text(
                        f"SELECT coalesce(sum(responses), 0) FROM {table}_aggregates"
                        f" WHERE unit_id = {unit}"
                    ),
                    {"code": code},
                )
    finally:
        engine.dispose()
    return found
