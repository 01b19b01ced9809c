"""Nothing outside a key's scope shows: not a stored response sent again, not a unit above or
beside the scope (in `parent`, `ancestors`, lists or any string of an answer). Scoped keys
are on capil (`tests.factories.hierarchy`).
"""

import pytest
from fastapi.testclient import TestClient

from tests.conftest import (
    bearer,
)
from tests.factories import (
    YEAR,
    all_answers,
    batch_summary,
    create_key,
    only_error,
    post_unit,
    problem_summary,
    response_item,
)


def strings_in(value: object) -> set[str]:
    """Every string anywhere in a JSON document, keys included."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set(value) | {s for v in value.values() for s in strings_in(v)}
    if isinstance(value, list):
        return {s for v in value for s in strings_in(v)}
    return set()


def test_a_replay_of_a_response_stored_outside_the_scope_is_refused_as_an_unknown_unit(
    units: TestClient,
) -> None:
    """The same id and content as a response stored for perizinan, posted by a kiosk of
    capil, answers exactly as a new response for perizinan does (alone or in a batch), and
    shows nothing of the stored row; the same id for a unit of its own scope is the
    conflict any reuse of an id is."""
    kiosk = bearer(create_key(units, "Kiosk capil", "collector", "capil")["token"])
    theirs = response_item("perizinan", "izin", suggestion="Petugas perizinan ramah")
    stored = units.post("/v1/responses", json=theirs)
    assert stored.status_code == 201, stored.text
    fresh = response_item("perizinan", "izin", suggestion="Petugas perizinan ramah")
    replayed = units.post("/v1/responses", json=theirs, headers=kiosk)
    assert problem_summary(replayed) == problem_summary(
        units.post("/v1/responses", json=fresh, headers=kiosk)
    )
    assert (replayed.status_code, only_error(replayed.json())) == (422, ("/unit", "unknown_unit"))
    in_batch = units.post("/v1/responses/batch", json={"items": [theirs]}, headers=kiosk)
    assert batch_summary(in_batch) == batch_summary(
        units.post("/v1/responses/batch", json={"items": [fresh]}, headers=kiosk)
    )
    assert batch_summary(in_batch) == [
        ("invalid", "urn:skm:problem:validation", [("/items/0/unit", "unknown_unit")])
    ]
    mine = {**response_item("capil", "ktp"), "id": theirs["id"]}
    taken = units.post("/v1/responses", json=mine, headers=kiosk)
    in_scope = response_item("capil", "ktp")
    assert units.post("/v1/responses", json=in_scope, headers=kiosk).status_code == 201
    reused = {**response_item("capil", "ktp", all_answers(1)), "id": in_scope["id"]}
    assert problem_summary(taken) == problem_summary(
        units.post("/v1/responses", json=reused, headers=kiosk)
    )
    assert (taken.status_code, taken.json()["type"]) == (409, "urn:skm:problem:id-conflict")
    mine_in_batch = units.post("/v1/responses/batch", json={"items": [mine]}, headers=kiosk)
    assert batch_summary(mine_in_batch) == [("conflict", "urn:skm:problem:id-conflict", [])]
    row = stored.json()
    for answer in (replayed, in_batch, taken, mine_in_batch):
        for secret in (row["received_at"], theirs["suggestion"], "perizinan", "izin"):
            assert secret not in answer.text
    # The stored response is untouched.
    assert units.get(f"/v1/responses/{theirs['id']}").json() == row


@pytest.fixture
def scoped_reader(units: TestClient) -> dict[str, str]:
    """loket below capil, a response there, and a reader scoped to capil (its headers)."""
    post_unit(units, "loket", "service_unit", parent="capil")
    made = units.post("/v1/units/loket/services", json={"code": "kk", "name": "kk"})
    assert made.status_code == 201, made.text
    store = units.post("/v1/responses", json=response_item("loket", "kk"))
    assert store.status_code == 201, store.text
    return bearer(create_key(units, "Dasbor capil", "reader", "capil")["token"])


ABOVE_AND_BESIDE = {"kota", "mpp", "perizinan", "arsip"}


def test_a_scoped_key_sees_no_unit_above_its_scope_in_parent_or_ancestors(
    units: TestClient, scoped_reader: dict[str, str]
) -> None:
    shown = {
        code: units.get(f"/v1/units/{code}", headers=scoped_reader).json()
        for code in ("capil", "loket")
    }
    assert {c: (u["parent"], u["ancestors"]) for c, u in shown.items()} == {
        "capil": (None, []),
        "loket": ("capil", ["capil"]),
    }
    listed = units.get("/v1/units", headers=scoped_reader).json()["items"]
    assert listed == [shown["capil"], shown["loket"]]
    children = units.get("/v1/units", params={"parent": "capil"}, headers=scoped_reader)
    assert children.json()["items"] == [shown["loket"]]
    # The administrator sees the whole line.
    whole = units.get("/v1/units/loket").json()
    assert (whole["parent"], whole["ancestors"]) == ("capil", ["kota", "mpp", "capil"])


def test_a_manager_is_shown_units_it_creates_and_changes_within_its_scope(
    units: TestClient,
) -> None:
    manager = bearer(create_key(units, "Manajer capil", "manager", "capil")["token"])
    body = {"code": "loket", "name": "Loket", "kind": "service_unit", "parent": "capil"}
    created = units.post("/v1/units", json=body, headers=manager)
    assert created.status_code == 201, created.text
    changed = units.patch("/v1/units/capil", json={"name": "Capil"}, headers=manager)
    assert changed.status_code == 200, changed.text
    assert [(a.json()["parent"], a.json()["ancestors"]) for a in (created, changed)] == [
        ("capil", ["capil"]),
        (None, []),
    ]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/units/capil", {}),
        ("/v1/units/loket", {}),
        ("/v1/units", {}),
        ("/v1/units", {"parent": "capil"}),
        ("/v1/units/capil/tree", {}),
        ("/v1/units/capil/services", {}),
        ("/v1/units/capil/form", {}),
        ("/v1/indices/capil", {"period": YEAR}),
        ("/v1/indices/capil/breakdown", {"period": YEAR, "by": "service"}),
        ("/v1/indices/capil/series", {"period": YEAR}),
        ("/v1/indices/capil/ranking", {"period": YEAR}),
    ],
)
def test_no_unit_outside_a_scoped_keys_scope_is_named_to_it(
    units: TestClient, scoped_reader: dict[str, str], path: str, params: dict[str, str]
) -> None:
    answer = units.get(path, params=params, headers=scoped_reader)
    assert answer.status_code == 200, answer.text
    assert strings_in(answer.json()) & ABOVE_AND_BESIDE == set()
    # The same answer to the administrator names them (where it names ancestors at all).
    if path.startswith("/v1/units/loket"):
        assert {"kota", "mpp"} <= strings_in(units.get(path, params=params).json())


def test_a_scoped_keys_survey_list_holds_only_surveys_its_units_may_use_naming_no_unit_above(
    units: TestClient,
) -> None:
    for owner in ("kota", "capil", "perizinan"):
        variant = {"code": f"survei-{owner}", "title": f"Survei {owner}", "owner_unit": owner}
        assert units.post("/v1/surveys", json=variant).status_code == 201
    scoped = (("manager", False), ("collector", False), ("reader", False), ("reader", True))
    for role, rows in scoped:
        key = create_key(units, f"{role} capil", role, "capil", read_responses=rows)
        as_key = bearer(key["token"])
        listed = units.get("/v1/surveys", headers=as_key)
        assert listed.status_code == 200, listed.text
        owners = {s["code"]: s["owner_unit"] for s in listed.json()}
        assert owners == {
            "skm-permenpan-14-2017": None,
            "survei-capil": "capil",
            "survei-kota": None,  # an ancestor's variant (capil may use it), owner not named
        }
        above = units.get("/v1/surveys", params={"owner_unit": "kota"}, headers=as_key)
        assert above.json() == []
        shown = units.get("/v1/surveys/survei-kota", headers=as_key)
        assert shown.status_code == 200, shown.text
        assert (shown.json()["owner_unit"], shown.json()["builtin"]) == (None, False)
