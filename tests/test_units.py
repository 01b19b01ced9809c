"""Administration of the hierarchy: units (codes, tree, time zones, moves) and their services."""

import base64
import json
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import (
    PROBLEM,
    make_unit,
    make_variant,
    only_error,
    response_item,
    store,
)


def unit(client: TestClient, code: str) -> dict[str, Any]:
    got = client.get(f"/v1/units/{code}")
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def zones(client: TestClient, *codes: str) -> dict[str, tuple[str, bool]]:
    """code → (time_zone, time_zone_inherited)."""
    return {c: (u["time_zone"], u["time_zone_inherited"]) for c in codes for u in [unit(client, c)]}


def codes(page: dict[str, Any]) -> list[str]:
    return [u["code"] for u in page["items"]]


def cursor_of(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


# --- create and read -----------------------------------------------------------------------


def test_created_unit_is_answered_with_location_and_reads_back_the_same(
    client: TestClient,
) -> None:
    created = client.post(
        "/v1/units",
        json={
            "code": "kota-balikpapan",
            "name": "  Pemerintah Kota Balikpapan  ",
            "kind": "government",
            "time_zone": "Asia/Makassar",
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/units/kota-balikpapan"
    body = created.json()
    expected: dict[str, Any] = {
        "code": "kota-balikpapan",
        "name": "Pemerintah Kota Balikpapan",  # surrounding spaces stripped
        "kind": "government",
        "parent": None,
        "ancestors": [],
        "time_zone": "Asia/Makassar",
        "time_zone_inherited": False,
        "survey_version_id": None,
        "active": True,
        "deactivated_at": None,
    }
    assert {k: body[k] for k in expected} == expected
    assert datetime.fromisoformat(body["created_at"]).utcoffset() is not None
    assert body["updated_at"] == body["created_at"]
    assert unit(client, "kota-balikpapan") == body


def test_root_without_a_time_zone_gets_asia_jakarta_as_inherited(client: TestClient) -> None:
    body = make_unit(client, "kabupaten", kind="government")
    assert (body["time_zone"], body["time_zone_inherited"]) == ("Asia/Jakarta", True)


def test_child_inherits_the_parents_zone_and_lists_its_ancestors_from_the_root(
    mall: TestClient,
) -> None:
    body = unit(mall, "disdukcapil")
    assert body["parent"] == "mpp"
    assert body["ancestors"] == ["kota", "mpp"]
    assert (body["time_zone"], body["time_zone_inherited"]) == ("Asia/Makassar", True)
    assert unit(mall, "mpp")["ancestors"] == ["kota"]


def test_child_with_its_own_zone_keeps_it(mall: TestClient) -> None:
    body = make_unit(mall, "loket-papua", parent="mpp", time_zone="Asia/Jayapura")
    assert (body["time_zone"], body["time_zone_inherited"]) == ("Asia/Jayapura", False)


def test_longest_allowed_code_is_accepted(client: TestClient) -> None:
    assert make_unit(client, "a" * 64)["code"] == "a" * 64


def test_duplicate_unit_code_is_a_conflict_and_keeps_the_first(mall: TestClient) -> None:
    again = mall.post("/v1/units", json={"code": "mpp", "name": "Lain", "kind": "agency"})
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    body = again.json()
    assert (body["status"], body["type"]) == (409, "urn:skm:problem:code-taken")
    assert (unit(mall, "mpp")["name"], unit(mall, "mpp")["kind"]) == ("Unit mpp", "service_mall")


@pytest.mark.parametrize(
    ("change", "pointer", "code"),
    [
        ({"code": "Disdukcapil"}, "/code", "string_pattern_mismatch"),
        ({"code": "dinas_kesehatan"}, "/code", "string_pattern_mismatch"),
        ({"code": "dinas kesehatan"}, "/code", "string_pattern_mismatch"),
        ({"code": "-dinkes"}, "/code", "string_pattern_mismatch"),
        ({"code": "dinkes-"}, "/code", "string_pattern_mismatch"),
        ({"code": ""}, "/code", "string_pattern_mismatch"),
        ({"code": "a" * 65}, "/code", "string_pattern_mismatch"),
        ({"name": "x" * 201}, "/name", "string_too_long"),
        ({"name": "   "}, "/name", "string_too_short"),
        ({"kind": "kementerian"}, "/kind", "literal_error"),
        ({"parent": "Kota"}, "/parent", "string_pattern_mismatch"),
        ({"parent": "nowhere"}, "/parent", "unknown_unit"),
        ({"time_zone": "Asia/Balikpapan"}, "/time_zone", "value_error"),
        ({"time_zone": "WITA"}, "/time_zone", "value_error"),
        ({"time_zone": "+08:00"}, "/time_zone", "value_error"),
        ({"time_zone": "A" * 65}, "/time_zone", "string_too_long"),
        ({"survey_version_id": 999999}, "/survey_version_id", "unknown_survey_version"),
        ({"nik": "6471000000000001"}, "/nik", "extra_forbidden"),
    ],
)
def test_invalid_unit_is_refused_naming_the_field(
    mall: TestClient, change: dict[str, Any], pointer: str, code: str
) -> None:
    body = {"code": "dinkes", "name": "Dinas Kesehatan", "kind": "agency", "parent": "mpp"}
    refused = mall.post("/v1/units", json={**body, **change})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "urn:skm:problem:validation"
    assert only_error(refused.json()) == (pointer, code)
    assert mall.get("/v1/units/dinkes").status_code == 404


def test_missing_unit_fields_are_each_named(client: TestClient) -> None:
    refused = client.post("/v1/units", json={})
    assert refused.status_code == 422
    assert {(e["pointer"], e["code"]) for e in refused.json()["errors"]} == {
        ("/code", "missing"),
        ("/name", "missing"),
        ("/kind", "missing"),
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/units/nowhere"),
        ("PATCH", "/v1/units/nowhere"),
        ("DELETE", "/v1/units/nowhere"),
        ("GET", "/v1/units/nowhere/tree"),
        ("GET", "/v1/units/nowhere/services"),
        ("POST", "/v1/units/nowhere/services"),
        ("GET", "/v1/units/nowhere/services/ktp"),
    ],
)
def test_unknown_unit_is_a_404_problem(mall: TestClient, method: str, path: str) -> None:
    body = {"code": "ktp", "name": "KTP"} if method == "POST" else {}
    answer = mall.request(method, path, json=body if method in ("POST", "PATCH") else None)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json() == {
        "type": "urn:skm:problem:not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No unit 'nowhere'.",
        "request_id": answer.headers["x-request-id"],
    }


# --- listing -------------------------------------------------------------------------------


def test_units_are_listed_by_code_and_paged_with_a_cursor(mall: TestClient) -> None:
    make_unit(mall, "bapenda", parent="mpp", kind="agency")
    make_unit(mall, "arsip", kind="other")
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = mall.get("/v1/units", params=params)
        assert page.status_code == 200, page.text
        pages += 1
        seen += codes(page.json())
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        assert len(page.json()["items"]) == 2
    assert seen == ["arsip", "bapenda", "disdukcapil", "dpmptsp", "kota", "mpp", "papua"]
    assert pages == 4
    whole = mall.get("/v1/units").json()
    assert (codes(whole), whole["next_cursor"]) == (seen, None)


def test_a_page_that_ends_exactly_at_the_last_unit_has_no_next_cursor(mall: TestClient) -> None:
    page = mall.get("/v1/units", params={"limit": "5"}).json()
    assert codes(page) == ["disdukcapil", "dpmptsp", "kota", "mpp", "papua"]
    assert page["next_cursor"] is None


def test_units_are_filtered_by_parent_kind_and_active(mall: TestClient) -> None:
    make_unit(mall, "loket", parent="disdukcapil", kind="service_unit")
    assert mall.patch("/v1/units/dpmptsp", json={"active": False}).status_code == 200

    def listed(**params: str) -> list[str]:
        page = mall.get("/v1/units", params=params)
        assert page.status_code == 200, page.text
        return codes(page.json())

    assert listed(parent="mpp") == ["disdukcapil", "dpmptsp"]  # direct children only
    assert listed(parent="kota") == ["mpp"]
    assert listed(parent="loket") == []
    assert listed(kind="agency") == ["disdukcapil", "dpmptsp"]
    assert listed(kind="service_unit") == ["loket"]
    assert listed(active="false") == ["dpmptsp"]
    assert listed(active="true") == ["disdukcapil", "kota", "loket", "mpp", "papua"]
    assert listed(parent="mpp", active="true") == ["disdukcapil"]
    assert listed(kind="agency", active="false", parent="mpp") == ["dpmptsp"]


def test_listing_by_an_unknown_parent_is_404(mall: TestClient) -> None:
    answer = mall.get("/v1/units", params={"parent": "nowhere"})
    assert answer.status_code == 404
    assert answer.json()["detail"] == "No unit 'nowhere'."


@pytest.mark.parametrize(
    ("params", "parameter", "code"),
    [
        ({"kind": "kementerian"}, "kind", "literal_error"),
        ({"active": "maybe"}, "active", "bool_parsing"),
        ({"limit": "0"}, "limit", "greater_than_equal"),
        ({"limit": "501"}, "limit", "less_than_equal"),
        ({"cursor": "not a cursor!"}, "cursor", "bad_cursor"),
        ({"cursor": cursor_of("a", "b")}, "cursor", "bad_cursor"),
    ],
)
def test_bad_list_parameters_are_refused_naming_them(
    mall: TestClient, params: dict[str, str], parameter: str, code: str
) -> None:
    refused = mall.get("/v1/units", params=params)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    assert only_error(refused.json()) == (parameter, code)


def test_a_unit_cursor_with_a_non_text_key_is_refused(mall: TestClient) -> None:
    refused = mall.get("/v1/units", params={"cursor": cursor_of(5)})
    assert refused.status_code == 422
    assert only_error(refused.json()) == ("cursor", "bad_cursor")


# --- the tree ------------------------------------------------------------------------------


def test_tree_nests_the_subtree_with_children_in_code_order(mall: TestClient) -> None:
    make_unit(mall, "loket-2", parent="disdukcapil")
    make_unit(mall, "loket-1", parent="disdukcapil", time_zone="Asia/Jayapura")
    make_unit(mall, "lain", kind="government")  # another root: not in kota's tree
    assert mall.patch("/v1/units/dpmptsp", json={"active": False}).status_code == 200
    tree = mall.get("/v1/units/kota/tree")
    assert tree.status_code == 200, tree.text

    def node(
        code: str, kind: str, zone: str, *children: dict[str, Any], active: bool = True
    ) -> Any:
        return {
            "code": code,
            "name": f"Unit {code}",
            "kind": kind,
            "time_zone": zone,
            "active": active,
            "children": list(children),
        }

    wita = "Asia/Makassar"
    assert tree.json() == node(
        "kota",
        "government",
        wita,
        node(
            "mpp",
            "service_mall",
            wita,
            node(
                "disdukcapil",
                "agency",
                wita,
                node("loket-1", "service_unit", "Asia/Jayapura"),
                node("loket-2", "service_unit", wita),
            ),
            node("dpmptsp", "agency", wita, active=False),
        ),
    )
    leaf = mall.get("/v1/units/loket-2/tree").json()
    assert leaf == node("loket-2", "service_unit", wita)


# --- updates and time zones ----------------------------------------------------------------


def test_patch_changes_only_the_given_fields(mall: TestClient) -> None:
    before = unit(mall, "dpmptsp")
    patched = mall.patch("/v1/units/dpmptsp", json={"name": "DPMPTSP Kota", "kind": "other"})
    assert patched.status_code == 200, patched.text
    after = patched.json()
    assert (after["name"], after["kind"]) == ("DPMPTSP Kota", "other")
    unchanged = ("code", "parent", "ancestors", "time_zone", "time_zone_inherited", "active")
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert after["created_at"] == before["created_at"]
    assert unit(mall, "dpmptsp") == after


@pytest.mark.parametrize(
    ("change", "pointer", "code"),
    [
        ({"name": "x" * 201}, "/name", "string_too_long"),
        ({"kind": "dinas"}, "/kind", "literal_error"),
        ({"time_zone": "Asia/Balikpapan"}, "/time_zone", "value_error"),
        ({"parent": "nowhere"}, "/parent", "unknown_unit"),
        ({"active": "maybe"}, "/active", "bool_type"),
        ({"code": "baru"}, "/code", "extra_forbidden"),  # the code is the identity
    ],
)
def test_invalid_patch_is_refused_and_changes_nothing(
    mall: TestClient, change: dict[str, Any], pointer: str, code: str
) -> None:
    before = unit(mall, "dpmptsp")
    refused = mall.patch("/v1/units/dpmptsp", json=change)
    assert refused.status_code == 422, refused.text
    assert only_error(refused.json()) == (pointer, code)
    assert unit(mall, "dpmptsp") == before


def test_parent_zone_change_carries_down_to_inheriting_units_only(mall: TestClient) -> None:
    make_unit(mall, "loket-dpm", parent="dpmptsp")
    assert mall.patch("/v1/units/dpmptsp", json={"time_zone": "Asia/Jakarta"}).status_code == 200
    # An explicit zone equal to the parent's is still explicit.
    assert (
        mall.patch("/v1/units/disdukcapil", json={"time_zone": "Asia/Makassar"}).json()[
            "time_zone_inherited"
        ]
        is False
    )
    changed = mall.patch("/v1/units/kota", json={"time_zone": "Asia/Jayapura"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["time_zone"], changed.json()["time_zone_inherited"]) == (
        "Asia/Jayapura",
        False,
    )
    assert zones(mall, "mpp", "disdukcapil", "dpmptsp", "loket-dpm") == {
        "mpp": ("Asia/Jayapura", True),
        "disdukcapil": ("Asia/Makassar", False),
        "dpmptsp": ("Asia/Jakarta", False),
        "loket-dpm": ("Asia/Jakarta", True),  # follows dpmptsp, not kota
    }


def test_time_zone_null_returns_to_inheritance_and_carries_down(mall: TestClient) -> None:
    make_unit(mall, "loket-dpm", parent="dpmptsp")
    assert mall.patch("/v1/units/dpmptsp", json={"time_zone": "Asia/Jakarta"}).status_code == 200
    assert zones(mall, "loket-dpm") == {"loket-dpm": ("Asia/Jakarta", True)}
    back = mall.patch("/v1/units/dpmptsp", json={"time_zone": None})
    assert back.status_code == 200, back.text
    assert zones(mall, "dpmptsp", "loket-dpm") == {
        "dpmptsp": ("Asia/Makassar", True),
        "loket-dpm": ("Asia/Makassar", True),
    }
    # Inheriting again, it follows the next change above it.
    assert mall.patch("/v1/units/kota", json={"time_zone": "Asia/Jayapura"}).status_code == 200
    assert zones(mall, "dpmptsp", "loket-dpm") == {
        "dpmptsp": ("Asia/Jayapura", True),
        "loket-dpm": ("Asia/Jayapura", True),
    }


def test_time_zone_null_on_a_root_returns_to_asia_jakarta(mall: TestClient) -> None:
    back = mall.patch("/v1/units/kota", json={"time_zone": None})
    assert back.status_code == 200, back.text
    assert zones(mall, "kota", "disdukcapil") == {
        "kota": ("Asia/Jakarta", True),
        "disdukcapil": ("Asia/Jakarta", True),
    }


def test_patch_without_time_zone_leaves_inheritance_alone(mall: TestClient) -> None:
    assert mall.patch("/v1/units/mpp", json={"name": "Mal Pelayanan Publik"}).status_code == 200
    assert zones(mall, "mpp") == {"mpp": ("Asia/Makassar", True)}


# --- moving --------------------------------------------------------------------------------


def test_moving_a_unit_carries_its_subtree_and_inherited_zone(mall: TestClient) -> None:
    make_unit(mall, "loket", parent="disdukcapil")
    make_unit(mall, "loket-wib", parent="disdukcapil", time_zone="Asia/Jakarta")
    moved = mall.patch("/v1/units/disdukcapil", json={"parent": "papua"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["parent"], moved.json()["ancestors"]) == ("papua", ["papua"])
    assert unit(mall, "loket")["ancestors"] == ["papua", "disdukcapil"]
    assert unit(mall, "loket-wib")["ancestors"] == ["papua", "disdukcapil"]
    assert zones(mall, "disdukcapil", "loket", "loket-wib") == {
        "disdukcapil": ("Asia/Jayapura", True),
        "loket": ("Asia/Jayapura", True),
        "loket-wib": ("Asia/Jakarta", False),
    }
    assert codes(mall.get("/v1/units", params={"parent": "mpp"}).json()) == ["dpmptsp"]
    assert codes(mall.get("/v1/units", params={"parent": "papua"}).json()) == ["disdukcapil"]
    tree = mall.get("/v1/units/papua/tree").json()
    assert [c["code"] for c in tree["children"]] == ["disdukcapil"]
    assert [c["code"] for c in tree["children"][0]["children"]] == ["loket", "loket-wib"]
    assert [c["code"] for c in mall.get("/v1/units/mpp/tree").json()["children"]] == ["dpmptsp"]


def test_moving_a_unit_with_its_own_zone_keeps_the_zone(mall: TestClient) -> None:
    assert mall.patch("/v1/units/dpmptsp", json={"time_zone": "Asia/Jakarta"}).status_code == 200
    assert mall.patch("/v1/units/dpmptsp", json={"parent": "papua"}).status_code == 200
    assert zones(mall, "dpmptsp") == {"dpmptsp": ("Asia/Jakarta", False)}


def test_moving_to_the_root_with_parent_null(mall: TestClient) -> None:
    make_unit(mall, "loket", parent="dpmptsp")
    moved = mall.patch("/v1/units/dpmptsp", json={"parent": None})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["parent"], moved.json()["ancestors"]) == (None, [])
    assert unit(mall, "loket")["ancestors"] == ["dpmptsp"]
    assert zones(mall, "dpmptsp", "loket") == {
        "dpmptsp": ("Asia/Jakarta", True),
        "loket": ("Asia/Jakarta", True),
    }


@pytest.mark.parametrize(("code", "new_parent"), [("mpp", "mpp"), ("kota", "disdukcapil")])
def test_moving_a_unit_below_itself_is_refused(
    mall: TestClient, code: str, new_parent: str
) -> None:
    refused = mall.patch(f"/v1/units/{code}", json={"parent": new_parent})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    assert only_error(refused.json()) == ("/parent", "cycle")
    assert unit(mall, "kota")["ancestors"] == []
    assert unit(mall, "mpp")["ancestors"] == ["kota"]
    assert unit(mall, "disdukcapil")["ancestors"] == ["kota", "mpp"]


def test_moved_units_responses_follow_it_in_subtree_reads(mall: TestClient) -> None:
    make_unit(mall, "kota-lain", kind="government", time_zone="Asia/Makassar")
    stored = store(mall, response_item("disdukcapil", "ktp"))
    # Same zone: the move does not touch the days the response was cut into.
    assert mall.patch("/v1/units/disdukcapil", json={"parent": "kota-lain"}).status_code == 200

    def ids(unit_code: str) -> list[str]:
        page = mall.get("/v1/responses", params={"unit": unit_code})
        assert page.status_code == 200, page.text
        return [r["id"] for r in page.json()["items"]]

    assert ids("kota-lain") == [stored["id"]]
    assert ids("kota") == []
    assert ids("mpp") == []


# --- responses freeze the zone; deactivation and deletion -----------------------------------


def test_zone_change_is_refused_once_the_subtree_has_responses(mall: TestClient) -> None:
    store(mall, response_item("disdukcapil", "ktp"))
    for code in ("kota", "mpp", "disdukcapil"):
        refused = mall.patch(f"/v1/units/{code}", json={"time_zone": "Asia/Jayapura"})
        assert refused.status_code == 409, (code, refused.text)
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"] == "urn:skm:problem:time-zone-fixed"
    assert zones(mall, "kota", "mpp", "disdukcapil") == {
        "kota": ("Asia/Makassar", False),
        "mpp": ("Asia/Makassar", True),
        "disdukcapil": ("Asia/Makassar", True),
    }
    # A sibling subtree without responses may still change.
    assert mall.patch("/v1/units/dpmptsp", json={"time_zone": "Asia/Jakarta"}).status_code == 200
    # Naming the same zone changes no day: allowed.
    same = mall.patch("/v1/units/disdukcapil", json={"time_zone": "Asia/Makassar"})
    assert same.status_code == 200, same.text


def test_move_that_would_change_the_zone_of_responses_is_refused(mall: TestClient) -> None:
    store(mall, response_item("disdukcapil", "ktp"))
    refused = mall.patch("/v1/units/disdukcapil", json={"parent": "papua"})
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:skm:problem:time-zone-fixed"
    after = unit(mall, "disdukcapil")  # the move is undone with the rest of the request
    assert (after["parent"], after["ancestors"], after["time_zone"]) == (
        "mpp",
        ["kota", "mpp"],
        "Asia/Makassar",
    )


def test_deactivating_and_reactivating_a_unit(mall: TestClient) -> None:
    off = mall.patch("/v1/units/dpmptsp", json={"active": False})
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False
    deactivated_at = off.json()["deactivated_at"]
    assert datetime.fromisoformat(deactivated_at).utcoffset() is not None
    # Deactivating again keeps the first moment.
    assert mall.patch("/v1/units/dpmptsp", json={"active": False}).json()["deactivated_at"] == (
        deactivated_at
    )
    on = mall.patch("/v1/units/dpmptsp", json={"active": True})
    assert (on.json()["active"], on.json()["deactivated_at"]) == (True, None)


def test_unused_unit_is_deleted_with_its_services(mall: TestClient) -> None:
    # A pairing code never exchanged goes with the unit (it was a 500: a foreign key).
    body = {"unit": "dpmptsp", "role": "collector", "name": "Kiosk"}
    assert mall.post("/v1/pairing-codes", json=body).status_code == 201
    deleted = mall.delete("/v1/units/dpmptsp")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert mall.get("/v1/units/dpmptsp").status_code == 404
    assert mall.get("/v1/units/dpmptsp/services").status_code == 404
    assert codes(mall.get("/v1/units", params={"parent": "mpp"}).json()) == ["disdukcapil"]
    # The code is free again.
    assert make_unit(mall, "dpmptsp", parent="mpp")["code"] == "dpmptsp"
    assert mall.get("/v1/units/dpmptsp/services").json() == []


def test_unit_with_children_is_not_deleted(mall: TestClient) -> None:
    refused = mall.delete("/v1/units/mpp")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "urn:skm:problem:unit-has-children"
    assert unit(mall, "mpp")["active"] is True


def test_unit_with_responses_is_not_deleted_but_can_be_deactivated(mall: TestClient) -> None:
    store(mall, response_item("dpmptsp", "izin-usaha"))
    refused = mall.delete("/v1/units/dpmptsp")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "urn:skm:problem:unit-has-responses"
    assert unit(mall, "dpmptsp")["active"] is True
    off = mall.patch("/v1/units/dpmptsp", json={"active": False})
    assert (off.status_code, off.json()["active"]) == (200, False)
    assert len(mall.get("/v1/responses", params={"unit": "dpmptsp"}).json()["items"]) == 1


def test_unit_owning_a_survey_variant_is_not_deleted(mall: TestClient) -> None:
    make_variant(mall, "dpmptsp", "skm-dpmptsp")
    refused = mall.delete("/v1/units/dpmptsp")
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:skm:problem:unit-owns-surveys"
    assert mall.get("/v1/surveys/skm-dpmptsp").json()["owner_unit"] == "dpmptsp"


def test_unit_may_be_created_with_a_version_assigned(mall: TestClient) -> None:
    body = make_unit(mall, "loket", parent="mpp")
    assert body["survey_version_id"] is None
    made = mall.post(
        "/v1/units",
        json={"code": "loket-2", "name": "Loket 2", "kind": "service_unit", "survey_version_id": 1},
    )
    assert made.status_code == 201, made.text
    assert made.json()["survey_version_id"] == 1


# --- services ------------------------------------------------------------------------------


def test_service_is_created_read_and_listed_in_code_order(mall: TestClient) -> None:
    created = mall.post(
        "/v1/units/disdukcapil/services", json={"code": "akta-lahir", "name": " Akta Kelahiran "}
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/units/disdukcapil/services/akta-lahir"
    body = created.json()
    assert {k: body[k] for k in ("unit", "code", "name", "active", "deactivated_at")} == {
        "unit": "disdukcapil",
        "code": "akta-lahir",
        "name": "Akta Kelahiran",
        "active": True,
        "deactivated_at": None,
    }
    assert mall.get("/v1/units/disdukcapil/services/akta-lahir").json() == body
    listed = mall.get("/v1/units/disdukcapil/services").json()
    assert [s["code"] for s in listed] == ["akta-lahir", "kk", "ktp"]
    assert all(s["unit"] == "disdukcapil" for s in listed)
    assert [s["code"] for s in mall.get("/v1/units/dpmptsp/services").json()] == ["izin-usaha"]


def test_service_codes_are_unique_per_unit_only(mall: TestClient) -> None:
    again = mall.post("/v1/units/disdukcapil/services", json={"code": "ktp", "name": "KTP-el"})
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    assert again.json()["type"] == "urn:skm:problem:code-taken"
    assert mall.get("/v1/units/disdukcapil/services/ktp").json()["name"] == "ktp"
    other = mall.post("/v1/units/dpmptsp/services", json={"code": "ktp", "name": "KTP"})
    assert other.status_code == 201, other.text


@pytest.mark.parametrize(
    ("change", "pointer", "code"),
    [
        ({"code": "KTP"}, "/code", "string_pattern_mismatch"),
        ({"code": "ktp_el"}, "/code", "string_pattern_mismatch"),
        ({"code": "ktp-"}, "/code", "string_pattern_mismatch"),
        ({"code": "k" * 65}, "/code", "string_pattern_mismatch"),
        ({"name": "n" * 201}, "/name", "string_too_long"),
        ({"name": ""}, "/name", "string_too_short"),
        ({"price": 0}, "/price", "extra_forbidden"),
    ],
)
def test_invalid_service_is_refused_naming_the_field(
    mall: TestClient, change: dict[str, Any], pointer: str, code: str
) -> None:
    refused = mall.post(
        "/v1/units/disdukcapil/services", json={"code": "paspor", "name": "Paspor", **change}
    )
    assert refused.status_code == 422, refused.text
    assert only_error(refused.json()) == (pointer, code)
    assert [s["code"] for s in mall.get("/v1/units/disdukcapil/services").json()] == ["kk", "ktp"]


def test_unknown_service_is_a_404_problem(mall: TestClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        answer = mall.request(
            method,
            "/v1/units/disdukcapil/services/izin-usaha",  # offered by another unit
            json={} if method == "PATCH" else None,
        )
        assert answer.status_code == 404, method
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["detail"] == "No service 'disdukcapil/izin-usaha'."


def test_service_is_renamed_deactivated_and_reactivated(mall: TestClient) -> None:
    renamed = mall.patch("/v1/units/disdukcapil/services/kk", json={"name": "Kartu Keluarga"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["active"]) == ("Kartu Keluarga", True)
    off = mall.patch("/v1/units/disdukcapil/services/kk", json={"active": False})
    assert (off.json()["name"], off.json()["active"]) == ("Kartu Keluarga", False)
    assert off.json()["deactivated_at"] is not None

    def listed(active: str) -> list[str]:
        page = mall.get("/v1/units/disdukcapil/services", params={"active": active})
        return [s["code"] for s in page.json()]

    assert (listed("true"), listed("false")) == (["ktp"], ["kk"])
    on = mall.patch("/v1/units/disdukcapil/services/kk", json={"active": True})
    assert (on.json()["active"], on.json()["deactivated_at"]) == (True, None)
    assert (listed("true"), listed("false")) == (["kk", "ktp"], [])
    refused = mall.patch("/v1/units/disdukcapil/services/kk", json={"name": "x" * 201})
    assert refused.status_code == 422
    assert only_error(refused.json()) == ("/name", "string_too_long")


def test_unused_service_is_deleted(mall: TestClient) -> None:
    deleted = mall.delete("/v1/units/disdukcapil/services/kk")
    assert deleted.status_code == 204
    assert mall.get("/v1/units/disdukcapil/services/kk").status_code == 404
    assert [s["code"] for s in mall.get("/v1/units/disdukcapil/services").json()] == ["ktp"]


def test_service_with_responses_is_not_deleted_but_can_be_deactivated(mall: TestClient) -> None:
    store(mall, response_item("disdukcapil", "kk"))
    refused = mall.delete("/v1/units/disdukcapil/services/kk")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "urn:skm:problem:service-has-responses"
    off = mall.patch("/v1/units/disdukcapil/services/kk", json={"active": False})
    assert (off.status_code, off.json()["active"]) == (200, False)
    assert mall.get("/v1/units/disdukcapil/services/kk").json()["active"] is False
