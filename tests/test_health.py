"""Health probes: liveness (the process only) apart from readiness (database, Redis)."""

from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import app_settings, bearer
from tests.factories import PROBLEM


def test_liveness_and_readiness_answer_when_all_is_well(client: TestClient, backend: str) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    expected = {"status": "ok", "database": backend, "redis": "not configured"}
    assert client.get("/health/ready").json() == expected
    assert client.get("/health").json() == expected  # the first name of the readiness probe


def test_readiness_fails_without_redis_while_liveness_holds(
    database_url: str, admin_token: str
) -> None:
    """Redis configured but not answering (nothing listens on port 1): not ready, and a
    request that its rate limit needs Redis for is 503 (it was 500); the process itself
    is alive."""
    settings = app_settings(database_url, redis_url="redis://127.0.0.1:1/15")
    with TestClient(create_app(settings), headers=bearer(admin_token)) as client:
        for path in ("/health/ready", "/health", "/v1/units"):
            answer = client.get(path)
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"] == PROBLEM
            assert answer.headers["retry-after"] == "5"
            assert answer.json()["type"] == "urn:skm:problem:unavailable"
        assert client.get("/health/live").json() == {"status": "ok"}
