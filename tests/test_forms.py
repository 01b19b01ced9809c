"""The form a kiosk or app fetches for a unit: effective survey version, services, profile
options, limits; revalidated cheaply with an ETag."""

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import (
    PROBLEM,
    STANDARD_VERSION_ID,
    make_unit,
    make_variant,
    response_item,
    variant_definition,
)

PROFILE_CODES = {
    "gender": ["L", "P"],
    "age_band": ["<20", "20-29", "30-39", "40-49", "50-59", "60+"],
    "education": ["SD", "SMP", "SMA", "D1-D3", "D4-S1", "S2", "S3"],
    "occupation": ["PNS", "TNI", "POLRI", "SWASTA", "WIRAUSAHA", "LAINNYA"],
}


def form(client: TestClient, code: str) -> dict[str, Any]:
    got = client.get(f"/v1/units/{code}/form")
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def etag(client: TestClient, code: str) -> str:
    got = client.get(f"/v1/units/{code}/form")
    assert got.status_code == 200, got.text
    tag: str = got.headers["etag"]
    return tag


def version_of(client: TestClient, code: str) -> int:
    version_id: int = form(client, code)["survey_version"]["id"]
    return version_id


def test_form_of_a_unit_without_assignment_carries_the_standard(mall: TestClient) -> None:
    assert mall.post(
        "/v1/units/disdukcapil/services", json={"code": "akta", "name": "Akta"}
    ).status_code == (201)
    assert mall.patch("/v1/units/disdukcapil/services/kk", json={"active": False}).status_code == (
        200
    )
    body = form(mall, "disdukcapil")
    assert body["unit"] == {
        "code": "disdukcapil",
        "name": "Unit disdukcapil",
        "time_zone": "Asia/Makassar",
        "requires_ticket": False,
    }
    assert body["survey_version"] == mall.get("/v1/survey-versions/1").json()
    assert body["survey_version"]["survey"] == "skm-permenpan-14-2017"
    # Active services only, by code.
    assert body["services"] == [{"code": "akta", "name": "Akta"}, {"code": "ktp", "name": "ktp"}]
    assert body["channels"] == ["kiosk", "mobile", "web", "paper"]
    assert body["limits"] == {
        "max_batch_items": 500,
        "max_suggestion_length": 1000,
        "max_clock_skew_seconds": 300,
        "max_collected_age_days": 90,
    }


def test_form_lists_the_profile_fields_with_their_bands(mall: TestClient) -> None:
    fields = form(mall, "disdukcapil")["profile_fields"]
    assert [f["field"] for f in fields] == ["gender", "age_band", "education", "occupation"]
    assert {f["field"]: [o["code"] for o in f["options"]] for f in fields} == PROFILE_CODES
    gender = fields[0]
    assert gender["label"]["id"] == "Jenis kelamin"
    assert [o["label"]["id"] for o in gender["options"]] == ["Laki-laki", "Perempuan"]


def test_form_shows_only_the_profile_fields_of_the_version(mall: TestClient) -> None:
    version = make_variant(
        mall, "kota", "skm-kota", variant_definition(profile_fields=("education", "gender"))
    )
    assert mall.patch("/v1/units/kota", json={"survey_version_id": version["id"]}).status_code == (
        200
    )
    fields = form(mall, "disdukcapil")["profile_fields"]
    assert [f["field"] for f in fields] == ["education", "gender"]
    assert [o["code"] for o in fields[0]["options"]] == PROFILE_CODES["education"]


def test_form_uses_own_then_nearest_ancestors_assignment_then_the_standard(
    mall: TestClient,
) -> None:
    kota = make_variant(mall, "kota", "skm-kota")["id"]
    mpp = make_variant(mall, "mpp", "skm-mpp")["id"]
    dpmptsp = make_variant(mall, "dpmptsp", "skm-dpmptsp")["id"]
    make_unit(mall, "loket", parent="disdukcapil", services=("ktp",))
    assert mall.patch("/v1/units/kota", json={"survey_version_id": kota}).status_code == 200
    assert mall.patch("/v1/units/mpp", json={"survey_version_id": mpp}).status_code == 200
    assert mall.patch("/v1/units/dpmptsp", json={"survey_version_id": dpmptsp}).status_code == 200
    assert {
        code: version_of(mall, code)
        for code in ("kota", "mpp", "disdukcapil", "loket", "dpmptsp", "papua")
    } == {
        "kota": kota,  # its own
        "mpp": mpp,  # its own, though its parent has another
        "disdukcapil": mpp,  # the nearest ancestor's
        "loket": mpp,
        "dpmptsp": dpmptsp,
        "papua": STANDARD_VERSION_ID,  # nothing assigned above it
    }
    form_version = form(mall, "loket")["survey_version"]
    assert (form_version["survey"], form_version["status"]) == ("skm-mpp", "published")
    assert form_version["definition"] == variant_definition()
    # Clearing mpp's assignment falls back to kota's.
    assert mall.patch("/v1/units/mpp", json={"survey_version_id": None}).status_code == 200
    assert version_of(mall, "loket") == kota


def test_form_version_accepts_responses_from_the_unit(mall: TestClient) -> None:
    kota = make_variant(mall, "kota", "skm-kota")["id"]
    assert mall.patch("/v1/units/kota", json={"survey_version_id": kota}).status_code == 200
    body = form(mall, "disdukcapil")
    item = response_item(
        "disdukcapil",
        body["services"][0]["code"],
        survey_version_id=body["survey_version"]["id"],
    )
    assert mall.post("/v1/responses", json=item).status_code == 201


def test_form_stays_answerable_after_the_unit_moves_away_from_its_variants_owner(
    mall: TestClient,
) -> None:
    mpp = make_variant(mall, "mpp", "skm-mpp")["id"]
    make_unit(mall, "kota-lain", kind="government", time_zone="Asia/Makassar")
    assert mall.patch("/v1/units/dpmptsp", json={"survey_version_id": mpp}).status_code == 200
    # Either the move is refused or the assignment no longer holds; what a kiosk gets must
    # still be answerable.
    mall.patch("/v1/units/dpmptsp", json={"parent": "kota-lain"})
    item = response_item("dpmptsp", "izin-usaha", survey_version_id=version_of(mall, "dpmptsp"))
    posted = mall.post("/v1/responses", json=item)
    assert posted.status_code == 201, posted.text


def test_form_has_an_etag_and_if_none_match_answers_304_with_no_body(mall: TestClient) -> None:
    first = mall.get("/v1/units/disdukcapil/form")
    tag = first.headers["etag"]
    assert tag.startswith('"')
    assert tag.endswith('"')
    assert len(tag) > 2
    assert etag(mall, "disdukcapil") == tag  # nothing changed: same tag
    cached = mall.get("/v1/units/disdukcapil/form", headers={"If-None-Match": tag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == tag
    among = mall.get("/v1/units/disdukcapil/form", headers={"If-None-Match": f'"old", {tag}'})
    assert among.status_code == 304
    stale = mall.get("/v1/units/disdukcapil/form", headers={"If-None-Match": '"old"'})
    assert stale.status_code == 200
    assert stale.json() == first.json()
    assert stale.headers["etag"] == tag


def test_forms_of_different_units_have_different_etags(mall: TestClient) -> None:
    assert etag(mall, "disdukcapil") != etag(mall, "dpmptsp")
    other = mall.get("/v1/units/dpmptsp/form", headers={"If-None-Match": etag(mall, "disdukcapil")})
    assert other.status_code == 200


def test_etag_changes_when_a_service_is_added_or_deactivated(mall: TestClient) -> None:
    before = etag(mall, "disdukcapil")
    assert mall.post(
        "/v1/units/disdukcapil/services", json={"code": "akta", "name": "Akta"}
    ).status_code == (201)
    added = etag(mall, "disdukcapil")
    assert added != before
    refreshed = mall.get("/v1/units/disdukcapil/form", headers={"If-None-Match": before})
    assert refreshed.status_code == 200
    assert [s["code"] for s in refreshed.json()["services"]] == ["akta", "kk", "ktp"]
    assert mall.patch(
        "/v1/units/disdukcapil/services/akta", json={"active": False}
    ).status_code == (200)
    # The same content as before the service was added: the same tag again.
    assert etag(mall, "disdukcapil") == before
    assert [s["code"] for s in form(mall, "disdukcapil")["services"]] == ["kk", "ktp"]


def test_etag_changes_when_the_effective_version_changes(mall: TestClient) -> None:
    before = etag(mall, "disdukcapil")
    kota = make_variant(mall, "kota", "skm-kota")["id"]
    assert etag(mall, "disdukcapil") == before  # a variant nobody uses changes nothing
    assert mall.patch("/v1/units/kota", json={"survey_version_id": kota}).status_code == 200
    assert etag(mall, "disdukcapil") != before


def test_if_none_match_compares_weakly(mall: TestClient) -> None:
    tag = etag(mall, "disdukcapil")
    cached = mall.get("/v1/units/disdukcapil/form", headers={"If-None-Match": f"W/{tag}"})
    assert cached.status_code == 304


def test_if_none_match_star_matches_the_current_form(mall: TestClient) -> None:
    cached = mall.get("/v1/units/disdukcapil/form", headers={"If-None-Match": "*"})
    assert cached.status_code == 304


def test_form_of_a_deactivated_unit_is_gone(mall: TestClient) -> None:
    assert mall.patch("/v1/units/dpmptsp", json={"active": False}).status_code == 200
    gone = mall.get("/v1/units/dpmptsp/form")
    assert gone.status_code == 410
    assert gone.headers["content-type"] == PROBLEM
    assert gone.json() == {
        "type": "urn:skm:problem:unit-inactive",
        "title": "Gone",
        "status": 410,
        "detail": "Unit 'dpmptsp' is deactivated.",
        "request_id": gone.headers["x-request-id"],
    }
    # Reactivated, it is served again.
    assert mall.patch("/v1/units/dpmptsp", json={"active": True}).status_code == 200
    assert form(mall, "dpmptsp")["unit"]["code"] == "dpmptsp"


def test_form_of_an_unknown_unit_is_404(mall: TestClient) -> None:
    missing = mall.get("/v1/units/nowhere/form")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json()["detail"] == "No unit 'nowhere'."


def test_form_follows_the_units_time_zone(mall: TestClient) -> None:
    assert form(mall, "papua")["unit"]["time_zone"] == "Asia/Jayapura"
    before = etag(mall, "disdukcapil")
    assert mall.patch("/v1/units/kota", json={"time_zone": "Asia/Jakarta"}).status_code == 200
    assert form(mall, "disdukcapil")["unit"]["time_zone"] == "Asia/Jakarta"
    assert etag(mall, "disdukcapil") != before
