"""The audit log: administrative changes with the key's id and name; only administrators read it."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import (
    bearer,
)
from tests.factories import (
    create_key,
    refusal,
    review_second,
)


def test_administrative_changes_are_in_the_audit_log_with_the_keys_id_and_name(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    manager = create_key(units, "Manajer capil", "manager", "capil")
    as_manager = bearer(manager["token"])
    body = {"code": "loket", "name": "Loket 1", "kind": "service_unit", "parent": "capil"}
    assert units.post("/v1/units", json=body, headers=as_manager).status_code == 201
    patch = {"name": "Loket satu"}
    assert units.patch("/v1/units/loket", json=patch, headers=as_manager).status_code == 200
    key_body = {"name": "Kiosk loket", "role": "collector", "scope": "loket"}
    key = units.post("/v1/keys", json=key_body, headers=as_manager).json()
    assert units.post(f"/v1/keys/{key['id']}/revoke", headers=as_manager).status_code == 200
    second, cleared = review_second(units, kiosks[0], "clear", headers=as_manager)
    assert cleared.status_code == 200
    log = units.get("/v1/audit")
    assert log.status_code == 200, log.text
    entries = [
        (e["key_id"], e["key_name"], e["action"], e["target"], e["details"])
        for e in reversed(log.json()["items"])
        if e["key_id"] == manager["id"]
    ]
    who = (manager["id"], "Manajer capil")
    assert entries == [
        (
            *who,
            "unit.create",
            "unit:loket",
            {
                **body,
                "time_zone": None,
                "survey_version_id": None,
                "public": False,
                "requires_ticket": False,
            },
        ),
        (*who, "unit.update", "unit:loket", patch),
        (
            *who,
            "key.create",
            f"key:{key['id']}",
            {**key_body, "read_responses": False, "expires_at": None},
        ),
        (*who, "key.revoke", f"key:{key['id']}", None),
        (*who, "flag.clear", f"response:{second}", {"flag": "cleared"}),
    ]
    for entry in log.json()["items"]:
        at = datetime.fromisoformat(entry["at"])
        assert datetime.now(UTC) - timedelta(minutes=5) < at <= datetime.now(UTC)


@pytest.mark.parametrize("role", ["manager", "collector", "reader"])
def test_only_administrators_read_the_audit_log(units: TestClient, role: str) -> None:
    token = create_key(units, f"Kunci {role}", role, "capil")["token"]
    refused = units.get("/v1/audit", headers=bearer(token))
    assert refusal(refused) == (403, "urn:skm:problem:forbidden", f"A {role} key cannot do this.")
