"""Rate limits: per key, per client address for keyless and unknown-key calls, a sliding
window, refusals that take no database connection, and one limit shared by two instances
through Redis (at SKM_TEST_REDIS_URL; skipped without a server unless
SKM_TEST_REQUIRE_REDIS=1).
"""

import gc
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
import redis
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from app.main import create_app
from tests.conftest import (
    app_settings,
    bearer,
)
from tests.factories import (
    PROBLEM,
    PoolWatch,
    create_key,
    keyless,
    refusal,
    response_item,
    unauthorized,
)

REDIS_URL = os.environ.get("SKM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_REDIS = os.environ.get("SKM_TEST_REQUIRE_REDIS") == "1"


@dataclass
class LimiterClock:
    """The wall clock as the in-memory rate limits read it (`time.time`), standing still.

    limits' sliding window counter cuts windows at multiples of the period in Unix time and
    weighs the previous window by the share of it still in view: five requests at 11:59:59.9
    and a sixth at 12:00:00.1 count as 5 × 59.8/60 + 0 = 4.98, floored to 4, so the sixth
    passes. On the wall clock a test's burst straddles a minute boundary about once in
    60 s / (the burst's length) runs. With the clock standing in the middle of a window, every
    request of the test is counted in that one window and nothing rolls over; `advance` moves
    it on when a test wants the next window.
    """

    now: float

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> LimiterClock:
    """`time.time` held 30 s into the current minute (the windows of the '/minute' limits)."""
    stopped = LimiterClock(math.floor(time.time() / 60) * 60 + 30)
    monkeypatch.setattr(time, "time", stopped.time)
    return stopped


def behind_proxy(app: ASGIApp) -> ASGIApp:
    """The app as a proxy would pass requests on: the client's address from X-Client-Address."""

    async def with_address(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-client-address":
                    scope = {**scope, "client": (value.decode(), 50000)}
        await app(scope, receive, send)

    return with_address


@pytest.fixture
def limited(
    units: TestClient, database_url: str, admin_token: str, clock: LimiterClock
) -> Iterator[TestClient]:
    """The app allowing 5 requests a minute per key, and 5 per address without a key (on a
    clock that stands still, so that every request of a test falls in one window)."""
    settings = app_settings(database_url, rate_limit_key="5/minute", rate_limit_public="5/minute")
    with TestClient(behind_proxy(create_app(settings)), headers=bearer(admin_token)) as c:
        yield c


def hits(client: TestClient, count: int, url: str, **kwargs: Any) -> list[int]:
    return [client.get(url, **kwargs).status_code for _ in range(count)]


def assert_rate_limited(answer: httpx2.Response, who: str, limit: str = "5/minute") -> None:
    assert answer.status_code == 429
    assert answer.headers["content-type"] == PROBLEM
    retry_after = answer.headers["retry-after"]
    assert retry_after.isdigit()
    assert 1 <= int(retry_after) <= 60
    body = answer.json()
    assert (body["type"], body["status"], body["title"]) == (
        "urn:skm:problem:rate-limited",
        429,
        "Too Many Requests",
    )
    assert body["detail"] == f"More than {limit} for this {who}; retry after {retry_after} s."


def test_a_key_over_its_limit_gets_429_with_retry_after(
    units: TestClient, limited: TestClient
) -> None:
    as_kiosk = bearer(create_key(units, "Kiosk capil", "collector", "capil")["token"])
    assert hits(limited, 5, "/v1/units/capil/form", headers=as_kiosk) == [200] * 5
    assert_rate_limited(limited.get("/v1/units/capil/form", headers=as_kiosk), "key")
    # Another endpoint counts against the same key.
    assert_rate_limited(limited.get("/v1/units/capil", headers=as_kiosk), "key")


def test_a_key_is_served_again_as_its_window_slides_on(
    units: TestClient, limited: TestClient, clock: LimiterClock
) -> None:
    """The limit is a sliding window over the clock the limiter reads. Refused at 30 s into
    the minute, the key is told the 30 s left of it. A minute later (30 s into the next
    window) half of the previous window is still in view, 5 × 30/60 = 2.5: with 0, 1, 2 new
    requests counted (2.5, 3.5, 4.5, floored 2, 3, 4) one more fits under 5; with 3 (5.5,
    floored 5) none does."""
    as_kiosk = bearer(create_key(units, "Kiosk capil", "collector", "capil")["token"])
    url = "/v1/units/capil/form"
    assert hits(limited, 5, url, headers=as_kiosk) == [200] * 5
    refused = limited.get(url, headers=as_kiosk)
    assert_rate_limited(refused, "key")
    assert refused.headers["retry-after"] == "30"
    clock.advance(60)
    assert hits(limited, 4, url, headers=as_kiosk) == [200] * 3 + [429]


def test_two_kiosks_behind_one_address_each_get_their_own_limit(
    units: TestClient, limited: TestClient
) -> None:
    first, second = (
        bearer(create_key(units, name, "collector", "capil")["token"])
        for name in ("Kiosk 1", "Kiosk 2")
    )
    assert hits(limited, 5, "/v1/units/capil/form", headers=first) == [200] * 5
    assert hits(limited, 1, "/v1/units/capil/form", headers=first) == [429]
    assert hits(limited, 5, "/v1/units/capil/form", headers=second) == [200] * 5
    assert_rate_limited(limited.get("/v1/units/capil/form", headers=second), "key")


def test_keyless_public_calls_are_limited_per_client_address(
    units: TestClient, limited: TestClient
) -> None:
    url = "/v1/public/units/capil/form"
    one, two = ({"X-Client-Address": a} for a in ("198.51.100.7", "198.51.100.8"))
    assert [keyless(limited, "GET", url, headers=one).status_code for _ in range(5)] == [200] * 5
    assert_rate_limited(keyless(limited, "GET", url, headers=one), "client address")
    assert keyless(limited, "GET", url, headers=two).status_code == 200
    # A key from the throttled address has its own limit.
    as_kiosk = bearer(create_key(units, "Kiosk capil", "collector", "capil")["token"])
    assert limited.get("/v1/units/capil/form", headers={**one, **as_kiosk}).status_code == 200


def test_a_refused_public_request_takes_no_database_connection(
    units: TestClient, database_url: str, clock: LimiterClock
) -> None:
    """Over its limit, a client costs the pool nothing: the limit is counted first."""
    watch = PoolWatch()
    published = units.post("/v1/units/capil/publications", json={"period": "2025-Q1"})
    assert published.status_code == 201, published.text
    settings = app_settings(database_url, rate_limit_public="2/minute")
    with TestClient(create_app(settings)) as app:
        watch.watching(app)
        urls = ["/v1/public/indices/capil?period=2025-Q1", "/v1/public/units/capil/form"]
        urls.append("/v1/public/indices/capil/breakdown?period=2025-Q1&by=service")
        allowed = [app.get(url).status_code for url in urls[:2]]
        taken = watch.taken
        refused = [app.get(url) for url in urls]
    assert allowed == [200, 200]
    assert taken >= 2
    for answer in refused:
        assert_rate_limited(answer, "client address", "2/minute")
    assert watch.taken == taken


def test_a_request_without_a_key_takes_no_database_connection(
    units: TestClient, database_url: str
) -> None:
    """Endpoints that read the key on their own connection refuse a keyless request before
    taking it."""
    watch = PoolWatch()
    with TestClient(create_app(app_settings(database_url))) as app:
        watch.watching(app)
        answers = [
            app.get("/v1/indices/capil?period=2026"),
            app.get("/v1/indices/capil/ranking?period=2026"),
            app.post("/v1/responses", json=response_item("capil", "ktp")),
            app.post("/v1/responses/batch", json={"items": [response_item("capil", "ktp")]}),
        ]
    for answer in answers:
        assert refusal(answer) == unauthorized("This endpoint needs an API key.")
    assert watch.taken == 0


def test_requests_with_unknown_keys_are_limited_per_client_address(
    units: TestClient, limited: TestClient
) -> None:
    guesses = [
        limited.get("/v1/units/capil", headers=bearer(f"skm_guess-{i}")).status_code
        for i in range(6)
    ]
    assert guesses == [401] * 5 + [429]


@pytest.fixture
def shared_redis() -> None:
    """An empty Redis database for the limits of this test."""
    store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        store.flushdb()
    except redis.ConnectionError as error:
        message = f"shared rate limits not tested: no Redis at {REDIS_URL} ({error})"
        if REQUIRE_REDIS:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        store.close()


def through_two_instances(database_url: str, token: str) -> list[httpx2.Response]:
    """Seven requests with one key, alternately to two app instances sharing Redis."""
    settings = app_settings(database_url, rate_limit_key="5/minute", redis_url=REDIS_URL)
    with (
        TestClient(create_app(settings), headers=bearer(token)) as one,
        TestClient(create_app(settings), headers=bearer(token)) as two,
    ):
        return [i.get("/v1/units/capil/form") for i in (one, two, one, two, one, two, one)]


def unclosed_redis_connections(run: Callable[[], object]) -> list[str]:
    """Run, then collect garbage: the warnings about Redis connections left open."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
        gc.collect()
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, ResourceWarning) and "6379" in str(w.message)
    ]


def test_two_app_instances_with_redis_share_one_limit(
    units: TestClient, database_url: str, shared_redis: None
) -> None:
    token = create_key(units, "Kiosk capil", "collector", "capil")["token"]
    answers: list[httpx2.Response] = []
    # (Connections the instances leave open are the next test's concern.)
    unclosed_redis_connections(lambda: answers.extend(through_two_instances(database_url, token)))
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    for answer in answers[5:]:
        assert_rate_limited(answer, "key")


def test_an_app_instance_closes_its_redis_connections_when_it_stops(
    units: TestClient, database_url: str, shared_redis: None
) -> None:
    token = create_key(units, "Kiosk capil", "collector", "capil")["token"]
    assert unclosed_redis_connections(lambda: through_two_instances(database_url, token)) == []
