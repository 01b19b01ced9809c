"""API keys: revoked, expired, unknown and malformed keys are refused with 401; the token is
shown once; last use is recorded; what a manager may create, see and revoke; the last
administrator key is never revoked; keys made with the command line; a request holds one
pooled connection at a time. The hierarchy is `tests.factories.hierarchy`'s.
"""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, update
from sqlalchemy.engine import make_url

from app.auth import token_hash
from app.db import sync_url
from app.main import create_app
from app.models import ApiKey
from tests.conftest import (
    app_settings,
    bearer,
    connect,
    drop_postgres_database,
    insert_key,
    migrated,
    postgres_database,
)
from tests.factories import (
    PROBLEM,
    WWW_AUTHENTICATE,
    YEAR,
    PoolWatch,
    create_key,
    hierarchy,
    only_error,
    post_unit,
    refusal,
    response_item,
    unauthorized,
)


def expire_now(database_url: str, key_id: int) -> None:
    """Make a key's expiry a second ago, straight in the database (as time passing would)."""
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    engine.dispose()


def key_row(client: TestClient, key_id: int) -> dict[str, Any]:
    """A key as the administrator sees it."""
    answer = client.get(f"/v1/keys/{key_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def other_instance(client: TestClient, database_url: str) -> Iterator[TestClient]:
    """A second instance of the app on the same database (as behind a load balancer)."""
    with TestClient(create_app(app_settings(database_url))) as c:
        yield c


def test_a_revoked_key_is_refused_with_401_from_the_next_request_on_every_instance(
    units: TestClient, other_instance: TestClient
) -> None:
    key = create_key(units, "Kiosk capil", "collector", "capil")
    as_kiosk = bearer(key["token"])
    assert units.get("/v1/units/capil", headers=as_kiosk).status_code == 200
    assert other_instance.get("/v1/units/capil", headers=as_kiosk).status_code == 200
    revoked = units.post(f"/v1/keys/{key['id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["active"], revoked.json()["revoked_at"] is not None) == (False, True)
    for instance in (units, other_instance):
        refused = instance.get("/v1/units/capil", headers=as_kiosk)
        assert refusal(refused) == unauthorized("This key was revoked.")
        assert refused.headers["www-authenticate"] == WWW_AUTHENTICATE
    # Revoking again changes nothing.
    again = units.post(f"/v1/keys/{key['id']}/revoke")
    assert (again.status_code, again.json()["revoked_at"]) == (200, revoked.json()["revoked_at"])


def test_an_expired_key_is_refused_with_401_as_soon_as_it_expires(
    units: TestClient, database_url: str
) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    key = create_key(units, "Kiosk sementara", "collector", "capil", expires_at=tomorrow)
    assert units.get("/v1/units/capil", headers=bearer(key["token"])).status_code == 200
    expire_now(database_url, key["id"])
    refused = units.get("/v1/units/capil", headers=bearer(key["token"]))
    assert refusal(refused) == unauthorized("This key has expired.")
    assert refused.headers["www-authenticate"] == WWW_AUTHENTICATE
    assert key_row(units, key["id"])["active"] is False


def test_a_key_cannot_be_created_already_expired(units: TestClient) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    body = {"name": "Kiosk", "role": "collector", "scope": "capil", "expires_at": past}
    refused = units.post("/v1/keys", json=body)
    assert refused.status_code == 422
    assert only_error(refused.json()) == ("/expires_at", "past")


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        ("Bearer skm_not-a-key-at-all", "Unknown key."),
        ("Basic dXNlcjpwYXNz", "Use 'Authorization: Bearer <key>'."),
        ("Bearer ", "Use 'Authorization: Bearer <key>'."),
    ],
)
def test_an_unknown_or_malformed_key_is_refused_with_401(
    units: TestClient, authorization: str, detail: str
) -> None:
    refused = units.get("/v1/units/capil", headers={"Authorization": authorization})
    assert refusal(refused) == unauthorized(detail)
    assert refused.headers["www-authenticate"] == WWW_AUTHENTICATE


def test_last_used_at_is_set_once_the_key_is_used(units: TestClient) -> None:
    key = create_key(units, "Kiosk capil", "collector", "capil")
    assert key["last_used_at"] is None
    assert key_row(units, key["id"])["last_used_at"] is None
    before = datetime.now(UTC)
    assert units.get("/v1/units/capil/form", headers=bearer(key["token"])).status_code == 200
    after = datetime.now(UTC)
    last_used = datetime.fromisoformat(key_row(units, key["id"])["last_used_at"])
    assert before <= last_used <= after


def test_a_request_holds_one_connection_at_a_time(units: TestClient, database_url: str) -> None:
    """A request that waited for a second connection while holding one could, with every
    pooled connection held that way, wait forever. The key is read on the request's own
    connection; its last use is recorded after the response, on a connection of its own."""
    kiosk = create_key(units, "Kiosk capil", "collector", "capil")
    reader = create_key(units, "Dasbor capil", "reader", "capil")
    manager = create_key(units, "Manajer capil", "manager", "capil")
    watch = PoolWatch()
    with TestClient(create_app(app_settings(database_url))) as app:
        watch.watching(app)
        # Each key's first use, so each request also records it.
        answers = [
            app.post(
                "/v1/responses", json=response_item("capil", "ktp"), headers=bearer(kiosk["token"])
            ),
            app.get("/v1/indices/capil?period=2026", headers=bearer(reader["token"])),
            app.get("/v1/units/capil", headers=bearer(manager["token"])),
        ]
    assert [a.status_code for a in answers] == [201, 200, 200]
    assert (watch.most, watch.now) == (1, 0)
    for key in (kiosk, reader, manager):
        assert key_row(units, key["id"])["last_used_at"] is not None


def test_the_token_is_shown_once_and_never_again(units: TestClient) -> None:
    key = create_key(units, "Kiosk capil", "collector", "capil")
    token = key["token"]
    assert token.startswith("skm_")
    assert key["prefix"] == token[:10]
    revoked = units.post(f"/v1/keys/{key['id']}/revoke")
    later = [
        units.get("/v1/keys"),
        units.get(f"/v1/keys/{key['id']}"),
        revoked,
        units.get("/v1/audit"),
    ]
    for answer in later:
        assert answer.status_code == 200, answer.text
        assert token not in answer.text
    listed = {k["id"]: k for k in later[0].json()}
    assert "token" not in listed[key["id"]]
    assert listed[key["id"]]["prefix"] == token[:10]
    assert "token" not in later[1].json()


def test_a_manager_creates_collector_and_reader_keys_inside_its_scope_only(
    units: TestClient,
) -> None:
    manager = create_key(units, "Manajer capil", "manager", "capil")
    as_manager = bearer(manager["token"])
    post_unit(units, "loket", "service_unit", parent="capil")
    refusals = {
        "admin": {"role": "admin", "scope": "capil"},
        "manager": {"role": "manager", "scope": "capil"},
        "unscoped collector": {"role": "collector"},
        "collector of perizinan": {"role": "collector", "scope": "perizinan"},
        "reader of kota": {"role": "reader", "scope": "kota"},
        "collector of nowhere": {"role": "collector", "scope": "tidak-ada"},
    }
    answers = {
        what: units.post("/v1/keys", json={"name": what, **body}, headers=as_manager)
        for what, body in refusals.items()
    }
    assert {what: (a.status_code, a.json()["type"]) for what, a in answers.items()} == {
        "admin": (403, "urn:skm:problem:forbidden"),
        "manager": (403, "urn:skm:problem:forbidden"),
        "unscoped collector": (403, "urn:skm:problem:forbidden"),
        # Outside its scope is as if the unit did not exist.
        "collector of perizinan": (404, "urn:skm:problem:not-found"),
        "reader of kota": (404, "urn:skm:problem:not-found"),
        "collector of nowhere": (404, "urn:skm:problem:not-found"),
    }
    made = [
        units.post("/v1/keys", json=body, headers=as_manager)
        for body in (
            {"name": "Kiosk capil", "role": "collector", "scope": "capil"},
            {"name": "Dasbor loket", "role": "reader", "scope": "loket", "read_responses": True},
        )
    ]
    assert [m.status_code for m in made] == [201, 201]
    assert [(m.json()["role"], m.json()["scope"], m.json()["created_by"]) for m in made] == [
        ("collector", "capil", manager["id"]),
        ("reader", "loket", manager["id"]),
    ]
    names = [k["name"] for k in units.get("/v1/keys").json()]
    assert names == ["test administrator", "Manajer capil", "Kiosk capil", "Dasbor loket"]


def test_a_manager_sees_and_revokes_only_the_keys_it_could_have_created(
    units: TestClient, admin_token: str
) -> None:
    """Collector and reader keys inside its scope: not a peer manager's key (at its scope
    or below), not its own, not an administrator's, nothing outside its scope."""
    post_unit(units, "loket", "service_unit", parent="capil")
    manager = create_key(units, "Manajer capil", "manager", "capil")
    peer = create_key(units, "Manajer capil 2", "manager", "capil")
    below = create_key(units, "Manajer loket", "manager", "loket")
    kiosk = create_key(units, "Kiosk capil", "collector", "capil")
    reader = create_key(units, "Dasbor loket", "reader", "loket")
    other = create_key(units, "Kiosk perizinan", "collector", "perizinan")
    as_manager = bearer(manager["token"])
    listed = units.get("/v1/keys", headers=as_manager)
    assert listed.status_code == 200, listed.text
    assert [k["name"] for k in listed.json()] == ["Kiosk capil", "Dasbor loket"]
    admin_id = units.get("/v1/keys").json()[0]["id"]
    hidden = (peer["id"], below["id"], manager["id"], other["id"], admin_id)
    for key_id in hidden:
        for answer in (
            units.get(f"/v1/keys/{key_id}", headers=as_manager),
            units.post(f"/v1/keys/{key_id}/revoke", headers=as_manager),
        ):
            assert (answer.status_code, answer.json()["type"]) == (404, "urn:skm:problem:not-found")
    for key in (peer, below, manager, other):
        assert key_row(units, key["id"])["active"] is True
    assert units.get(f"/v1/keys/{reader['id']}", headers=as_manager).status_code == 200
    assert units.post(f"/v1/keys/{kiosk['id']}/revoke", headers=as_manager).status_code == 200
    assert units.get("/v1/units/perizinan", headers=bearer(other["token"])).status_code == 200
    assert units.get("/v1/units/capil", headers=bearer(peer["token"])).status_code == 200
    assert units.get("/v1/units/capil", headers=bearer(admin_token)).status_code == 200
    assert units.get("/v1/units/capil", headers=bearer(kiosk["token"])).status_code == 401


@pytest.fixture
def admin_kept(units: TestClient, admin_token: str, database_url: str) -> Iterator[TestClient]:
    """`units`; should the test's administrator key be revoked after all, it is restored
    afterwards, so that one failure does not fail every later test."""
    yield units
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.execute(
            update(ApiKey)
            .where(ApiKey.token_hash == token_hash(admin_token))
            .values(revoked_at=None)
        )
    engine.dispose()


def test_the_last_active_administrator_key_is_never_revoked(
    admin_kept: TestClient, admin_token: str, database_url: str
) -> None:
    """Revoking it would leave nobody able to manage keys: 409, and the key keeps working.
    A revoked or expired administrator key does not count as another one."""
    admin_id = admin_kept.get("/v1/keys").json()[0]["id"]
    second = create_key(admin_kept, "Admin kedua", "admin", None)
    expiring = create_key(
        admin_kept,
        "Admin sementara",
        "admin",
        None,
        expires_at=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
    )
    expire_now(database_url, expiring["id"])
    # Another active administrator remains: a key may revoke itself.
    itself = admin_kept.post(f"/v1/keys/{second['id']}/revoke", headers=bearer(second["token"]))
    assert (itself.status_code, itself.json()["active"]) == (200, False)
    refused = admin_kept.post(f"/v1/keys/{admin_id}/revoke")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    assert (refused.json()["type"], refused.json()["status"]) == ("urn:skm:problem:last-admin", 409)
    assert key_row(admin_kept, admin_id)["active"] is True
    assert admin_kept.get("/v1/units/capil", headers=bearer(admin_token)).status_code == 200
    # An expired administrator key can still be revoked (it is not the last active one).
    assert admin_kept.post(f"/v1/keys/{expiring['id']}/revoke").status_code == 200
    revoked = [
        e["target"]
        for e in admin_kept.get("/v1/audit").json()["items"]
        if e["action"] == "key.revoke"
    ]
    assert sorted(revoked) == sorted([f"key:{second['id']}", f"key:{expiring['id']}"])


@pytest.fixture
def two_admins(backend: str) -> Iterator[tuple[str, str, str]]:
    """A database of its own with exactly two administrator keys: its URL and their tokens."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite write transactions already take turns")
    name = f"skm_test_{os.getpid()}_admins"
    url = migrated(postgres_database(name))
    try:
        yield url, insert_key(url, name="admin satu"), insert_key(url, name="admin dua")
    finally:
        drop_postgres_database(name)


def waiting_on_locks(url: str) -> int:
    """How many sessions of this database wait for a lock."""
    with connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            (make_url(url).database,),
        ).fetchone()
    assert row is not None
    count = row[0]
    assert isinstance(count, int)
    return count


@pytest.mark.postgresql_only
def test_two_administrators_revoking_each_other_at_once_leave_one_active(
    two_admins: tuple[str, str, str],
) -> None:
    """Both revocations are held at the same point (the administrator rows are locked from
    outside until both requests wait on them), then let go together: without taking the
    rows in turn both would count two active keys and both succeed."""
    url, first, second = two_admins
    with TestClient(create_app(app_settings(url, db_pool_size=3))) as app:
        ids = {k["name"]: k["id"] for k in app.get("/v1/keys", headers=bearer(first)).json()}
        # Each key's use is recorded now, so that nothing else writes its row later.
        assert app.get("/v1/keys", headers=bearer(second)).status_code == 200
        targets = ((first, ids["admin dua"]), (second, ids["admin satu"]))
        answers: list[httpx2.Response] = []

        def revoke(token: str, key_id: int) -> None:
            answers.append(app.post(f"/v1/keys/{key_id}/revoke", headers=bearer(token)))

        with connect(url, autocommit=False) as lock:
            lock.execute("SELECT id FROM api_keys WHERE role = 'admin' FOR UPDATE")
            threads = [threading.Thread(target=revoke, args=target) for target in targets]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 30
            while waiting_on_locks(url) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert waiting_on_locks(url) == 2
            lock.commit()
        for thread in threads:
            thread.join()
        assert sorted(a.status_code for a in answers) == [200, 409]
        [refused] = [a for a in answers if a.status_code == 409]
        assert refused.json()["type"] == "urn:skm:problem:last-admin"
        engine = create_engine(sync_url(url))
        with engine.connect() as conn:
            active = conn.execute(
                select(ApiKey.name).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None))
            ).all()
        engine.dispose()
        assert len(active) == 1


def test_a_key_made_with_the_command_line_has_its_role_and_scope(
    units: TestClient, database_url: str
) -> None:
    command = [sys.executable, "-m", "app.cli", "create-key", "--name", "Kiosk baris perintah"]
    command += ["--role", "collector", "--scope", "capil"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SKM_DATABASE_URL": database_url},
    )
    token = done.stdout.strip()
    assert token.startswith("skm_")
    as_kiosk = bearer(token)
    assert units.get("/v1/units/capil/form", headers=as_kiosk).status_code == 200
    assert units.get("/v1/units/perizinan", headers=as_kiosk).status_code == 404
    assert (
        units.get("/v1/indices/capil", params={"period": YEAR}, headers=as_kiosk).status_code == 403
    )
    [made] = [k for k in units.get("/v1/keys").json() if k["name"] == "Kiosk baris perintah"]
    assert (made["role"], made["scope"], made["created_by"], made["active"]) == (
        "collector",
        "capil",
        None,
        True,
    )


def test_a_unit_a_key_is_scoped_to_is_not_deleted_and_the_key_keeps_working(
    lenient: TestClient,
) -> None:
    hierarchy(lenient)
    post_unit(lenient, "loket", "service_unit", parent="capil")
    key = create_key(lenient, "Kiosk loket", "collector", "loket")
    refused = lenient.delete("/v1/units/loket")
    assert (refused.status_code, refused.headers["content-type"]) == (409, PROBLEM)
    assert lenient.get("/v1/units/loket", headers=bearer(key["token"])).status_code == 200
