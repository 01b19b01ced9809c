"""The committed OpenAPI document is the one the app generates (`make openapi`)."""

import json
from pathlib import Path

import pytest

from app.config import Settings
from app.main import create_app
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
