"""Test data helpers. Numbers asserted in tests are worked out by hand, never here."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from app.method import ELEMENTS

STANDARD_VERSION_ID = 1  # seeded by the initial migration


def make_unit(
    client: TestClient,
    code: str,
    parent: str | None = None,
    time_zone: str | None = None,
    kind: str = "service_unit",
    services: tuple[str, ...] = (),
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "name": f"Unit {code}", "kind": kind}
    if parent:
        body["parent"] = parent
    if time_zone:
        body["time_zone"] = time_zone
    response = client.post("/v1/units", json=body)
    assert response.status_code == 201, response.text
    for service in services:
        made = client.post(f"/v1/units/{code}/services", json={"code": service, "name": service})
        assert made.status_code == 201, made.text
    unit: dict[str, Any] = response.json()
    return unit


def make_mall(client: TestClient) -> None:
    """kota (WITA) → mpp → {disdukcapil (ktp, kk), dpmptsp (izin-usaha)}; papua (WIT, ktp),
    a separate root in another time zone."""
    make_unit(client, "kota", kind="government", time_zone="Asia/Makassar")
    make_unit(client, "mpp", parent="kota", kind="service_mall")
    make_unit(client, "disdukcapil", parent="mpp", kind="agency", services=("ktp", "kk"))
    make_unit(client, "dpmptsp", parent="mpp", kind="agency", services=("izin-usaha",))
    make_unit(client, "papua", kind="government", time_zone="Asia/Jayapura", services=("ktp",))


def scores(*values: int | None) -> dict[str, int | None]:
    """Answers in questionnaire order: scores(4, 3, 3, 4, 3, 4, 4, 3, 3)."""
    assert len(values) == len(ELEMENTS)
    return dict(zip(ELEMENTS, values, strict=True))


def all_answers(score: int) -> dict[str, int | None]:
    return scores(*([score] * len(ELEMENTS)))


def response_item(
    unit: str,
    service: str,
    answers: dict[str, int | None] | None = None,
    collected_at: datetime | str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    when = collected_at or datetime.now(UTC) - timedelta(minutes=5)
    item: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "unit": unit,
        "service": service,
        "survey_version_id": STANDARD_VERSION_ID,
        "channel": "kiosk",
        "collected_at": when if isinstance(when, str) else when.isoformat(),
        "answers": answers if answers is not None else all_answers(4),
    }
    item.update(fields)
    return item


PROBLEM = "application/problem+json"

# Generic option labels for a local variant; biaya keeps the method's 'Gratis' = 4 direction.
_VARIANT_LABELS = ("Tidak baik", "Kurang baik", "Baik", "Sangat baik")
_BIAYA_LABELS = ("Sangat mahal", "Cukup mahal", "Murah", "Gratis")


def variant_definition(
    title: str = "Survei Kepuasan Masyarakat (varian lokal)",
    optional: tuple[str, ...] = (),
    extra_questions: tuple[dict[str, Any], ...] = (),
    profile_fields: tuple[str, ...] = ("gender", "age_band"),
) -> dict[str, Any]:
    """A valid survey definition with every field spelled out, so that what the API returns
    can be compared with it as a whole. Elements in `optional` are marked `required: false`."""
    return {
        "title": {"id": title, "en": "Local variant"},
        "intro": {"id": "Mohon isi survei ini.", "en": "Please fill in this survey."},
        "questions": [
            {
                "element": element,
                "text": {"id": f"Pertanyaan tentang {element}", "en": f"Question on {element}"},
                "required": element not in optional,
                "options": [
                    {"score": score, "label": {"id": label, "en": f"{element} {score}"}}
                    for score, label in enumerate(
                        _BIAYA_LABELS if element == "biaya" else _VARIANT_LABELS, start=1
                    )
                ],
            }
            for element in ELEMENTS
        ],
        "extra_questions": list(extra_questions),
        "profile_fields": list(profile_fields),
        "suggestion_prompt": {"id": "Saran Saudara", "en": "Your suggestions"},
    }


def extra_question(key: str, *values: str, required: bool = False) -> dict[str, Any]:
    """A local extra question (outside the nine elements) with the given option values."""
    return {
        "key": key,
        "text": {"id": f"Pertanyaan tambahan {key}", "en": f"Extra question {key}"},
        "required": required,
        "options": [{"value": v, "label": {"id": v.capitalize(), "en": v}} for v in values],
    }


def make_variant(
    client: TestClient,
    owner: str,
    code: str,
    definition: dict[str, Any] | None = None,
    publish: bool = True,
) -> dict[str, Any]:
    """A unit's local survey `code` (created if new) with one more version; returns the
    version as the API shows it (published unless `publish=False`)."""
    if client.get(f"/v1/surveys/{code}").status_code == 404:
        made = client.post(
            "/v1/surveys", json={"code": code, "title": f"Survei {code}", "owner_unit": owner}
        )
        assert made.status_code == 201, made.text
    body = {"definition": definition or variant_definition()}
    version = client.post(f"/v1/surveys/{code}/versions", json=body)
    assert version.status_code == 201, version.text
    if publish:
        version = client.post(f"/v1/surveys/{code}/versions/{version.json()['version']}/publish")
        assert version.status_code == 200, version.text
    result: dict[str, Any] = version.json()
    return result


def store(client: TestClient, item: dict[str, Any]) -> dict[str, Any]:
    """Post one response that must be stored; the stored response."""
    posted = client.post("/v1/responses", json=item)
    assert posted.status_code == 201, posted.text
    stored: dict[str, Any] = posted.json()
    return stored


def only_error(body: dict[str, Any]) -> tuple[str, str]:
    """The (pointer or parameter, code) of a problem's one field error."""
    [error] = body["errors"]
    return error.get("pointer", error.get("parameter")), error["code"]
