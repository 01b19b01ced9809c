"""One-time counter tickets: a ticket admits exactly one response, even used concurrently."""

import threading
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from tests.factories import (
    PROBLEM,
    all_answers,
    keyless,
    only_error,
    refusal,
    response_item,
)


@pytest.fixture
def ticketed(units: TestClient) -> TestClient:
    """capil needs a one-time ticket for each public response."""
    changed = units.patch("/v1/units/capil", json={"requires_ticket": True})
    assert changed.json()["requires_ticket"] is True
    return units


def issue(client: TestClient, count: int = 1) -> list[str]:
    issued = client.post("/v1/units/capil/tickets", json={"count": count})
    assert issued.status_code == 200, issued.text
    tickets: list[str] = issued.json()["tickets"]
    return tickets


def stored_ids(client: TestClient, unit: str) -> list[str]:
    page = client.get("/v1/responses", params={"unit": unit, "limit": "500"})
    assert page.status_code == 200, page.text
    return [r["id"] for r in page.json()["items"]]


def test_a_ticket_used_concurrently_admits_exactly_one_response(ticketed: TestClient) -> None:
    [ticket] = issue(ticketed)
    items = [
        {**response_item("capil", "ktp", all_answers(1 + i % 4), channel="web"), "ticket": ticket}
        for i in range(8)
    ]
    answers: dict[str, httpx2.Response] = {}
    barrier = threading.Barrier(len(items))

    def post(item: dict[str, Any]) -> None:
        barrier.wait()
        answers[item["id"]] = keyless(ticketed, "POST", "/v1/public/responses", json=item)

    threads = [threading.Thread(target=post, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers.values())
    assert statuses == [201] + [409] * 7
    [winner] = [i for i in items if answers[i["id"]].status_code == 201]
    refused = {
        (a.json()["type"], a.headers["content-type"])
        for a in answers.values()
        if a.status_code == 409
    }
    assert refused == {("urn:skm:problem:ticket-used", PROBLEM)}
    assert stored_ids(ticketed, "capil") == [winner["id"]]
    retry = keyless(ticketed, "POST", "/v1/public/responses", json=winner)
    assert retry.status_code == 200
    assert retry.json() == answers[winner["id"]].json()
    assert stored_ids(ticketed, "capil") == [winner["id"]]


def test_a_used_ticket_refuses_another_response_and_other_tickets_still_work(
    ticketed: TestClient,
) -> None:
    first, second = issue(ticketed, 2)
    used = {**response_item("capil", "ktp", channel="mobile"), "ticket": first}
    assert keyless(ticketed, "POST", "/v1/public/responses", json=used).status_code == 201
    other = {**response_item("capil", "ktp", channel="mobile"), "ticket": first}
    refused = keyless(ticketed, "POST", "/v1/public/responses", json=other)
    assert refusal(refused) == (409, "urn:skm:problem:ticket-used", "This ticket was already used.")
    without = keyless(
        ticketed,
        "POST",
        "/v1/public/responses",
        json={k: v for k, v in other.items() if k != "ticket"},
    )
    assert (without.status_code, only_error(without.json())) == (422, ("/ticket", "missing"))
    with_second = keyless(
        ticketed, "POST", "/v1/public/responses", json={**other, "ticket": second}
    )
    assert with_second.status_code == 201
    assert sorted(stored_ids(ticketed, "capil")) == sorted([used["id"], other["id"]])
