"""Durability: a response answered 201 is on disk, power loss included."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.factories import make_unit, response_item


async def _setting(database: Any, backend: str) -> str:
    query = "PRAGMA synchronous" if backend == "sqlite" else "SHOW synchronous_commit"
    async with database.engine.connect() as conn:
        return str((await conn.execute(text(query))).scalar_one())


def test_a_commit_is_synced_before_it_is_answered(client: TestClient, backend: str) -> None:
    """SQLite syncs the WAL at every commit (synchronous=FULL, 2; NORMAL, 1, syncs only at
    checkpoints and can lose the last commits on power loss); PostgreSQL waits for the WAL
    flush (synchronous_commit on). Read through the app's own engine, after a submission."""
    make_unit(client, "loket", services=("ktp",))
    assert client.post("/v1/responses", json=response_item("loket", "ktp")).status_code == 201
    database = client.app.state.database  # type: ignore[attr-defined]
    assert client.portal is not None
    found = client.portal.call(_setting, database, backend)
    assert found == ("2" if backend == "sqlite" else "on")


def test_sqlite_checkpoints_every_10000_pages(client: TestClient, backend: str) -> None:
    """SQLite copies its WAL back every 10,000 pages (the default 1,000 copied the same hot
    pages every two or three batches)."""
    if backend != "sqlite":
        pytest.skip("SQLite only: PostgreSQL checkpoints by its own settings")
    database = client.app.state.database  # type: ignore[attr-defined]
    assert client.portal is not None
    assert client.portal.call(_pragma, database, "wal_autocheckpoint") == "10000"


async def _pragma(database: Any, name: str) -> str:
    async with database.engine.connect() as conn:
        return str((await conn.execute(text(f"PRAGMA {name}"))).scalar_one())
