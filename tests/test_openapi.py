"""The committed OpenAPI document is the one the app generates (`make openapi`), and what it
tells a generated client (operation ids, which calls carry a key) is true of the app."""

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import OPERATION_IDS, create_app
from app.openapi import document

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_openapi_document_is_current() -> None:
    assert json.loads(COMMITTED.read_text()) == json.loads(document()), (
        "openapi/openapi.json is stale: run `make openapi`"
    )


def test_every_operation_declares_its_problem_responses() -> None:
    spec = json.loads(document())
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            if "parameters" in operation or "requestBody" in operation or "{" in path:
                assert "422" in statuses or "404" in statuses, (method, path)
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in answer["content"], (method, path, status)


@pytest.mark.parametrize("max_items", [1, 20, 5000])
def test_the_batch_schema_says_the_configured_bound(max_items: int) -> None:
    spec = create_app(Settings(max_batch_items=max_items)).openapi()
    items = spec["components"]["schemas"]["BatchIn"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, max_items)
    assert items["items"] == {"$ref": "#/components/schemas/ResponseIn"}


OPERATION_ID = re.compile(r"^[a-z][A-Za-z]+$")


def test_every_operation_has_a_named_operation_id() -> None:
    """Short, readable, unique ids, each written in `OPERATION_IDS` (none falls back on its
    function's name, which a rename in the code would change in every generated client)."""
    spec = json.loads(document())
    documented = {
        (method.upper(), path): operation["operationId"]
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    assert documented == OPERATION_IDS, "name each new operation in app.main.OPERATION_IDS"
    ids = list(documented.values())
    assert len(ids) == len(set(ids))
    assert [name for name in ids if not OPERATION_ID.match(name)] == []


def test_operations_say_whether_they_need_a_key(client: TestClient) -> None:
    """The document's security requirement is what the app does: every operation that
    requires the bearer key answers 401 without one, and no other does."""
    spec = json.loads(document())
    assert spec["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key, created by `skm create-key` or `POST /v1/keys`.",
    }
    keyless = []
    for path, operations in spec["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method, operation in operations.items():
            if operation["security"] == [{"metricsToken": []}]:
                assert path == "/metrics"  # its own token: tests/test_observability.py
                continue
            answer = client.request(method, url, json={}, headers={"Authorization": ""})
            needs_key = operation["security"] == [{"apiKey": []}]
            assert needs_key == (answer.status_code == 401), (method, path, answer.status_code)
            if not needs_key:
                assert operation["security"] == []
                keyless.append(path)
    assert sorted(set(keyless)) == [
        "/health",
        "/health/live",
        "/health/ready",
        "/v1/pairing-codes/exchange",
        "/v1/public/indices/{code}",
        "/v1/public/indices/{code}/breakdown",
        "/v1/public/publications/{publication_id}",
        "/v1/public/responses",
        "/v1/public/units/{code}/documents/poster.pdf",
        "/v1/public/units/{code}/documents/poster.png",
        "/v1/public/units/{code}/documents/report.pdf",
        "/v1/public/units/{code}/form",
        "/v1/public/units/{code}/publications",
    ]
