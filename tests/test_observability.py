"""What an operator sees: request ids (answers, problems, log lines), JSON log lines, and
/metrics — who may read it, what it counts (by hand-counted requests), and with several
worker processes, every worker's counts in any scrape."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.main import create_app
from tests.conftest import app_settings, bearer
from tests.factories import PROBLEM, all_answers, post_at, response_item

METRICS_TOKEN = "metrics-token-for-the-tests-0123456789"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def observed(client: TestClient, database_url: str) -> Iterator[TestClient]:
    """An app with /metrics open to METRICS_TOKEN, on `client`'s database (emptied after)."""
    settings = app_settings(database_url, metrics_token=METRICS_TOKEN)
    with TestClient(create_app(settings), headers=dict(client.headers)) as app:
        yield app


def scrape(client: TestClient) -> Samples:
    answer = client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(answer.text)


# --- request ids -------------------------------------------------------------------------------


def test_every_answer_has_a_request_id_and_a_problem_quotes_it(client: TestClient) -> None:
    ok = client.get("/health/live")
    generated = ok.headers["x-request-id"]
    assert len(generated) == 32
    int(generated, 16)
    assert client.get("/health/live").headers["x-request-id"] != generated

    for refused in (
        client.get("/v1/units/tidak-ada"),  # 404
        client.get("/v1/units", params={"limit": "many"}),  # 422
        client.get("/no/such/path"),  # no route
        client.get("/v1/units", headers={"Authorization": "Bearer wrong"}),  # 401
    ):
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["request_id"] == refused.headers["x-request-id"]


def test_a_sane_incoming_request_id_is_kept_and_another_replaced(client: TestClient) -> None:
    given = "edge-7f3a.b2:91_x"
    answer = client.get("/v1/units/tidak-ada", headers={"X-Request-ID": given})
    assert answer.headers["x-request-id"] == given
    assert answer.json()["request_id"] == given
    for insane in ("a" * 129, "two words", 'x"y', "", "ünïcode"):
        replaced = client.get("/health/live", headers={b"X-Request-ID": insane.encode()})
        assert replaced.headers["x-request-id"] != insane
        assert len(replaced.headers["x-request-id"]) == 32


def test_a_500_carries_the_request_id(lenient: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected error is answered outside the routes (Starlette's error handler):
    the id is there too."""

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("app.units.list_units", broken)
    answer = lenient.get("/v1/units", headers={"X-Request-ID": "trace-500"})
    assert answer.status_code == 500
    assert answer.headers["x-request-id"] == "trace-500"
    assert answer.json()["request_id"] == "trace-500"


def test_log_lines_are_json_with_the_request_id(
    database_url: str, admin_token: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """SKM_LOG_FORMAT=json: one JSON object per line, the request's id on the line its
    503 logs (Redis configured but not answering)."""
    settings = app_settings(database_url, redis_url="redis://127.0.0.1:1/15", log_format="JSON")
    with TestClient(create_app(settings), headers=bearer(admin_token)) as app:
        capfd.readouterr()
        answer = app.get("/v1/units", headers={"X-Request-ID": "json-log-1"})
        assert answer.status_code == 503
    # The request's own line (other lines on stderr — e.g. the interpreter reporting an
    # earlier test's object collected meanwhile — are not the service's logging).
    lines = [
        json.loads(text) for text in capfd.readouterr().err.splitlines() if "json-log-1" in text
    ]
    [line] = [line for line in lines if line["request_id"] == "json-log-1"]
    assert line["level"] == "WARNING"
    assert line["logger"] == "app.errors"
    assert line["message"].startswith("503: The rate-limit store (Redis) cannot be reached.")
    assert set(line) == {"time", "level", "logger", "message", "request_id"}
    assert line["time"].endswith("Z")
    # Text lines (the default) carry it too, in brackets.
    with TestClient(
        create_app(app_settings(database_url, redis_url="redis://127.0.0.1:1/15")),
        headers=bearer(admin_token),
    ) as app:
        capfd.readouterr()
        app.get("/v1/units", headers={"X-Request-ID": "text-log-1"})
    assert " WARNING app.errors [text-log-1] 503: " in capfd.readouterr().err


# --- who reads /metrics ------------------------------------------------------------------------


def test_metrics_are_off_without_a_token_and_need_exactly_it(
    client: TestClient, observed: TestClient, admin_token: str
) -> None:
    off = client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert off.status_code == 404
    assert off.headers["content-type"] == PROBLEM
    for headers in ({"Authorization": ""}, bearer(admin_token), bearer(METRICS_TOKEN + "x")):
        refused = observed.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["content-type"] == PROBLEM
        assert "skm_" not in refused.text
    assert (
        "skm_http_request_duration_seconds"
        in observed.get("/metrics", headers=bearer(METRICS_TOKEN)).text
    )


def test_a_metrics_token_too_short_is_refused(database_url: str) -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        app_settings(database_url, metrics_token="short")


# --- what /metrics counts ----------------------------------------------------------------------


def test_requests_are_counted_by_route_template_and_status(observed: TestClient) -> None:
    before = scrape(observed)
    for _ in range(3):
        assert observed.get("/v1/units/tidak-ada").status_code == 404
    assert observed.get("/v1/units").status_code == 200
    observed.get("/nowhere")
    after = scrape(observed)
    name = "skm_http_request_duration_seconds_count"
    one_unit = {"method": "GET", "route": "/v1/units/{code}", "status": "404"}
    assert value(after, name, **one_unit) - value(before, name, **one_unit) == 3
    units = {"method": "GET", "route": "/v1/units", "status": "200"}
    assert value(after, name, **units) - value(before, name, **units) == 1
    nowhere = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, name, **nowhere) - value(before, name, **nowhere) == 1
    bucket = "skm_http_request_duration_seconds_bucket"
    assert value(after, bucket, **one_unit, le="+Inf") == value(after, name, **one_unit)
    # No label carries a raw path: the unit's code is not a series of its own.
    assert "tidak-ada" not in observed.get("/metrics", headers=bearer(METRICS_TOKEN)).text


def test_responses_are_counted_by_channel_and_outcome(
    observed: TestClient, units: TestClient, kiosks: tuple[str, str]
) -> None:
    """By hand: 1 created + 1 duplicate + 1 conflict + 1 invalid (kiosk); a batch of 3 with
    2 created (one paper) and 1 invalid of an unknown channel; two identical answers from
    one kiosk 10 s apart: 2 created, the second flagged."""
    before = scrape(observed)
    item = response_item("capil", "ktp")
    assert observed.post("/v1/responses", json=item).status_code == 201
    assert observed.post("/v1/responses", json=item).status_code == 200
    changed = {**item, "answers": {**item["answers"], "waktu": 1}}
    assert observed.post("/v1/responses", json=changed).status_code == 409
    unknown = response_item("capil", "tidak-ada")
    assert observed.post("/v1/responses", json=unknown).status_code == 422
    batch = [
        response_item("capil", "ktp", all_answers(2)),  # not the single's answers: no burst
        response_item("capil", "ktp", channel="paper"),
        response_item("capil", "ktp", channel="fax"),
    ]
    answer = observed.post("/v1/responses/batch", json={"items": batch})
    assert answer.status_code == 200
    assert [i["status"] for i in answer.json()["items"]] == ["created", "created", "invalid"]
    post_at(observed, kiosks[0], 0)
    assert post_at(observed, kiosks[0], 10)["flag"] == "suspected"
    after = scrape(observed)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    expected = {
        ("kiosk", "created"): 1 + 1 + 2,
        ("kiosk", "duplicate"): 1,
        ("kiosk", "conflict"): 1,
        ("kiosk", "invalid"): 1,
        ("paper", "created"): 1,
        ("other", "invalid"): 1,
    }
    for (channel, outcome), n in expected.items():
        assert delta("skm_responses_total", channel=channel, outcome=outcome) == n
    assert delta("skm_flags_raised_total", channel="kiosk") == 1
    assert delta("skm_batch_items_count") == 1
    assert delta("skm_batch_items_sum") == 3
    assert delta("skm_batch_items_bucket", le="1.0") == 0
    assert delta("skm_batch_items_bucket", le="5.0") == 1


def test_a_503_is_counted_by_reason(database_url: str, admin_token: str) -> None:
    settings = app_settings(
        database_url, redis_url="redis://127.0.0.1:1/15", metrics_token=METRICS_TOKEN
    )
    with TestClient(create_app(settings), headers=bearer(admin_token)) as app:
        before = scrape(app)
        assert app.get("/v1/units").status_code == 503
        assert app.get("/health/ready").status_code == 503
        after = scrape(app)
    name = "skm_unavailable_total"
    assert value(after, name, reason="redis") - value(before, name, reason="redis") == 2
    served = {"method": "GET", "route": "/v1/units", "status": "503"}
    count = "skm_http_request_duration_seconds_count"
    assert value(after, count, **served) - value(before, count, **served) == 1


# --- several workers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=bearer(token) if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_several_workers_report_every_workers_counts(tmp_path: Path, backend: str) -> None:
    """`skm serve --workers 2`: whichever worker answers a scrape, it reports both workers'
    requests (prometheus_client's multiprocess mode, set up by `skm serve`), and one start
    time per live worker."""
    if backend != "sqlite":
        pytest.skip("one run is enough: the workers' database is their own SQLite file")
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2):
            pass
    except OSError:
        message = "several workers need Redis at 127.0.0.1:6379 (shared rate limits)"
        if os.environ.get("SKM_TEST_REQUIRE_REDIS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SKM_", "PROMETHEUS_"))}
    env |= {
        "SKM_DATABASE_URL": f"sqlite:///{tmp_path / 'workers.db'}",
        "SKM_REDIS_URL": "redis://127.0.0.1:6379/15",
        "SKM_DEVICE_SECRET": "a-secret-shared-by-the-workers",
        "SKM_METRICS_TOKEN": METRICS_TOKEN,
        "TMPDIR": str(tmp_path / "tmp"),
    }
    (tmp_path / "tmp").mkdir()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        workers: set[frozenset[tuple[str, str]]] = set()
        for _ in range(600):  # both workers up: each has set its start time
            if server.poll() is not None:
                pytest.fail(f"skm serve exited: {log.read_text()}")
            try:
                status, text = http_get(base + "/metrics", METRICS_TOKEN)
            except OSError:
                status, text = 0, ""
            if status == 200:
                workers = {
                    labels
                    for (name, labels) in samples(text)
                    if name == "skm_worker_start_time_seconds"
                }
                if len(workers) == 2:
                    break
            time.sleep(0.1)
        assert len(workers) == 2
        assert all(dict(labels).keys() == {"pid"} for labels in workers)
        sent = 40
        for _ in range(sent):
            assert http_get(base + "/health/live")[0] == 200
        live = {"method": "GET", "route": "/health/live", "status": "200"}
        for _ in range(6):  # whichever worker answers the scrape
            status, text = http_get(base + "/metrics", METRICS_TOKEN)
            assert status == 200
            assert value(samples(text), "skm_http_request_duration_seconds_count", **live) == sent
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    # `skm serve` made the workers' metrics directory, and removed it when it stopped.
    assert list((tmp_path / "tmp").iterdir()) == []
