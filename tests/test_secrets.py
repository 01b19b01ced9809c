"""Secrets and free text kept out of logs and error bodies: keys, tickets and citizens'
suggestions, with SQL logging on too; a NUL character is refused naming the field.
"""

import logging
import uuid
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.conftest import (
    bearer,
)
from tests.factories import (
    all_answers,
    create_key,
    hierarchy,
    keyless,
    response_item,
)

SUGGESTION = "Petugas loket 3 meminta uang tambahan, nama saya Siti Rahmawati"
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "starlette", "app")


def leaks(
    caplog: pytest.LogCaptureFixture, secrets: tuple[str, ...], source: str = ""
) -> list[str]:
    """Log records (message, arguments, traceback) mentioning any of the secrets, of the
    loggers whose name starts with `source` (all by default)."""
    found = []
    for record in caplog.records:
        if not record.name.startswith(source):
            continue
        text = " ".join(
            (record.getMessage(), repr(record.args), record.exc_text or "", str(record.exc_info))
        )
        found += [f"{record.name}: {text[:200]}" for s in secrets if s in text]
    return found


def secret_bearing_requests(
    client: TestClient, token: str, revoked_token: str, ticket: str
) -> dict[str, httpx2.Response]:
    """Requests carrying a key, a ticket and a suggestion, all but the first refused."""
    item = response_item("capil", "ktp", suggestion=SUGGESTION)
    as_kiosk = bearer(token)
    wrong = {**all_answers(4), "waktu": 5}
    malformed = b'{"unit": "capil", "suggestion": "' + SUGGESTION.encode() + b'", '
    public = {**response_item("capil", "ktp", suggestion=SUGGESTION), "ticket": ticket}
    out_of_scope = {**item, "id": str(uuid.uuid4()), "unit": "perizinan", "service": "izin"}

    def submit(body: dict[str, Any], headers: dict[str, str] = as_kiosk) -> httpx2.Response:
        return client.post("/v1/responses", json=body, headers=headers)

    def public_submit(body: dict[str, Any]) -> httpx2.Response:
        return keyless(client, "POST", "/v1/public/responses", json=body)

    return {
        "stored": submit(item),
        "score out of range": submit({**item, "answers": wrong}),
        "unknown field": submit({**item, "nama": SUGGESTION}),
        "suggestion not a string": submit({**item, "suggestion": [SUGGESTION]}),
        "suggestion too long": submit({**item, "suggestion": SUGGESTION * 20}),
        "malformed JSON": client.post(
            "/v1/responses",
            content=malformed,
            headers={**as_kiosk, "Content-Type": "application/json"},
        ),
        "unit out of scope": submit(out_of_scope),
        "invalid batch items": client.post(
            "/v1/responses/batch",
            json={"items": [{**item, "answers": wrong}, {**item, "channel": "fax"}]},
            headers=as_kiosk,
        ),
        "revoked key": submit(item, bearer(revoked_token)),
        "not a bearer scheme": submit(item, {"Authorization": f"Token {token}"}),
        "unknown key": submit(item, bearer(token + "x")),
        "forbidden": client.get("/v1/audit", headers=as_kiosk),
        "public, kiosk channel": public_submit({**public, "channel": "kiosk"}),
        "public, unknown service": public_submit(
            {**public, "channel": "web", "service": "tidak-ada"}
        ),
        "public, score out of range": public_submit({**public, "answers": wrong}),
        "public, ticket too long": public_submit({**public, "ticket": ticket * 9}),
    }


def test_keys_tickets_and_suggestions_never_reach_logs_or_error_bodies(
    units: TestClient,
    caplog: pytest.LogCaptureFixture,
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    units.patch("/v1/units/capil", json={"requires_ticket": True})
    [ticket] = units.post("/v1/units/capil/tickets", json={"count": 1}).json()["tickets"]
    token = create_key(units, "Kiosk capil", "collector", "capil")["token"]
    revoked = create_key(units, "Kiosk lama", "collector", "capil")
    units.post(f"/v1/keys/{revoked['id']}/revoke")
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    answers = secret_bearing_requests(units, token, revoked["token"], ticket)
    assert {what: a.status_code for what, a in answers.items()} == {
        "stored": 201,
        "score out of range": 422,
        "unknown field": 422,
        "suggestion not a string": 422,
        "suggestion too long": 422,
        "malformed JSON": 400,
        "unit out of scope": 422,
        "invalid batch items": 200,
        "revoked key": 401,
        "not a bearer scheme": 401,
        "unknown key": 401,
        "forbidden": 403,
        "public, kiosk channel": 422,
        "public, unknown service": 422,
        "public, score out of range": 422,
        "public, ticket too long": 422,
    }
    secrets = (token, revoked["token"], ticket, SUGGESTION)
    shown = {what: [s for s in secrets if s in answer.text] for what, answer in answers.items()}
    assert {what: found for what, found in shown.items() if found and what != "stored"} == {}
    assert leaks(caplog, secrets) == []
    assert caplog.records  # logging was indeed captured (the test client's request lines)


def test_suggestions_stay_out_of_the_log_with_sql_logging_on(
    units: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = create_key(units, "Kiosk capil", "collector", "capil")["token"]
    # "sqlalchemy.engine" too: alembic.ini sets its level when migrations ran in this process.
    for name in (*LOGGERS, "sqlalchemy", "sqlalchemy.engine"):
        caplog.set_level(logging.DEBUG, logger=name)
    item = response_item("capil", "ktp", suggestion=SUGGESTION)
    assert units.post("/v1/responses", json=item, headers=bearer(token)).status_code == 201
    # On PostgreSQL the submission runs on the raw driver and the engine connected at startup
    # (the import jobs' resumption), so a read through SQLAlchemy shows that SQL is logged.
    assert units.get("/v1/units/capil").status_code == 200
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert leaks(caplog, (token, SUGGESTION), source="sqlalchemy") == []


def test_a_suggestion_with_a_nul_character_is_refused_naming_the_field(
    lenient: TestClient,
) -> None:
    hierarchy(lenient)
    item = response_item("capil", "ktp", suggestion="Antrian\x00lama")
    refused = lenient.post("/v1/responses", json=item)
    assert refused.status_code == 422, refused.text
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/suggestion"]
