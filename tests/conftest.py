"""Every test runs twice: on SQLite and on PostgreSQL (a real server).

The PostgreSQL half needs a server at SKM_TEST_POSTGRES_URL (default: postgres@127.0.0.1:5432,
no password). Without one it is skipped, and the summary says so; with
SKM_TEST_REQUIRE_POSTGRES=1 (as in CI) a missing server fails the run instead.
The schema is built by the real Alembic migrations; each test starts from empty tables (but
for the standard questionnaire and the administrator key) and a fresh app state.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    create_engine,
    delete,
    insert,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.engine import make_url

from app.auth import new_token, token_hash
from app.cli import alembic_config
from app.config import Settings
from app.db import Base, sync_url, utcnow
from app.main import create_app
from app.models import ApiKey
from app.surveys import VersionCache
from tests.browser import LiveServer, chromium_path
from tests.factories import create_key, hierarchy, make_mall

POSTGRES_ADMIN_URL = os.environ.get(
    "SKM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("SKM_TEST_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]


def connect(
    url: str, autocommit: bool = True, connect_timeout: int = 3
) -> psycopg.Connection[tuple[Any, ...]]:
    """A psycopg connection to the database of a SQLAlchemy-style URL (any driver suffix)."""
    parts = make_url(url)
    return psycopg.connect(
        host=parts.host,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname=parts.database,
        connect_timeout=connect_timeout,
        autocommit=autocommit,
    )


def _admin_connection() -> psycopg.Connection[tuple[Any, ...]]:
    return connect(POSTGRES_ADMIN_URL)


def postgres_database(name: str) -> str:
    """A fresh, empty PostgreSQL database `name` (dropped first if it exists); its URL."""
    admin = make_url(POSTGRES_ADMIN_URL)
    try:
        conn = _admin_connection()
    except psycopg.OperationalError as error:
        message = f"PostgreSQL half not run: no server at {admin.host}:{admin.port} ({error})"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(name: str) -> None:
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrated(url: str) -> str:
    config = alembic_config()
    config.attributes["configure_logging"] = False
    engine = create_engine(sync_url(url))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()
    return url


def fresh_database(backend: str, tmp_path: Path, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / (name + '.db')}"
    return postgres_database(name)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `postgresql_only` (deadlocks, server-side errors) are skipped on SQLite,
    with the reason in the summary."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_sqlite = callspec is not None and callspec.params.get("database_url") == "sqlite"
        if on_sqlite and item.get_closest_marker("postgresql_only"):
            item.add_marker(pytest.mark.skip(reason="PostgreSQL only (no such errors on SQLite)"))


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per backend and test run (named by process, so runs side by side on one
    server do not meet), dropped at the end."""
    backend: str = request.param
    name = f"skm_test_{os.getpid()}"
    url = migrated(fresh_database(backend, tmp_path_factory.mktemp(backend), name))
    yield url
    if backend == "postgresql":
        drop_postgres_database(name)


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


UNLIMITED = "1000000/minute"


def app_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a test app; rate limits out of the way unless a test sets them."""
    values: dict[str, object] = {
        "database_url": database_url,
        "rate_limit_key": UNLIMITED,
        "rate_limit_public": UNLIMITED,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def insert_key(database_url: str, role: str = "admin", name: str = "test administrator") -> str:
    """A key written straight into the database (as `skm create-key` does); its token."""
    token = new_token()
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.execute(
            insert(ApiKey).values(
                name=name,
                role=role,
                read_responses=False,
                token_hash=token_hash(token),
                prefix=token[:10],
                created_at=utcnow(),
            )
        )
    engine.dispose()
    return token


@pytest.fixture(scope="session")
def admin_token(database_url: str) -> str:
    return insert_key(database_url)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


Row = dict[str, object]


@pytest.fixture(scope="session")
def reset_engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(database_url))
    yield engine
    engine.dispose()


def table_rows(conn: Connection, table: Table) -> list[Row]:
    """Every row of `table`, whole, in primary-key order."""
    rows = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class Seed:
    """The rows of a test database before any test: what the migrations put in place (the
    standard questionnaire) and the session's administrator key, by table name."""

    rows: dict[str, list[Row]]

    def not_kept(self, table: Table) -> ColumnElement[bool]:
        """The rows of `table` that are not seed rows."""
        columns = list(table.primary_key.columns)
        kept = [tuple(row[column.name] for column in columns) for row in self.rows[table.name]]
        if not kept:
            return true()
        if len(columns) == 1:
            return columns[0].not_in([key for (key,) in kept])
        return tuple_(*columns).not_in(kept)


@pytest.fixture(scope="session")
def seed(reset_engine: Engine, admin_token: str) -> Seed:
    with reset_engine.connect() as conn:
        return Seed({table.name: table_rows(conn, table) for table in Base.metadata.sorted_tables})


@pytest.fixture(scope="session")
def app_client(database_url: str, admin_token: str, seed: Seed) -> Iterator[TestClient]:
    """The app, calling as an administrator unless a request says otherwise (the seed is
    taken before it serves anything)."""
    app = create_app(app_settings(database_url))
    with TestClient(app, headers=bearer(admin_token)) as client:
        yield client


def reset_database(engine: Engine, seed: Seed) -> None:
    """Every table as `seed` holds it, derived from the models' metadata so that no table is
    forgotten: the references left out of the tables' order (`use_alter`, a cycle) are
    cleared first, then each table's other rows are deleted, dependents first, and the seed
    rows are written back as they were (a test may have used or revoked the key)."""
    tables = Base.metadata.sorted_tables
    with engine.begin() as conn:
        for table in tables:
            cycle = [
                key.parent.name
                for key in table.foreign_keys
                if key.constraint is not None and key.constraint.use_alter
            ]
            if cycle:
                cleared = dict.fromkeys(cycle)
                conn.execute(update(table).where(seed.not_kept(table)).values(cleared))
        for table in reversed(tables):
            conn.execute(delete(table).where(seed.not_kept(table)))
        for table in tables:
            for row in seed.rows[table.name]:
                key = [column == row[column.name] for column in table.primary_key.columns]
                conn.execute(update(table).where(*key).values(row))


def reset_app_state(client: TestClient) -> None:
    """The app's state between requests as a fresh app has it: no survey version rules
    cached, no request counted against a rate limit."""
    state = client.app.state  # type: ignore[attr-defined]
    state.versions = VersionCache()
    client.portal.call(state.limiter.reset)  # type: ignore[union-attr]


def reset(client: TestClient, engine: Engine, seed: Seed) -> None:
    reset_database(engine, seed)
    reset_app_state(client)


@pytest.fixture
def client(app_client: TestClient, reset_engine: Engine, seed: Seed) -> Iterator[TestClient]:
    """The app on an empty database (the standard questionnaire and the administrator key)."""
    yield app_client
    reset(app_client, reset_engine, seed)


@pytest.fixture
def mall(client: TestClient) -> TestClient:
    """`client` with kota (WITA) → mpp → {disdukcapil (ktp, kk), dpmptsp (izin-usaha)} and
    papua (WIT, ktp)."""
    make_mall(client)
    return client


@pytest.fixture
def history(client: TestClient, database_url: str) -> Iterator[TestClient]:
    """An app accepting responses collected long ago (the default is 90 days), for fixed
    historical dates, on the same database as `client` (which empties it afterwards) and
    calling as `client` does."""
    settings = app_settings(database_url, max_collected_age_days=100_000)
    with TestClient(create_app(settings), headers=dict(client.headers)) as historical:
        yield historical


@pytest.fixture
def units(client: TestClient) -> TestClient:
    """The hierarchy only, the client calling as the administrator."""
    hierarchy(client)
    return client


@pytest.fixture
def lenient(client: TestClient, database_url: str, admin_token: str) -> Iterator[TestClient]:
    """The app answering an unexpected error with its 500 problem instead of raising it."""
    app = create_app(app_settings(database_url))
    with TestClient(app, headers=bearer(admin_token), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def kiosks(units: TestClient) -> tuple[str, str]:
    """Two collector keys on capil: two devices."""
    return (
        create_key(units, "Kiosk 1", "collector", "capil")["token"],
        create_key(units, "Kiosk 2", "collector", "capil")["token"],
    )


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Chromium driven by Playwright (tests/browser.py: skipped without it, unless required).

    Per module, not per session: Playwright's synchronous API runs an event loop in the main
    thread while it is open, and every later test calling `asyncio.run()` (the command
    line, the snapshot test) failed with "cannot be called from a running event loop"."""
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path)
        yield browser
        browser.close()


@pytest.fixture
def live_server(
    client: TestClient, database_url: str, tmp_path: Path, chromium: Any
) -> Iterator[LiveServer]:
    """The service as `skm serve` runs it, on the test's database (emptied afterwards by
    `client`), in a process of its own on a free port."""
    server = LiveServer(database_url, tmp_path / "serve.log")
    server.start()
    yield server
    server.stop()
