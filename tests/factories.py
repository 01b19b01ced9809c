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
