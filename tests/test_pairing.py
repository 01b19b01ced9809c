"""Pairing codes: created by a manager, exchanged once and within minutes for a key of the
kiosk's or dashboard's own; a key paired for some services submits for those only."""

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from tests.factories import PROBLEM, all_answers, create_key, keyless, response_item

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def new_code(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"unit": "capil", "role": "collector", "name": "Kiosk 1 MPP", **fields}
    made = client.post("/v1/pairing-codes", json=body)
    assert made.status_code == 201, made.text
    created: dict[str, Any] = made.json()
    return created


def exchange(client: TestClient, code: str) -> httpx2.Response:
    return keyless(client, "POST", "/v1/pairing-codes/exchange", json={"code": code})


def bearer_post(client: TestClient, token: str, url: str, body: dict[str, Any]) -> httpx2.Response:
    return client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})


def test_a_code_is_exchanged_once_for_a_collector_key_scoped_to_its_unit(
    units: TestClient,
) -> None:
    created = new_code(units, expires_in_minutes=10)
    assert CODE.match(created["code"]), created["code"]
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)
    # Typed in lower case, without its dash: the same code.
    paired = exchange(units, created["code"].lower().replace("-", ""))
    assert paired.status_code == 201, paired.text
    key = paired.json()
    assert (key["role"], key["scope"], key["name"]) == ("collector", "capil", "Kiosk 1 MPP")
    token = key["token"]
    posted = bearer_post(units, token, "/v1/responses", response_item("capil", "ktp"))
    assert posted.status_code == 201, posted.text
    outside = bearer_post(units, token, "/v1/responses", response_item("perizinan", "izin"))
    assert outside.status_code == 422
    again = exchange(units, created["code"])
    assert again.status_code == 400
    # The exchange is audited like a key's creation.
    log = units.get("/v1/audit", params={"action": "key.pair"}).json()["items"]
    assert [(e["target"], e["key_id"]) for e in log] == [(f"key:{key['id']}", key["id"])]
    # A paired kiosk is revoked like any key.
    assert units.post(f"/v1/keys/{key['id']}/revoke").status_code == 200
    revoked = bearer_post(units, token, "/v1/responses", response_item("capil", "ktp"))
    assert revoked.status_code == 401


def test_unknown_used_and_expired_codes_get_one_and_the_same_answer(
    units: TestClient, reset_engine: Engine
) -> None:
    used = new_code(units)["code"]
    assert exchange(units, used).status_code == 201
    expired = new_code(units, name="Kiosk 2")
    with reset_engine.begin() as conn:
        conn.execute(
            text("UPDATE pairing_codes SET expires_at = :t WHERE id = :id"),
            {"t": datetime.now(UTC) - timedelta(seconds=1), "id": expired["id"]},
        )
    answers = [exchange(units, c) for c in (used, expired["code"], "ZZZZ-ZZZZ", "not a code")]
    summaries = {
        (a.status_code, a.headers["content-type"], a.json()["type"], str(a.json()["errors"]))
        for a in answers
    }
    assert summaries == {
        (
            400,
            PROBLEM,
            "urn:skm:problem:invalid-pairing-code",
            str(
                [
                    {
                        "pointer": "/code",
                        "detail": "not a valid pairing code",
                        "code": "invalid_pairing_code",
                    }
                ]
            ),
        )
    }


def test_two_exchanges_at_once_give_exactly_one_key(units: TestClient) -> None:
    code = new_code(units)["code"]
    answers: list[int] = []
    barrier = threading.Barrier(6)

    def attempt() -> None:
        barrier.wait()
        answers.append(exchange(units, code).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201] + [400] * 5
    paired = [k for k in units.get("/v1/keys").json() if k["name"] == "Kiosk 1 MPP"]
    assert len(paired) == 1


def test_a_key_paired_for_some_services_is_refused_the_others(units: TestClient) -> None:
    made = units.post("/v1/units/capil/services", json={"code": "kk", "name": "Kartu Keluarga"})
    assert made.status_code == 201, made.text
    created = new_code(units, services=["kk"])
    assert created["services"] == ["kk"]
    paired = exchange(units, created["code"]).json()
    assert paired["services"] == ["kk"]
    token = paired["token"]
    allowed = bearer_post(units, token, "/v1/responses", response_item("capil", "kk"))
    assert allowed.status_code == 201, allowed.text
    refused = bearer_post(units, token, "/v1/responses", response_item("capil", "ktp"))
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "pointer": "/service",
            "detail": "this key or ticket is not for this service",
            "code": "service_not_allowed",
        }
    ]
    batch = bearer_post(
        units,
        token,
        "/v1/responses/batch",
        {"items": [response_item("capil", "ktp", all_answers(2))]},
    )
    [item] = batch.json()["items"]
    assert item["status"] == "invalid"
    assert item["problem"]["errors"][0]["pointer"] == "/items/0/service"


def test_tickets_from_a_key_paired_for_some_services_admit_those_only(
    units: TestClient,
) -> None:
    made = units.post("/v1/units/capil/services", json={"code": "kk", "name": "Kartu Keluarga"})
    assert made.status_code == 201, made.text
    assert units.patch("/v1/units/capil", json={"requires_ticket": True}).status_code == 200
    token = exchange(units, new_code(units, services=["kk"])["code"]).json()["token"]
    issued = bearer_post(units, token, "/v1/units/capil/tickets", {"count": 2})
    assert issued.status_code == 200, issued.text
    first, second = issued.json()["tickets"]

    def public(service: str, ticket: str) -> httpx2.Response:
        item = {**response_item("capil", service, channel="web"), "ticket": ticket}
        return keyless(units, "POST", "/v1/public/responses", json=item)

    refused = public("ktp", first)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {
            "pointer": "/service",
            "detail": "this key or ticket is not for this service",
            "code": "service_not_allowed",
        }
    ]
    assert public("kk", first).status_code == 201
    # A manager's ticket (its key is for every service) admits any of the unit's services.
    [managers] = units.post("/v1/units/capil/tickets", json={"count": 1}).json()["tickets"]
    assert public("ktp", managers).status_code == 201
    assert public("kk", second).status_code == 201


def test_what_a_code_may_hold(units: TestClient) -> None:
    def refused(**fields: Any) -> list[tuple[str, str]]:
        body = {"unit": "capil", "role": "collector", "name": "Kiosk", **fields}
        answer = units.post("/v1/pairing-codes", json=body)
        assert answer.status_code == 422, answer.text
        return [(e["pointer"], e["code"]) for e in answer.json()["errors"]]

    assert refused(services=["tidak-ada"])[0][0] == "/services/0"
    assert refused(role="reader", services=["ktp"]) == [("/services", "not_allowed")]
    assert refused(role="manager")[0][0] == "/role"
    assert refused(expires_in_minutes=61)[0][0] == "/expires_in_minutes"
    assert refused(expires_in_minutes=0)[0][0] == "/expires_in_minutes"


def test_a_manager_pairs_inside_its_scope_lists_and_withdraws_pending_codes(
    units: TestClient,
) -> None:
    manager = create_key(units, "Manajer capil", "manager", "capil")["token"]
    as_manager = {"Authorization": f"Bearer {manager}"}
    body = {"unit": "capil", "role": "reader", "name": "Dasbor capil"}
    made = units.post("/v1/pairing-codes", json=body, headers=as_manager)
    assert made.status_code == 201, made.text
    outside = units.post("/v1/pairing-codes", json=body | {"unit": "perizinan"}, headers=as_manager)
    assert outside.status_code == 404
    listed = units.get("/v1/pairing-codes", params={"unit": "capil"}, headers=as_manager)
    assert [c["id"] for c in listed.json()] == [made.json()["id"]]
    assert "code" not in listed.json()[0]
    gone = units.delete(f"/v1/pairing-codes/{made.json()['id']}", headers=as_manager)
    assert gone.status_code == 204
    assert exchange(units, made.json()["code"]).status_code == 400
    assert units.get("/v1/pairing-codes", params={"unit": "capil"}).json() == []


@pytest.mark.parametrize("typed", ["abcd-efgh", "ABCD EFGH", "abcdefgh"])
def test_a_code_is_read_whatever_its_case_spaces_and_dash(typed: str) -> None:
    from app.pairing import normalized

    assert normalized(typed) == "ABCD-EFGH"
    assert normalized("0O1I-L000") == "0011-1000"
    assert normalized("ABCD-EFGU") == ""


def test_a_code_dies_with_the_key_that_made_it_and_with_its_unit(units: TestClient) -> None:
    """A manager's key revoked (say, lost): the codes it made are refused like unknown ones;
    so is a code of a unit deactivated since."""
    made = create_key(units, "Manajer capil", "manager", "capil")
    as_manager = {"Authorization": f"Bearer {made['token']}"}
    body = {"unit": "capil", "role": "collector", "name": "Kiosk"}
    code = units.post("/v1/pairing-codes", json=body, headers=as_manager)
    assert code.status_code == 201, code.text
    assert units.post(f"/v1/keys/{made['id']}/revoke").status_code == 200
    refused = exchange(units, code.json()["code"])
    assert refused.status_code == 400
    assert refused.json()["type"] == "urn:skm:problem:invalid-pairing-code"
    second = units.post("/v1/pairing-codes", json=body)  # the administrator's, still valid
    assert second.status_code == 201, second.text
    assert units.patch("/v1/units/capil", json={"active": False}).status_code == 200
    assert exchange(units, second.json()["code"]).status_code == 400
