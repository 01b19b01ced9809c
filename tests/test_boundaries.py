"""Input at the edges: integers past their column, strings longer than theirs, instants that
leave the calendar, NUL bytes, deep nesting, loose coercion. Every one is refused with a 4xx
problem naming the field (never a 500), and one such item never fails a batch."""

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.config import get_settings
from tests.factories import PROBLEM, response_item

INT32_PAST = 2**31  # one past PostgreSQL's integer
INT64_PAST = 2**63  # one past SQLite's integer
LATE = "9999-12-31T23:59:59-12:00"  # 10000-01-01 in UTC
EARLY = "0001-01-01T00:00:00+14:00"  # year 0 in UTC
STANDARD = "skm-permenpan-14-2017"
RECENT_UNIX_TIME = int(time.time()) - 600  # ten minutes ago, as a number: not an instant


def cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def names(answer: Any, status: int = 422) -> list[str]:
    """The fields a refusal names (after checking it is a problem with that status)."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body = answer.json()
    assert body["status"] == status
    assert all(e["code"] for e in body["errors"])
    return [e.get("pointer", e.get("parameter")) for e in body["errors"]]


def definition(client: TestClient) -> dict[str, Any]:
    found: dict[str, Any] = client.get("/v1/survey-versions/1").json()["definition"]
    return found


# --- parameters (path and query) -----------------------------------------------------------

PARAMETERS = [
    # integers past the column
    ("GET", f"/v1/survey-versions/{INT32_PAST}", "version_id"),
    ("GET", f"/v1/survey-versions/{INT64_PAST}", "version_id"),
    ("GET", "/v1/keys/99999999999999999999", "key_id"),
    ("GET", f"/v1/keys/{INT32_PAST}", "key_id"),
    ("POST", f"/v1/keys/{INT32_PAST}/revoke", "key_id"),
    ("GET", f"/v1/surveys/{STANDARD}/versions/{INT32_PAST}", "version"),
    ("POST", f"/v1/surveys/{STANDARD}/versions/{INT32_PAST}/publish", "version"),
    ("GET", f"/v1/audit?cursor={cursor(INT64_PAST)}", "cursor"),
    # past any column by many digits, however many zeros lead
    ("GET", "/v1/keys/" + "9" * 400, "key_id"),
    ("GET", "/v1/responses?limit=" + "0" * 30 + "1" + "0" * 25, "limit"),
    # integers written loosely
    ("GET", "/v1/keys/1.0", "key_id"),
    ("GET", "/v1/survey-versions/+1", "version_id"),
    ("GET", "/v1/responses?limit=1_0", "limit"),
    # instants and days out of range, or not written as ISO dates
    ("GET", f"/v1/audit?since={LATE}", "since"),
    ("GET", f"/v1/audit?since={EARLY.replace('+', '%2B')}", "since"),
    ("GET", "/v1/audit?since=0.5", "since"),
    ("GET", "/v1/audit?since=1700000000", "since"),
    ("GET", "/v1/responses?to=0", "to"),
    ("GET", "/v1/responses?from=1700000000", "from"),
    ("GET", "/v1/indices/kota?from=0&to=0", "from"),
    ("GET", "/v1/indices/kota/series?from=9999-01-01&to=9999-12-31", "to"),
    ("GET", "/v1/indices/kota/series?granularity=year&period=9999", "period"),
    ("GET", f"/v1/responses?cursor={cursor(LATE, str(uuid.uuid4()))}", "cursor"),
    # NUL bytes
    ("GET", "/v1/units/a%00b/form", "code"),
    ("GET", "/v1/units/a%00b", "code"),
    ("GET", "/v1/units/kota/services/a%00b", "service"),
    ("GET", "/v1/responses?unit=a%00b", "unit"),
    ("GET", "/v1/responses?period=2026%00", "period"),
    ("GET", "/v1/audit?action=a%00b", "action"),
    ("GET", "/v1/flags?unit=a%00b", "unit"),
    ("GET", "/v1/surveys?owner_unit=a%00b", "owner_unit"),
    ("GET", "/v1/indices/a%00b?period=2026", "code"),
    ("GET", f"/v1/units?cursor={cursor('a' + chr(0))}", "cursor"),
    ("GET", "/v1/units/kota/populations/2026%00", "period"),
    # a period code with anything after it (a trailing newline once slipped through `$`)
    ("GET", "/v1/units/kota/populations/2026%0A", "period"),
    ("GET", "/v1/indices/kota?period=2026-Q1%0A", "period"),
    ("GET", "/v1/responses?period=%D9%A2%D9%A0%D9%A2%D9%A6", "period"),  # Arabic-Indic 2026
]


@pytest.mark.parametrize(("method", "url", "where"), PARAMETERS)
def test_a_bad_parameter_is_a_problem_naming_it(
    mall: TestClient, method: str, url: str, where: str
) -> None:
    assert where in names(mall.request(method, url))


@pytest.mark.parametrize(
    "url", ["/v1/public/units/a%00b/form", "/v1/public/indices/a%00b?period=2026"]
)
def test_a_nul_byte_is_refused_without_a_key(client: TestClient, url: str) -> None:
    assert "code" in names(client.get(url, headers={"Authorization": ""}))


def test_the_widest_accepted_parameters_are_answered(mall: TestClient) -> None:
    """The edges inside the range are served (404 or 200), not refused and not a 500."""
    assert mall.get("/v1/keys/" + "0" * 30 + "7").status_code == 404
    assert mall.get("/v1/responses?limit=" + "0" * 30 + "5").status_code == 200
    assert mall.get(f"/v1/survey-versions/{INT32_PAST - 1}").status_code == 404
    assert mall.get(f"/v1/keys/{INT32_PAST - 1}").status_code == 404
    latest = "9999-12-30T23:59:59%2B14:00"
    assert mall.get(f"/v1/audit?since={latest}").status_code == 200
    assert mall.get("/v1/audit?since=0001-01-02T00:00:00Z").status_code == 200
    assert mall.get("/v1/responses?from=0001-01-01&to=9998-12-31").status_code == 200
    series = mall.get("/v1/indices/kota/series?granularity=year&from=9990-01-01&to=9998-12-31")
    assert series.status_code == 200, series.text


# --- bodies --------------------------------------------------------------------------------


def test_integers_past_their_column_are_refused_in_bodies(mall: TestClient) -> None:
    for too_big in (INT32_PAST, INT64_PAST):
        item = response_item("disdukcapil", "ktp", survey_version_id=too_big)
        assert names(mall.post("/v1/responses", json=item)) == ["/survey_version_id"]
        unit = {"code": "x", "name": "X", "kind": "agency", "survey_version_id": too_big}
        assert names(mall.post("/v1/units", json=unit)) == ["/survey_version_id"]
        patch = mall.patch("/v1/units/kota", json={"survey_version_id": too_big})
        assert names(patch) == ["/survey_version_id"]


def test_a_key_name_longer_than_its_column_is_refused(mall: TestClient) -> None:
    for length in (101, 200):
        key = {"name": "k" * length, "role": "reader", "scope": "kota"}
        assert names(mall.post("/v1/keys", json=key)) == ["/name"]
    kept = mall.post("/v1/keys", json={"name": "k" * 100, "role": "reader", "scope": "kota"})
    assert kept.status_code == 201, kept.text
    assert kept.json()["name"] == "k" * 100


@pytest.mark.parametrize("moment", [LATE, EARLY])
def test_instants_outside_the_calendar_are_refused_in_bodies(mall: TestClient, moment: str) -> None:
    item = response_item("disdukcapil", "ktp", collected_at=moment)
    assert names(mall.post("/v1/responses", json=item)) == ["/collected_at"]
    key = {"name": "k", "role": "reader", "scope": "kota", "expires_at": moment}
    assert names(mall.post("/v1/keys", json=key)) == ["/expires_at"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("suggestion", "a\u0000b"), ("unit", "a\u0000b"), ("service", "ktp\u0000")],
)
def test_a_nul_byte_in_a_response_is_refused(mall: TestClient, field: str, value: str) -> None:
    item = response_item("disdukcapil", "ktp")
    item[field] = value
    assert names(mall.post("/v1/responses", json=item)) == [f"/{field}"]


def test_a_nul_byte_in_a_public_ticket_is_refused(mall: TestClient) -> None:
    assert mall.patch("/v1/units/disdukcapil", json={"public": True}).status_code == 200
    item = {**response_item("disdukcapil", "ktp"), "channel": "web", "ticket": "a\u0000b"}
    answer = mall.post("/v1/public/responses", json=item, headers={"Authorization": ""})
    assert names(answer) == ["/ticket"]


def test_a_nul_byte_in_a_name_is_refused(mall: TestClient) -> None:
    assert names(mall.post("/v1/units", json={"code": "x", "name": "a\u0000", "kind": "agency"}))
    assert names(mall.patch("/v1/units/kota/services/ktp", json={"name": "\u0000"})) == ["/name"]
    assert names(mall.post("/v1/keys", json={"name": "a\u0000b", "role": "admin"})) == ["/name"]


@pytest.mark.parametrize(
    ("url", "body", "where"),
    [
        ("PUT", {"served": True}, "/served"),
        ("PUT", {"served": "12"}, "/served"),
        ("PUT", {"served": 12.0}, "/served"),
        ("TICKETS", {"count": True}, "/count"),
        ("TICKETS", {"count": "2"}, "/count"),
        ("UNIT", {"survey_version_id": True}, "/survey_version_id"),
        ("UNIT", {"survey_version_id": "1"}, "/survey_version_id"),
        ("UNIT", {"public": "yes"}, "/public"),
        ("UNIT", {"active": 1}, "/active"),
    ],
)
def test_numbers_and_booleans_are_not_coerced(
    mall: TestClient, url: str, body: dict[str, Any], where: str
) -> None:
    if url == "PUT":
        answer = mall.put("/v1/units/kota/populations/2026", json=body)
    elif url == "TICKETS":
        answer = mall.post("/v1/units/kota/tickets", json=body)
    else:
        answer = mall.patch("/v1/units/kota", json=body)
    assert names(answer) == [where]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("survey_version_id", True),
        ("survey_version_id", "1"),
        ("survey_version_id", 1.0),
        ("collected_at", RECENT_UNIX_TIME),
        ("collected_at", str(RECENT_UNIX_TIME)),
        ("collected_at", RECENT_UNIX_TIME + 0.5),
    ],
)
def test_a_response_is_not_coerced(mall: TestClient, field: str, value: Any) -> None:
    item = response_item("disdukcapil", "ktp")
    item[field] = value
    assert names(mall.post("/v1/responses", json=item)) == [f"/{field}"]


def test_a_survey_definition_is_not_coerced(mall: TestClient) -> None:
    made = mall.post("/v1/surveys", json={"code": "lokal", "title": "L", "owner_unit": "kota"})
    assert made.status_code == 201, made.text
    loose = definition(mall)
    loose["questions"][0]["required"] = "yes"
    answer = mall.post("/v1/surveys/lokal/versions", json={"definition": loose})
    assert names(answer) == ["/definition/questions/0/required"]


def test_versions_past_their_column_are_refused_when_written(mall: TestClient) -> None:
    body = {"definition": definition(mall)}
    answer = mall.put(f"/v1/surveys/{STANDARD}/versions/{INT32_PAST}", json=body)
    assert names(answer) == ["version"]


# --- batches -------------------------------------------------------------------------------


def test_a_batch_keeps_its_good_items_whatever_the_bad_ones(mall: TestClient) -> None:
    """Each kind of bad item is `invalid` with its own pointer; the valid ones are stored."""
    deep: Any = 4
    for _ in range(300):
        deep = [deep]
    bad: list[tuple[Any, str]] = [
        (response_item("disdukcapil", "ktp", survey_version_id=INT32_PAST), "/survey_version_id"),
        (response_item("disdukcapil", "ktp", survey_version_id=INT64_PAST), "/survey_version_id"),
        (response_item("disdukcapil", "ktp", survey_version_id=True), "/survey_version_id"),
        (response_item("disdukcapil", "ktp", collected_at=LATE), "/collected_at"),
        (response_item("disdukcapil", "ktp", collected_at=EARLY), "/collected_at"),
        (
            {**response_item("disdukcapil", "ktp"), "collected_at": RECENT_UNIX_TIME},
            "/collected_at",
        ),
        (response_item("disdukcapil", "ktp", suggestion="a\u0000b"), "/suggestion"),
        (response_item("disdukcapil", "ktp\u0000"), "/service"),
        (response_item("disdukcapil", "ktp", answers=deep), "/answers"),
        (response_item("disdukcapil", "ktp", nested=deep), "/nested"),
        (deep, ""),
        ("text", ""),
    ]
    good = [response_item("disdukcapil", "ktp") for _ in range(3)]
    items = [good[0], *(item for item, _ in bad[:6]), good[1], *(i for i, _ in bad[6:]), good[2]]
    answer = mall.post("/v1/responses/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["created"], body["invalid"]) == (3, len(bad))
    results = body["items"]
    assert [r["status"] for r in results] == [
        "created",
        *["invalid"] * 6,
        "created",
        *["invalid"] * (len(bad) - 6),
        "created",
    ]
    refused = [r for r in results if r["status"] == "invalid"]
    for result, (_, pointer) in zip(refused, bad, strict=True):
        index = result["index"]
        assert [e["pointer"] for e in result["problem"]["errors"]] == [f"/items/{index}{pointer}"]
    for item in good:
        assert mall.get(f"/v1/responses/{item['id']}").status_code == 200
    # The same batch again: the good items are duplicates, the bad ones refused the same way.
    again = mall.post("/v1/responses/batch", json={"items": items}).json()
    assert (again["created"], again["duplicate"], again["invalid"]) == (0, 3, len(bad))


def test_a_batch_too_deep_to_parse_is_malformed(mall: TestClient) -> None:
    depth = 100_000
    raw = '{"items": [' + "[" * depth + "]" * depth + "]}"
    answer = mall.post(
        "/v1/responses/batch", content=raw, headers={"Content-Type": "application/json"}
    )
    assert names(answer, 400) == [""]


def test_a_batch_envelope_is_validated_like_any_body(mall: TestClient) -> None:
    item = response_item("disdukcapil", "ktp")
    assert names(mall.post("/v1/responses/batch", json={"items": [item], "x": 1})) == ["/x"]
    assert names(mall.post("/v1/responses/batch", json={})) == ["/items"]
    assert names(mall.post("/v1/responses/batch", json={"items": []})) == ["/items"]
    assert names(mall.post("/v1/responses/batch", json=[item])) == [""]
    too_many = {"items": [item] * 501}
    assert names(mall.post("/v1/responses/batch", json=too_many)) == ["/items"]


def test_a_batch_needs_a_json_content_type_like_a_single_response(mall: TestClient) -> None:
    item = response_item("disdukcapil", "ktp")
    single = mall.post(
        "/v1/responses", content=json.dumps(item), headers={"Content-Type": "text/plain"}
    )
    batch = mall.post(
        "/v1/responses/batch",
        content=json.dumps({"items": [item]}),
        headers={"Content-Type": "text/plain"},
    )
    assert single.status_code in (415, 422)
    assert (batch.status_code, batch.headers["content-type"]) == (
        single.status_code,
        PROBLEM,
    )
    assert batch.json()["type"] == single.json()["type"]
    assert mall.get(f"/v1/responses/{item['id']}").status_code == 404


@pytest.mark.parametrize(
    ("moment", "code"),
    [
        ("0001-01-02T00:00:00+00:00", "collected_too_old"),
        ("9999-12-30T23:59:59-00:00", "collected_in_future"),
        ("9999-12-31T00:00:00+14:00", "collected_in_future"),
    ],
)
def test_an_instant_at_the_edge_of_the_range_reaches_the_method(
    mall: TestClient, moment: str, code: str
) -> None:
    """Just inside the calendar: refused by the collection rules, not by the type."""
    item = response_item("disdukcapil", "ktp", collected_at=moment)
    refused = mall.post("/v1/responses", json=item)
    assert refused.status_code == 422, refused.text
    assert [(e["pointer"], e["code"]) for e in refused.json()["errors"]] == [
        ("/collected_at", code)
    ]


# --- settings ------------------------------------------------------------------------------

BAD_SETTINGS = [
    ({"SKM_DATABASE_URL": ""}, "SKM_DATABASE_URL"),
    ({"SKM_DATABASE_URL": "mysql://localhost/skm"}, "SKM_DATABASE_URL"),
    ({"SKM_DB_POOL_SIZE": "none"}, "SKM_DB_POOL_SIZE"),
    ({"SKM_LOG_LEVEL": "LOUD"}, "SKM_LOG_LEVEL"),
    ({"SKM_RATE_LIMIT_KEY": "lots"}, "SKM_RATE_LIMIT_KEY"),
    ({"SKM_REDIS_URL": "http://cache:6379"}, "SKM_REDIS_URL"),
    ({"SKM_CORS_ORIGINS": "https://a.example"}, "SKM_CORS_ORIGINS"),
]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No SKM_ variable and no .env file but the test's own; settings read afresh."""
    for name in list(os.environ):
        if name.startswith("SKM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("clean_environment")
@pytest.mark.parametrize(("environment", "name"), BAD_SETTINGS)
def test_a_bad_setting_stops_skm_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment: dict[str, str],
    name: str,
) -> None:
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        main(["migrate"])
    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"skm: {name}: ")


@pytest.mark.usefixtures("clean_environment")
def test_every_bad_setting_is_named_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SKM_DATABASE_URL", "")
    monkeypatch.setenv("SKM_MAX_PAGE_SIZE", "0")
    with pytest.raises(SystemExit):
        main(["serve"])
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "SKM_DATABASE_URL",
        "SKM_MAX_PAGE_SIZE",
    ]


def test_the_skm_command_says_which_setting_without_a_traceback(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SKM_")}
    ran = subprocess.run(
        [str(Path(sys.executable).with_name("skm")), "create-key", "--name", "x"],
        env={**environment, "SKM_DATABASE_URL": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 2
    assert ran.stdout == ""
    assert ran.stderr.splitlines() == [
        "skm: SKM_DATABASE_URL: not a database URL (sqlite:///path or postgresql://…)"
    ]


@pytest.mark.usefixtures("clean_environment")
def test_a_database_url_that_cannot_be_opened_stops_skm_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SKM_DATABASE_URL", f"sqlite:///{tmp_path}/no-such-directory/skm.db")
    with pytest.raises(SystemExit) as stopped:
        main(["migrate"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "skm: SKM_DATABASE_URL: cannot open the database (OperationalError)"
    ]


@pytest.mark.usefixtures("clean_environment")
def test_skm_create_key_refuses_a_name_longer_than_its_column(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["create-key", "--name", "k" * 101])
    assert stopped.value.code == 2
    assert "--name: String should have at most 100 characters" in capsys.readouterr().err


@pytest.mark.usefixtures("clean_environment")
def test_skm_create_key_refuses_a_scope_naming_no_unit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SKM_DATABASE_URL", f"sqlite:///{tmp_path}/skm.db")
    with pytest.raises(SystemExit) as stopped:
        main(["create-key", "--name", "Kiosk", "--role", "collector", "--scope", "nowhere"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == "skm: error: No unit 'nowhere'."
