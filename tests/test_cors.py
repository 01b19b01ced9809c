"""CORS for the dashboard's origin: preflights allowed or refused (as problem documents), and
CORS headers only on answers to the allowed origin.
"""

from collections.abc import Iterator

import httpx2
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import (
    app_settings,
)
from tests.factories import (
    PROBLEM,
)

DASHBOARD = "https://dash.example.go.id"


@pytest.fixture
def cors(client: TestClient, database_url: str) -> Iterator[TestClient]:
    app = create_app(app_settings(database_url, cors_origins=[DASHBOARD]))
    with TestClient(app) as c:
        yield c


def preflight(client: TestClient, origin: str) -> httpx2.Response:
    return client.options(
        "/v1/indices/capil",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_a_preflight_from_the_dashboard_origin_is_allowed(cors: TestClient) -> None:
    allowed = preflight(cors, DASHBOARD)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == DASHBOARD
    assert "GET" in allowed.headers["access-control-allow-methods"].split(", ")
    assert "Authorization" in allowed.headers["access-control-allow-headers"].split(", ")


def test_a_preflight_from_another_origin_is_refused(cors: TestClient) -> None:
    refused = preflight(cors, "https://evil.example.com")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_answers_to_the_dashboard_origin_carry_cors_headers_and_others_do_not(
    cors: TestClient,
) -> None:
    mine = cors.get("/health", headers={"Origin": DASHBOARD})
    theirs = cors.get("/health", headers={"Origin": "https://evil.example.com"})
    assert mine.headers["access-control-allow-origin"] == DASHBOARD
    assert "Retry-After" in mine.headers["access-control-expose-headers"].split(", ")
    assert "access-control-allow-origin" not in theirs.headers


def test_a_refused_preflight_is_a_problem_document(cors: TestClient) -> None:
    refused = preflight(cors, "https://evil.example.com")
    assert (refused.status_code, refused.headers["content-type"]) == (400, PROBLEM)
