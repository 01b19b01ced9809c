"""Posting responses: single and batch, idempotency, refusals with problem details."""

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import all_answers, create_key, make_unit, response_item, scores

PROBLEM = "application/problem+json"


def count(client: TestClient, **params: str) -> int:
    page = client.get("/v1/responses", params={"limit": "500", **params})
    assert page.status_code == 200, page.text
    return len(page.json()["items"])


def only_error(body: dict[str, Any]) -> tuple[str, str]:
    [error] = body["errors"]
    return error["pointer"], error["code"]


def test_single_submission_is_stored_as_sent(mall: TestClient) -> None:
    item = response_item(
        "disdukcapil",
        "ktp",
        scores(4, 3, None, 4, 3, 4, 4, 3, 1),
        profile={"gender": "P", "age_band": "30-39", "education": "D4-S1", "occupation": "SWASTA"},
        suggestion="  Antrian terlalu lama  ",
        channel="paper",  # a blank on a paper form is transcribed as a blank
    )
    created = mall.post("/v1/responses", json=item)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/v1/responses/{item['id']}"
    body = created.json()
    assert body["answers"] == scores(4, 3, None, 4, 3, 4, 4, 3, 1)
    assert body["suggestion"] == "Antrian terlalu lama"
    assert body["profile"]["education"] == "D4-S1"
    fetched = mall.get(f"/v1/responses/{item['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_local_date_is_cut_in_the_units_time_zone(mall: TestClient) -> None:
    # 15:30 UTC is 23:30 WITA (Balikpapan) the same day, and 00:30 WIT (Jayapura) the next.
    make_unit(mall, "jayapura", kind="government", time_zone="Asia/Jayapura", services=("ktp",))
    moment = (datetime.now(UTC) - timedelta(days=2)).replace(
        hour=15, minute=30, second=0, microsecond=0
    )
    for unit, days_ahead in (("disdukcapil", 0), ("jayapura", 1)):
        posted = mall.post(
            "/v1/responses", json=response_item(unit, "ktp", collected_at=moment.isoformat())
        )
        assert posted.status_code == 201, posted.text
        expected = moment.date() + timedelta(days=days_ahead)
        assert posted.json()["local_date"] == expected.isoformat()


def test_retry_with_same_content_is_a_duplicate_with_the_original(mall: TestClient) -> None:
    item = response_item("disdukcapil", "ktp")
    first = mall.post("/v1/responses", json=item)
    again = mall.post("/v1/responses", json=item)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()  # including the original received_at
    # The same instant written with another offset is the same content.
    shifted = dict(
        item,
        collected_at=datetime.fromisoformat(item["collected_at"])
        .astimezone(datetime.fromisoformat("2026-01-01T00:00:00+09:00").tzinfo)
        .isoformat(),
    )
    assert mall.post("/v1/responses", json=shifted).status_code == 200
    assert count(mall) == 1


def test_same_id_with_other_content_is_a_conflict(mall: TestClient) -> None:
    item = response_item("disdukcapil", "ktp")
    assert mall.post("/v1/responses", json=item).status_code == 201
    changed = dict(item, answers=all_answers(1))
    refused = mall.post("/v1/responses", json=changed)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "urn:skm:problem:id-conflict"
    assert mall.get(f"/v1/responses/{item['id']}").json()["answers"] == all_answers(4)


@pytest.mark.parametrize(
    ("change", "pointer", "code"),
    [
        ({"unit": "nowhere"}, "/unit", "unknown_unit"),
        ({"service": "izin-usaha"}, "/service", "unknown_service"),  # offered by another unit
        ({"survey_version_id": 999}, "/survey_version_id", "unknown_survey_version"),
        ({"answers": {**all_answers(4), "keramahan": 4}}, "/answers/keramahan", "extra_forbidden"),
        ({"answers": {**all_answers(4), "waktu": 5}}, "/answers/waktu", "less_than_equal"),
        ({"answers": {**all_answers(4), "waktu": 0}}, "/answers/waktu", "greater_than_equal"),
        ({"answers": {**all_answers(4), "waktu": "4"}}, "/answers/waktu", "int_type"),
        ({"answers": {**all_answers(4), "waktu": None}}, "/answers/waktu", "missing"),
        ({"channel": "fax"}, "/channel", "literal_error"),
        ({"collected_at": "2026-03-01T10:00:00"}, "/collected_at", "timezone_aware"),
        ({"profile": {"gender": "X"}}, "/profile/gender", "literal_error"),
        ({"profile": {"nik": "6471000000000001"}}, "/profile/nik", "extra_forbidden"),
        ({"suggestion": "x" * 1001}, "/suggestion", "string_too_long"),
        ({"id": "not-a-uuid"}, "/id", "uuid_parsing"),
    ],
)
def test_invalid_single_submission_is_refused_and_nothing_stored(
    mall: TestClient, change: dict[str, Any], pointer: str, code: str
) -> None:
    item = {**response_item("disdukcapil", "ktp"), **change}
    refused = mall.post("/v1/responses", json=item)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    body = refused.json()
    assert (body["status"], body["type"]) == (422, "urn:skm:problem:validation")
    assert only_error(body) == (pointer, code)
    assert "6471000000000001" not in refused.text  # input values are never echoed
    assert count(mall) == 0


def test_collected_at_window(mall: TestClient) -> None:
    now = datetime.now(UTC)
    future = response_item("disdukcapil", "ktp", collected_at=now + timedelta(minutes=10))
    old = response_item("disdukcapil", "ktp", collected_at=now - timedelta(days=91))
    late_but_fine = response_item("disdukcapil", "ktp", collected_at=now - timedelta(days=89))
    assert only_error(mall.post("/v1/responses", json=future).json()) == (
        "/collected_at",
        "collected_in_future",
    )
    assert only_error(mall.post("/v1/responses", json=old).json()) == (
        "/collected_at",
        "collected_too_old",
    )
    assert mall.post("/v1/responses", json=late_but_fine).status_code == 201
    assert count(mall) == 1


def test_missing_body_fields_and_malformed_json(mall: TestClient) -> None:
    missing = mall.post("/v1/responses", json={"unit": "disdukcapil"})
    assert missing.status_code == 422
    pointers = {e["pointer"] for e in missing.json()["errors"]}
    assert {
        "/id",
        "/service",
        "/survey_version_id",
        "/channel",
        "/collected_at",
        "/answers",
    } <= pointers
    malformed = mall.post(
        "/v1/responses", content=b'{"unit": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == PROBLEM
    assert malformed.json()["type"] == "urn:skm:problem:malformed-json"


def test_oversized_body_is_refused(mall: TestClient) -> None:
    big = b'{"items": [' + b" " * (4 * 1024 * 1024) + b"]}"
    refused = mall.post(
        "/v1/responses/batch", content=big, headers={"content-type": "application/json"}
    )
    assert refused.status_code == 413
    assert refused.headers["content-type"] == PROBLEM

    def chunks() -> Any:  # no Content-Length: counted as it streams
        yield b'{"items": ['
        for _ in range(5):
            yield b" " * (1024 * 1024)
        yield b"]}"

    streamed = mall.post(
        "/v1/responses/batch", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.json()["status"] == 413


def test_deactivated_unit_keeps_earlier_backlog(mall: TestClient) -> None:
    before = response_item(
        "disdukcapil", "ktp", collected_at=datetime.now(UTC) - timedelta(hours=1)
    )
    assert mall.patch("/v1/units/disdukcapil", json={"active": False}).status_code == 200
    after = response_item("disdukcapil", "ktp", collected_at=datetime.now(UTC))
    assert mall.post("/v1/responses", json=before).status_code == 201
    assert only_error(mall.post("/v1/responses", json=after).json()) == ("/unit", "unit_inactive")


def test_batch_answers_item_by_item_and_keeps_valid_items(mall: TestClient) -> None:
    stored = response_item("disdukcapil", "ktp")
    assert mall.post("/v1/responses", json=stored).status_code == 201
    good = response_item("dpmptsp", "izin-usaha", scores(4, 3, 3, 4, 3, 4, 4, 3, 3))
    bad_score = response_item("disdukcapil", "kk", {**all_answers(3), "sarana": 7})
    wrong_service = response_item("disdukcapil", "izin-usaha")
    conflicting = dict(stored, answers=all_answers(2))
    batch = {"items": [good, stored, bad_score, wrong_service, conflicting, "junk"]}
    answer = mall.post("/v1/responses/batch", json=batch)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [i["status"] for i in body["items"]] == [
        "created",
        "duplicate",
        "invalid",
        "invalid",
        "conflict",
        "invalid",
    ]
    assert (body["created"], body["duplicate"], body["conflict"], body["invalid"]) == (1, 1, 1, 3)
    assert [i["index"] for i in body["items"]] == list(range(6))
    assert only_error(body["items"][2]["problem"]) == ("/items/2/answers/sarana", "less_than_equal")
    assert only_error(body["items"][3]["problem"]) == ("/items/3/service", "unknown_service")
    assert body["items"][5]["problem"]["errors"][0]["pointer"] == "/items/5"
    assert (
        body["items"][1]["response"]["received_at"]
        == mall.get(f"/v1/responses/{stored['id']}").json()["received_at"]
    )
    assert count(mall) == 2


def test_replaying_a_batch_gives_the_same_answers(mall: TestClient) -> None:
    items = [response_item("disdukcapil", "ktp", all_answers(s)) for s in (1, 2, 3, 4)]
    items.append(response_item("disdukcapil", "nope"))
    first = mall.post("/v1/responses/batch", json={"items": items}).json()
    again = mall.post("/v1/responses/batch", json={"items": items}).json()
    assert [i["status"] for i in first["items"]] == ["created"] * 4 + ["invalid"]
    assert [i["status"] for i in again["items"]] == ["duplicate"] * 4 + ["invalid"]
    assert [i["response"] for i in again["items"]] == [i["response"] for i in first["items"]]
    assert again["items"][4]["problem"] == first["items"][4]["problem"]
    assert count(mall) == 4


def test_same_id_twice_in_one_batch(mall: TestClient) -> None:
    item = response_item("disdukcapil", "ktp")
    other = dict(item, answers=all_answers(1))
    body = mall.post("/v1/responses/batch", json={"items": [item, item, other]}).json()
    assert [i["status"] for i in body["items"]] == ["created", "duplicate", "conflict"]
    assert count(mall) == 1


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"items": []}, {("/items", "too_short")}),
        ({"items": [{}] * 501}, {("/items", "batch_size")}),
        ({"responses": []}, {("/items", "missing"), ("/responses", "extra_forbidden")}),
        ([], {("", "model_attributes_type")}),
        ({"items": [{}], "extra": 1}, {("/extra", "extra_forbidden")}),
    ],
)
def test_batch_envelope_is_checked(
    mall: TestClient, payload: Any, errors: set[tuple[str, str]]
) -> None:
    """The envelope is validated like any body (every field at fault named); the configured
    SKM_MAX_BATCH_ITEMS is checked after it."""
    refused = mall.post("/v1/responses/batch", json=payload)
    assert refused.status_code == 422
    assert {(e["pointer"], e["code"]) for e in refused.json()["errors"]} == errors


def test_batch_malformed_json(mall: TestClient) -> None:
    refused = mall.post(
        "/v1/responses/batch", content=b"[{", headers={"content-type": "application/json"}
    )
    assert refused.status_code == 400
    assert refused.json()["type"] == "urn:skm:problem:malformed-json"


def test_concurrent_identical_submissions_store_one(mall: TestClient) -> None:
    item = response_item("disdukcapil", "ktp")
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def post() -> None:
        barrier.wait()
        statuses.append(mall.post("/v1/responses", json=item).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 7 + [201]
    assert count(mall) == 1


@pytest.mark.parametrize("items", [["junk"], [{"unit": "disdukcapil"}]])
def test_a_batch_without_a_valid_item_is_refused_for_its_key_first(
    mall: TestClient, items: list[Any]
) -> None:
    """No item to store: the key is still read, and an unknown key (401) or a role that may
    not submit (403) is refused before the items' problems are told."""
    path = "/v1/responses/batch"
    unknown = mall.post(path, json={"items": items}, headers={"Authorization": "Bearer skm_x"})
    assert unknown.status_code == 401, unknown.text
    reader = create_key(mall, "dashboard", "reader", "mpp")["token"]
    refused = mall.post(path, json={"items": items}, headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403, refused.text
    answer = mall.post(path, json={"items": items})
    assert answer.status_code == 200, answer.text
    assert [i["status"] for i in answer.json()["items"]] == ["invalid"]


def test_concurrent_overlapping_batches_store_each_once(mall: TestClient) -> None:
    items = [response_item("disdukcapil", "ktp", all_answers(1 + i % 4)) for i in range(40)]
    batches = [items[0:30], items[10:40], items[::-1]]
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(len(batches))

    def post(batch: list[dict[str, Any]]) -> None:
        barrier.wait()
        results.append(mall.post("/v1/responses/batch", json={"items": batch}).json())

    threads = [threading.Thread(target=post, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r["created"] for r in results) == 40
    assert sum(r["duplicate"] for r in results) == 30 + 30 + 40 - 40
    assert count(mall) == 40


# The submission endpoints serve a JSON body themselves (app.dependencies.DirectRoute); any
# other JSON content type goes through FastAPI's handler. Both must answer alike.
DIRECT, DECLARED = "application/json", "application/vnd.skm+json"


def _answer(response: Any) -> tuple[int, Any, dict[str, str | None]]:
    """Status, body and headers, without what differs between two requests of the same kind (ids,
    times: the two are sent an hour apart, or identical answers would be a burst)."""
    body = response.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
        for item in [body, *body.get("items", [])]:
            for stored in (item.get("response"), item):
                if isinstance(stored, dict):
                    for differs in ("id", "received_at", "collected_at", "local_date"):
                        stored.pop(differs, None)
    kept = ("content-type", "www-authenticate", "retry-after")
    return response.status_code, body, {h: response.headers.get(h) for h in kept}


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_direct_submissions_answer_as_fastapis_handler_does(mall: TestClient, batch: bool) -> None:
    path = "/v1/responses/batch" if batch else "/v1/responses"
    now = datetime.now(UTC)
    reader = create_key(mall, "dashboard", "reader", "mpp")["token"]

    def body(hour: int, unit: str = "disdukcapil", **fields: Any) -> bytes:
        when = (now - timedelta(hours=hour)).isoformat()
        item = response_item(unit, "ktp", collected_at=when, **fields)
        return json.dumps({"items": [item]} if batch else item).encode()

    def refused_whole(_hour: int) -> bytes:  # by the body's schema
        return json.dumps({"items": []} if batch else {"id": 1}).encode()

    cases: list[tuple[Callable[[int], bytes], dict[str, str]]] = [
        (body, {}),  # stored
        (lambda hour: body(hour, unit="nowhere"), {}),  # an unknown unit
        (lambda hour: body(hour, channel="fax"), {}),  # invalid against the schema
        (refused_whole, {}),
        (lambda _hour: b'{"items": [', {}),  # malformed JSON
        (lambda hour: body(hour, channel="fax"), {"Authorization": ""}),  # no key
        (body, {"Authorization": "Bearer skm_unknown"}),  # an unknown key
        # An unknown key and an invalid body: the key is refused first.
        (lambda hour: body(hour, channel="fax"), {"Authorization": "Bearer skm_unknown"}),
        (body, {"Authorization": f"Bearer {reader}"}),  # a role that may not submit
    ]
    seen = set()
    for content, headers in cases:
        answers = [
            _answer(
                mall.post(path, content=content(hour), headers={**headers, "Content-Type": kind})
            )
            for hour, kind in ((1, DIRECT), (2, DECLARED))
        ]
        assert answers[0] == answers[1], (content(1), headers)
        seen.add(answers[0][0])
    assert seen == ({200, 400, 401, 403, 422} if batch else {201, 400, 401, 403, 422})
