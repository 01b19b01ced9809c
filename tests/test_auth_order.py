"""Refused before a connection: a request refused for want of a key, for an unknown key on an
ORM session's endpoint, or for being over its public rate limit takes no pooled connection
and does not ask for SQLite's write turn, on every endpoint, whatever the order of the
endpoint's parameters (sessions and connections depend on the caller: app/dependencies.py).
"""

import math
import re
import time
import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.main import KEYLESS_PATHS, create_app
from tests.conftest import app_settings, bearer
from tests.factories import response_item

PATH_PARAMETER = re.compile(r"{(\w+)}")
# A value for each path parameter: well-formed, so that nothing but the caller is refused.
PATH_VALUES = {
    "code": "capil",
    "service": "ktp",
    "key_id": "7",
    "import_id": "7",
    "response_id": str(uuid.UUID(int=7)),
    "version": "2",
    "version_id": "3",
    "period": "2026-01",
    "item_id": "7",
    "publication_id": "5",
    "code_id": "7",
}


def key_read_on_its_connection(operation: str) -> bool:
    """Whether the endpoint reads the caller's key on its own Core connection (taken first)."""
    submission = operation in ("POST /v1/responses", "POST /v1/responses/batch")
    read_connection = (
        operation.startswith(("GET /v1/indices/", "GET /v1/compliance/", "GET /v1/reminders/"))
        or operation == "GET /v1/units/capil/required-periods"
    )
    return submission or read_connection


@dataclass
class Taken:
    """What an app's requests took: pooled connections, and turns of SQLite's single writer
    asked for (`Database.write_turn`: counted on PostgreSQL too, where it waits for nothing)."""

    connections: int = 0
    write_turns: int = 0

    def checkout(self, *_: object) -> None:
        self.connections += 1


def watched(client: TestClient) -> Taken:
    taken = Taken()
    database = client.app.state.database  # type: ignore[attr-defined]
    event.listen(database.engine.sync_engine.pool, "checkout", taken.checkout)
    write_turn = database.write_turn

    def counted_write_turn() -> object:
        taken.write_turns += 1
        return write_turn()

    database.write_turn = counted_write_turn
    return taken


def operations(client: TestClient, public: bool) -> list[str]:
    """Every operation of the API under /v1 ("METHOD /path"), public (keyless: /v1/public/…
    and the exchange of a pairing code) or keyed."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [
        f"{method.upper()} {PATH_PARAMETER.sub(lambda m: PATH_VALUES[m[1]], path)}"
        for path, item in paths.items()
        if path.startswith("/v1/") and (KEYLESS_PATHS.match(path) is not None) == public
        for method in item
    ]


def call(client: TestClient, operation: str, headers: dict[str, str] | None = None) -> int:
    method, url = operation.split(" ")
    body = response_item("capil", "ktp", channel="mobile") if method != "GET" else None
    return client.request(method, url, json=body, headers=headers).status_code


def test_a_request_without_a_key_is_refused_before_it_takes_anything(database_url: str) -> None:
    with TestClient(create_app(app_settings(database_url))) as app:
        taken = watched(app)
        answers = {operation: call(app, operation) for operation in operations(app, False)}
    assert "POST /v1/units" in answers
    assert "POST /v1/responses" in answers
    assert answers == dict.fromkeys(answers, 401)
    assert taken == Taken(0, 0)


def test_an_unknown_key_is_refused_before_a_session_asks_for_the_write_turn(
    database_url: str,
) -> None:
    """On an ORM session's endpoint the key is read first, on a connection of its own: a
    write session does not queue for SQLite's writer for a request it will refuse."""
    with TestClient(create_app(app_settings(database_url))) as app:
        taken = watched(app)
        answers = {
            operation: call(app, operation, bearer("skm_unknown"))
            for operation in operations(app, False)
            if not key_read_on_its_connection(operation)
        }
    assert "PATCH /v1/units/capil" in answers
    assert answers == dict.fromkeys(answers, 401)
    assert taken.write_turns == 0
    assert taken.connections == len(answers)  # the key's own, one per request


@pytest.fixture
def stopped_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """`time.time` (the rate limits' clock) held in the middle of the current minute, so that
    a test's requests fall in one window of a '/minute' limit."""
    now = math.floor(time.time() / 60) * 60 + 30
    monkeypatch.setattr(time, "time", lambda: now)


@pytest.mark.usefixtures("stopped_clock")
def test_a_client_over_its_public_limit_is_refused_before_it_takes_anything(
    database_url: str,
) -> None:
    """Whatever the public endpoint: a rate-limited citizen's submission does not take the
    writer's turn before its 429."""
    settings = app_settings(database_url, rate_limit_public="1/minute")
    with TestClient(create_app(settings)) as app:
        first = call(app, "GET /v1/public/units/capil/form")
        taken = watched(app)
        answers = {operation: call(app, operation) for operation in operations(app, True)}
    assert first != 429
    assert "POST /v1/public/responses" in answers
    assert "POST /v1/pairing-codes/exchange" in answers
    assert answers == dict.fromkeys(answers, 429)
    assert taken == Taken(0, 0)
