"""The submission lane (app.lane): the usual submission is served beside the framework's
stack, everything else goes through the stack — with the body already read given back —
and what the lane answers is what the stack would answer (tests/test_collection.py
compares the two paths answer by answer)."""

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc
from starlette.responses import Response

from app.lane import SubmissionLane
from app.main import create_app
from tests.conftest import app_settings
from tests.factories import PROBLEM, create_key, make_mall, response_item

DASHBOARD = "https://dash.example.go.id"


def _lane(client: TestClient) -> SubmissionLane:
    stack: Any = client.app.middleware_stack  # type: ignore[attr-defined]
    lane = stack.app  # Observe(SubmissionLane(...))
    assert isinstance(lane, SubmissionLane)
    return lane


@pytest.fixture
def stack_calls(mall: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests the lane handed to the whole stack."""
    mall.get("/health/live")  # builds the middleware stack
    lane = _lane(mall)
    handed: list[str] = []
    stack = lane.stack

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        handed.append(scope["path"])
        await stack(scope, receive, send)

    monkeypatch.setattr(lane, "stack", counted)
    return handed


def test_the_usual_submission_takes_the_lane(mall: TestClient, stack_calls: list[str]) -> None:
    item = response_item("disdukcapil", "ktp")
    answer = mall.post("/v1/responses", json=item, headers={"X-Request-ID": "lane-1"})
    assert answer.status_code == 201, answer.text
    assert answer.headers["x-request-id"] == "lane-1"
    assert answer.headers["location"] == f"/v1/responses/{item['id']}"
    batch = mall.post(
        "/v1/responses/batch", json={"items": [response_item("dpmptsp", "izin-usaha")]}
    )
    assert batch.json()["created"] == 1
    assert stack_calls == []
    # Anything else is the stack's: a query string, another content type, malformed JSON.
    mall.post("/v1/responses?x=1", json=response_item("disdukcapil", "ktp"))
    mall.post("/v1/responses", content=b"{", headers={"Content-Type": "application/json"})
    mall.post("/v1/responses", content=b"{}", headers={"Content-Type": "text/plain"})
    mall.get("/v1/responses")
    assert stack_calls == ["/v1/responses"] * 4


def test_a_body_too_large_is_refused_by_the_stack(mall: TestClient, stack_calls: list[str]) -> None:
    limit = _lane(mall).max_bytes
    padded = {**response_item("disdukcapil", "ktp"), "suggestion": "x" * limit}
    declared = mall.post("/v1/responses", json=padded)
    assert declared.status_code == 413
    assert declared.headers["content-type"] == PROBLEM

    def chunks() -> Iterator[bytes]:  # no Content-Length: read until past the limit
        encoded = json.dumps(padded).encode()
        for start in range(0, len(encoded), 65536):
            yield encoded[start : start + 65536]

    streamed = mall.post(
        "/v1/responses", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.headers["content-type"] == PROBLEM
    assert stack_calls == ["/v1/responses"] * 2


def test_refusals_in_the_lane_are_the_apps_problems(mall: TestClient) -> None:
    reader = create_key(mall, "dashboard", "reader", "mpp")["token"]
    item = response_item("disdukcapil", "ktp")
    as_reader = mall.post("/v1/responses", json=item, headers={"Authorization": f"Bearer {reader}"})
    assert (as_reader.status_code, as_reader.headers["content-type"]) == (403, PROBLEM)
    unknown = mall.post(
        "/v1/responses",
        json={**item, "channel": "fax"},
        headers={"Authorization": "Bearer skm_unknown"},
    )
    # The key is refused before the body is judged.
    assert (unknown.status_code, unknown.json()["detail"]) == (401, "Unknown key.")
    assert unknown.headers["www-authenticate"] == 'Bearer realm="skm"'
    assert mall.post("/v1/responses", json=item).status_code == 201  # nothing stored before


async def _broken(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("boom")


async def _integrity(*_args: object, **_kwargs: object) -> None:
    # A database error that is not a server's unavailability: its handler raises it again.
    raise sa_exc.IntegrityError("INSERT …", None, Exception("duplicate key"))


@pytest.mark.parametrize("failure", [_broken, _integrity], ids=["runtime", "integrity"])
def test_an_unexpected_error_in_the_lane_is_a_500_problem(
    lenient: TestClient, monkeypatch: pytest.MonkeyPatch, failure: Any
) -> None:
    monkeypatch.setattr("app.routers.collection.store_one", failure)
    make_mall(lenient)
    answers = [
        lenient.post(
            path,
            json=response_item("disdukcapil", "ktp"),
            headers={"X-Request-ID": "lane-500"},
        )
        for path in ("/v1/responses", "/v1/responses?through=stack")
    ]
    for answer in answers:  # the lane's answer, then the stack's
        assert (answer.status_code, answer.headers["content-type"]) == (500, PROBLEM)
        assert answer.headers["x-request-id"] == "lane-500"
        assert answer.json()["request_id"] == "lane-500"
    assert answers[0].json() == answers[1].json()


def test_an_unexpected_error_in_the_lane_is_raised_after_its_answer(
    mall: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As Starlette's error handler does: the server logs it with its traceback."""
    monkeypatch.setattr("app.routers.collection.store_one", _broken)
    with pytest.raises(RuntimeError, match="boom"):
        mall.post("/v1/responses", json=response_item("disdukcapil", "ktp"))


@pytest.fixture
def cors(mall: TestClient, database_url: str) -> Iterator[TestClient]:
    app = create_app(app_settings(database_url, cors_origins=[DASHBOARD]))
    with TestClient(app, headers=dict(mall.headers)) as c:
        yield c


def test_a_cross_origin_submission_gets_cors_headers(cors: TestClient) -> None:
    """A browser's submission (with an Origin) goes through the stack's CORS middleware."""
    answer = cors.post(
        "/v1/responses", json=response_item("disdukcapil", "ktp"), headers={"Origin": DASHBOARD}
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["access-control-allow-origin"] == DASHBOARD
    same = cors.post("/v1/responses", json=response_item("disdukcapil", "ktp"))
    assert same.status_code == 201
    assert "access-control-allow-origin" not in same.headers


def test_a_client_gone_before_its_body_is_answered_as_the_stack_answers_it(
    mall: TestClient,
) -> None:
    """A kiosk whose connection drops while it sends: the lane hands the request to the
    stack with what it read and the disconnect, so that it is counted as the stack counts
    it (not as an unmatched 500)."""
    app: Any = mall.app

    def sent(query: bytes) -> list[Any]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/responses",
            "raw_path": b"/v1/responses",
            "root_path": "",
            "query_string": query,
            "headers": [
                (b"host", b"testserver"),
                (b"content-type", b"application/json"),
                (b"authorization", mall.headers["authorization"].encode()),
            ],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
            "state": {},
        }
        messages: list[Any] = [
            {"type": "http.request", "body": b'{"unit": "dis', "more_body": True},
            {"type": "http.disconnect"},
        ]
        answered: list[Any] = []

        async def receive() -> Any:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            answered.append(message)

        async def run() -> None:
            with contextlib.suppress(Exception):
                await app(scope, receive, send)

        mall.portal.call(run)  # type: ignore[union-attr]
        return [(m["type"], m.get("status")) for m in answered]

    assert sent(b"") == sent(b"through=stack")


@pytest.mark.parametrize("through", ["lane", "stack"])
@pytest.mark.parametrize("bound", [1, 3])
def test_the_batches_worked_on_at_once_are_bounded(
    database_url: str, bound: int, through: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SKM_MAX_BATCHES_IN_FLIGHT: of eight batches sent together, at most that many are
    parsed and worked on at once (the others wait, their bodies read), and all are
    answered — in the lane, and through the stack (a browser's, with an Origin, while CORS
    is configured); single submissions are not bounded."""
    cors = [DASHBOARD] if through == "stack" else []
    app = create_app(app_settings(database_url, max_batches_in_flight=bound, cors_origins=cors))
    with TestClient(app) as client:
        client.get("/health/live")  # builds the middleware stack
        lane = _lane(client)
        working = {"now": 0, "most": 0}

        async def endpoint(_request: Any, _data: Any) -> Response:
            working["now"] += 1
            working["most"] = max(working["most"], working["now"])
            await asyncio.sleep(0.02)
            working["now"] -= 1
            return Response(b"{}", 200, media_type="application/json")

        def scope(path: str) -> dict[str, Any]:
            headers = [(b"host", b"testserver"), (b"content-type", b"application/json")]
            if through == "stack":
                headers.append((b"origin", DASHBOARD.encode()))
            return {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "root_path": "",
                "query_string": b"",
                "headers": headers,
                "client": ("127.0.0.1", 5000),
                "server": ("testserver", 80),
                "state": {},
            }

        async def send_eight(path: str) -> list[int]:
            lane._route(scope(path))  # the lane's routes, built
            assert lane._routes is not None
            route, _direct = lane._routes[path]
            lane._routes[path] = (route, endpoint)
            monkeypatch.setattr(route, "direct", endpoint)  # the stack's way to it
            statuses: list[int] = []

            async def one() -> None:
                async def receive() -> Any:
                    return {"type": "http.request", "body": b"{}", "more_body": False}

                async def send(message: Any) -> None:
                    if message["type"] == "http.response.start":
                        statuses.append(message["status"])

                await app(scope(path), receive, send)

            await asyncio.gather(*(one() for _ in range(8)))
            return statuses

        batches = client.portal.call(send_eight, "/v1/responses/batch")  # type: ignore[union-attr]
        assert batches == [200] * 8
        assert working["most"] == bound
        working["most"] = 0
        singles = client.portal.call(send_eight, "/v1/responses")  # type: ignore[union-attr]
        assert singles == [200] * 8
        assert working["most"] == 8
