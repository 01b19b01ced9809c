"""Access control: which role may call which endpoint on which unit; keys; secrets kept out of
logs and error bodies; one-time tickets; rate limits; suspicious bursts; the audit log; CORS.

The hierarchy is kota → mpp → {capil, perizinan, arsip}; every scoped key is scoped on capil,
so perizinan is out of its scope. capil and perizinan are open to the public, arsip is not.
"""

import gc
import itertools
import logging
import math
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx2
import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, select, update
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth import token_hash
from app.db import sync_url
from app.main import create_app
from app.models import ApiKey
from tests.conftest import (
    app_settings,
    bearer,
    drop_postgres_database,
    insert_key,
    migrated,
    postgres_database,
)
from tests.factories import (
    PROBLEM,
    all_answers,
    only_error,
    response_item,
    variant_definition,
)

Role = Literal["admin", "manager", "collector", "reader", "reader+rows", "none"]
Where = Literal["in", "out", "missing"]
ROLES: tuple[Role, ...] = ("admin", "manager", "collector", "reader", "reader+rows", "none")
SCOPED_ROLES: tuple[Role, ...] = ("manager", "collector", "reader", "reader+rows")
WWW_AUTHENTICATE = 'Bearer realm="skm"'
# Targets of keyed endpoints: in the keys' scope, outside it, and nonexistent.
UNITS: dict[Where, str] = {"in": "capil", "out": "perizinan", "missing": "tidak-ada"}
# Targets of public endpoints: a public unit, a unit not open to the public, and nonexistent.
PUBLIC_UNITS: dict[Where, str] = {"in": "capil", "out": "arsip", "missing": "tidak-ada"}
SERVICE_OF = {"capil": "ktp", "perizinan": "izin", "arsip": "arsip", "tidak-ada": "ktp"}
MISSING_ID = 2_000_000_000
YEAR = str(datetime.now(UTC).year)
PUBLIC_QUARTER = "2025-Q1"  # public figures: whole quarters, once nothing more can arrive


@dataclass
class World:
    """The hierarchy, one key per role, and things in and out of the keys' scope."""

    client: TestClient
    tokens: dict[Role, str | None]
    key_ids: dict[Where, int]
    surveys: dict[Where, str]
    versions: dict[Where, int]
    responses: dict[Where, str]
    flagged: dict[Where, str]
    numbers: Iterator[int] = field(default_factory=itertools.count)

    def send(self, role: Role, method: str, url: str, **kwargs: Any) -> httpx2.Response:
        """A request with `role`'s key (no Authorization header at all for 'none')."""
        request = self.client.build_request(method, url, **kwargs)
        token = self.tokens[role]
        if token is None:
            del request.headers["authorization"]
        else:
            request.headers["authorization"] = f"Bearer {token}"
        return self.client.send(request)

    def admin(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """A preparatory request as the administrator, which must succeed."""
        answer = self.send("admin", method, url, **kwargs)
        assert answer.status_code in (200, 201), answer.text
        body: dict[str, Any] = answer.json()
        return body

    def new_code(self, prefix: str) -> str:
        return f"{prefix}-{next(self.numbers)}"


def create_key(
    client: TestClient, name: str, role: str, scope: str | None, **fields: Any
) -> dict[str, Any]:
    """A key made through the API by the client's key; the answer (with the token, once)."""
    body = {"name": name, "role": role, "scope": scope, **fields}
    created = client.post("/v1/keys", json=body)
    assert created.status_code == 201, created.text
    key: dict[str, Any] = created.json()
    return key


def post_unit(client: TestClient, code: str, kind: str, **fields: Any) -> None:
    body = {"code": code, "name": f"Unit {code}", "kind": kind, **fields}
    created = client.post("/v1/units", json=body)
    assert created.status_code == 201, created.text


def hierarchy(client: TestClient) -> None:
    """kota (WITA) → mpp → {capil (ktp), perizinan (izin), arsip (arsip)}; capil and perizinan
    open to the public."""
    post_unit(client, "kota", "government", time_zone="Asia/Makassar")
    post_unit(client, "mpp", "service_mall", parent="kota")
    for code, public in (("capil", True), ("perizinan", True), ("arsip", False)):
        post_unit(client, code, "agency", parent="mpp", public=public)
        service = SERVICE_OF[code]
        made = client.post(f"/v1/units/{code}/services", json={"code": service, "name": service})
        assert made.status_code == 201, made.text


@pytest.fixture
def world(client: TestClient, admin_token: str) -> World:
    hierarchy(client)
    tokens: dict[Role, str | None] = {"admin": admin_token, "none": None}
    scoped: tuple[tuple[Role, str, str, bool], ...] = (
        ("manager", "Manajer capil", "manager", False),
        ("collector", "Kiosk capil", "collector", False),
        ("reader", "Dasbor capil", "reader", False),
        ("reader+rows", "Analis capil", "reader", True),
    )
    for role, name, key_role, rows in scoped:
        tokens[role] = create_key(client, name, key_role, "capil", read_responses=rows)["token"]
    key_ids: dict[Where, int] = {
        "in": create_key(client, "Kiosk capil 2", "collector", "capil")["id"],
        "out": create_key(client, "Kiosk perizinan", "collector", "perizinan")["id"],
        "missing": MISSING_ID,
    }
    surveys: dict[Where, str] = {"in": "survei-capil", "out": "survei-perizinan"}
    versions: dict[Where, int] = {}
    for where in ("in", "out"):
        owner = UNITS[where]
        made = client.post(
            "/v1/surveys",
            json={"code": surveys[where], "title": f"Survei {owner}", "owner_unit": owner},
        )
        assert made.status_code == 201, made.text
        version = client.post(
            f"/v1/surveys/{surveys[where]}/versions", json={"definition": variant_definition()}
        )
        assert version.status_code == 201, version.text
        versions[where] = version.json()["id"]
    surveys["missing"], versions["missing"] = "survei-tidak-ada", MISSING_ID
    # In each unit a response, then identical answers 10 s later from the same key: flagged.
    start = datetime.now(UTC) - timedelta(hours=1)
    items = [
        response_item(
            UNITS[where], SERVICE_OF[UNITS[where]], collected_at=start + timedelta(seconds=s)
        )
        for where in ("in", "out")
        for s in (0, 10)
    ]
    batch = client.post("/v1/responses/batch", json={"items": items})
    assert batch.status_code == 200, batch.text
    stored = batch.json()["items"]
    assert [i["response"]["flag"] for i in stored] == [None, "suspected", None, "suspected"]
    responses: dict[Where, str] = {"in": items[0]["id"], "out": items[2]["id"]}
    flagged: dict[Where, str] = {"in": items[1]["id"], "out": items[3]["id"]}
    responses["missing"] = flagged["missing"] = "00000000-0000-4000-8000-000000000000"
    for unit in ("capil", "perizinan"):
        service = SERVICE_OF[unit]
        for path in (f"/v1/units/{unit}", f"/v1/units/{unit}/services/{service}"):
            put = client.put(f"{path}/populations/{YEAR}", json={"served": 500})
            assert put.status_code == 200, put.text
    return World(client, tokens, key_ids, surveys, versions, responses, flagged)


# --- the matrix ----------------------------------------------------------------------------

Call = Callable[[World, Role, Where], httpx2.Response]
Expect = dict[Role, tuple[int, int]]


def problem_summary(answer: httpx2.Response) -> object:
    """What a client can tell from an answer, short of free-text details."""
    if answer.status_code >= 400:
        body = answer.json()
        errors = sorted(
            (e.get("pointer", e.get("parameter")), e["code"]) for e in body.get("errors") or []
        )
        return answer.status_code, answer.headers["content-type"], body["type"], errors
    if answer.headers.get("content-type", "").startswith("application/json"):
        return answer.status_code, answer.json()
    return answer.status_code, answer.text


def batch_summary(answer: httpx2.Response) -> object:
    """A batch answers 200; what tells its items apart is each item's outcome."""
    if answer.status_code != 200:
        return problem_summary(answer)
    return [
        (
            item["status"],
            item["problem"] and item["problem"]["type"],
            [(e.get("pointer"), e["code"]) for e in (item["problem"] or {}).get("errors") or []],
        )
        for item in answer.json()["items"]
    ]


@dataclass(frozen=True)
class Row:
    call: Call
    expect: Expect
    targeted: bool = True  # False: the endpoint names no unit, key, survey or response
    public: bool = False  # targets: a public unit, a non-public one, a nonexistent one
    summary: Callable[[httpx2.Response], object] = problem_summary


def any_key(ok: int, out: int = 404) -> Expect:
    """Every key, within its scope."""
    return {"admin": (ok, ok), **dict.fromkeys(SCOPED_ROLES, (ok, out)), "none": (401, 401)}


def only(roles: tuple[Role, ...], ok: int, out: int = 404) -> Expect:
    """These roles within their scope; other keys 403; no key 401."""
    expect: Expect = dict.fromkeys(ROLES, (403, 403))
    expect.update(dict.fromkeys(roles, (ok, out)))
    expect["none"] = (401, 401)
    if "admin" in roles:
        expect["admin"] = (ok, ok)
    return expect


def admin_and_manager(ok: int, out: int = 404) -> Expect:
    return only(("admin", "manager"), ok, out)


def submitters(ok: int, out: int = 404) -> Expect:
    return only(("admin", "manager", "collector"), ok, out)


def index_readers(ok: int) -> Expect:
    return only(("admin", "manager", "reader", "reader+rows"), ok)


def row_readers(ok: int) -> Expect:
    return only(("admin", "manager", "reader+rows"), ok)


def everyone(ok: int, out: int = 404) -> Expect:
    """Public endpoints: the same with any key or none."""
    return dict.fromkeys(ROLES, (ok, out))


def get(path: str, **params: str) -> Call:
    """GET `path`, its {code} the target unit (unit codes go in `params` values as {code})."""

    def call(w: World, role: Role, where: Where) -> httpx2.Response:
        unit = UNITS[where]
        query = {k: v.format(code=unit) for k, v in params.items()}
        url = path.format(code=unit, service=SERVICE_OF[unit], period=YEAR)
        return w.send(role, "GET", url, params=query)

    return call


def public_get(path: str, **params: str) -> Call:
    def call(w: World, role: Role, where: Where) -> httpx2.Response:
        return w.send(role, "GET", path.format(code=PUBLIC_UNITS[where]), params=params)

    return call


def fresh_child(w: World, where: Where) -> str:
    """A new unit below the target unit (deletable); a nonexistent code for 'missing'."""
    if where == "missing":
        return UNITS[where]
    code = w.new_code("loket")
    body = {"code": code, "name": code, "kind": "service_unit", "parent": UNITS[where]}
    w.admin("POST", "/v1/units", json=body)
    return code


def fresh_service(w: World, where: Where) -> str:
    code = w.new_code("layanan")
    if where != "missing":
        w.admin("POST", f"/v1/units/{UNITS[where]}/services", json={"code": code, "name": code})
    return code


def fresh_key(w: World, where: Where) -> int:
    if where == "missing":
        return MISSING_ID
    body = {"name": w.new_code("kiosk"), "role": "collector", "scope": UNITS[where]}
    key_id: int = w.admin("POST", "/v1/keys", json=body)["id"]
    return key_id


def fresh_draft(w: World, where: Where) -> int:
    if where == "missing":
        return 1
    body = {"definition": variant_definition()}
    number: int = w.admin("POST", f"/v1/surveys/{w.surveys[where]}/versions", json=body)["version"]
    return number


def fresh_population(w: World, where: Where, service: bool) -> str:
    """The population URL of the target unit (or its service), set just before."""
    unit = UNITS[where]
    base = f"/v1/units/{unit}" + (f"/services/{SERVICE_OF[unit]}" if service else "")
    url = f"{base}/populations/{YEAR}"
    if where != "missing":
        w.admin("PUT", url, json={"served": 120})
    return url


def delete_unit(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "DELETE", f"/v1/units/{fresh_child(w, where)}")


def create_unit_below(w: World, role: Role, where: Where) -> httpx2.Response:
    code = w.new_code("unit")
    body = {"code": code, "name": code, "kind": "service_unit", "parent": UNITS[where]}
    return w.send(role, "POST", "/v1/units", json=body)


def patch_unit(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "PATCH", f"/v1/units/{UNITS[where]}", json={"name": "Nama baru"})


def create_service(w: World, role: Role, where: Where) -> httpx2.Response:
    code = w.new_code("layanan")
    body = {"code": code, "name": code}
    return w.send(role, "POST", f"/v1/units/{UNITS[where]}/services", json=body)


def patch_service(w: World, role: Role, where: Where) -> httpx2.Response:
    unit = UNITS[where]
    url = f"/v1/units/{unit}/services/{SERVICE_OF[unit]}"
    return w.send(role, "PATCH", url, json={"name": "Layanan baru"})


def delete_service(w: World, role: Role, where: Where) -> httpx2.Response:
    url = f"/v1/units/{UNITS[where]}/services/{fresh_service(w, where)}"
    return w.send(role, "DELETE", url)


def list_surveys(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "GET", "/v1/surveys", params={"owner_unit": UNITS[where]})


def create_survey(w: World, role: Role, where: Where) -> httpx2.Response:
    body = {"code": w.new_code("survei"), "title": "Survei", "owner_unit": UNITS[where]}
    return w.send(role, "POST", "/v1/surveys", json=body)


def get_survey(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "GET", f"/v1/surveys/{w.surveys[where]}")


def create_version(w: World, role: Role, where: Where) -> httpx2.Response:
    url = f"/v1/surveys/{w.surveys[where]}/versions"
    return w.send(role, "POST", url, json={"definition": variant_definition()})


def get_version(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "GET", f"/v1/surveys/{w.surveys[where]}/versions/1")


def update_draft(w: World, role: Role, where: Where) -> httpx2.Response:
    url = f"/v1/surveys/{w.surveys[where]}/versions/{fresh_draft(w, where)}"
    return w.send(role, "PUT", url, json={"definition": variant_definition(title="Diubah")})


def publish(w: World, role: Role, where: Where) -> httpx2.Response:
    url = f"/v1/surveys/{w.surveys[where]}/versions/{fresh_draft(w, where)}/publish"
    return w.send(role, "POST", url)


def version_by_id(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "GET", f"/v1/survey-versions/{w.versions[where]}")


def submit(w: World, role: Role, where: Where) -> httpx2.Response:
    unit = UNITS[where]
    return w.send(role, "POST", "/v1/responses", json=response_item(unit, SERVICE_OF[unit]))


def submit_batch(w: World, role: Role, where: Where) -> httpx2.Response:
    unit = UNITS[where]
    body = {"items": [response_item(unit, SERVICE_OF[unit])]}
    return w.send(role, "POST", "/v1/responses/batch", json=body)


def get_response(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "GET", f"/v1/responses/{w.responses[where]}")


def put_population(service: bool) -> Call:
    def call(w: World, role: Role, where: Where) -> httpx2.Response:
        unit = UNITS[where]
        base = f"/v1/units/{unit}" + (f"/services/{SERVICE_OF[unit]}" if service else "")
        return w.send(role, "PUT", f"{base}/populations/{YEAR}", json={"served": 250})

    return call


def delete_population(service: bool) -> Call:
    def call(w: World, role: Role, where: Where) -> httpx2.Response:
        return w.send(role, "DELETE", fresh_population(w, where, service))

    return call


def list_keys(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "GET", "/v1/keys")


def create_key_in(w: World, role: Role, where: Where) -> httpx2.Response:
    body = {"name": w.new_code("kiosk"), "role": "collector", "scope": UNITS[where]}
    return w.send(role, "POST", "/v1/keys", json=body)


def get_key(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "GET", f"/v1/keys/{w.key_ids[where]}")


def revoke_key(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "POST", f"/v1/keys/{fresh_key(w, where)}/revoke")


def audit_log(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "GET", "/v1/audit")


def issue_tickets(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "POST", f"/v1/units/{UNITS[where]}/tickets", json={"count": 1})


def review(w: World, role: Role, where: Where) -> httpx2.Response:
    url = f"/v1/responses/{w.flagged[where]}/review"
    return w.send(role, "POST", url, json={"decision": "confirm"})


def public_submit(w: World, role: Role, where: Where) -> httpx2.Response:
    unit = PUBLIC_UNITS[where]
    body = response_item(unit, SERVICE_OF[unit], channel="web")
    return w.send(role, "POST", "/v1/public/responses", json=body)


def health(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "GET", "/health")


ROWS: dict[str, Row] = {
    "POST /v1/units": Row(create_unit_below, admin_and_manager(201, out=422)),
    "GET /v1/units": Row(get("/v1/units", parent="{code}"), any_key(200)),
    "GET /v1/units/{code}": Row(get("/v1/units/{code}"), any_key(200)),
    "PATCH /v1/units/{code}": Row(patch_unit, admin_and_manager(200)),
    "DELETE /v1/units/{code}": Row(delete_unit, admin_and_manager(204)),
    "GET /v1/units/{code}/tree": Row(get("/v1/units/{code}/tree"), any_key(200)),
    "POST /v1/units/{code}/services": Row(create_service, admin_and_manager(201)),
    "GET /v1/units/{code}/services": Row(get("/v1/units/{code}/services"), any_key(200)),
    "GET /v1/units/{code}/services/{service}": Row(
        get("/v1/units/{code}/services/{service}"), any_key(200)
    ),
    "PATCH /v1/units/{code}/services/{service}": Row(patch_service, admin_and_manager(200)),
    "DELETE /v1/units/{code}/services/{service}": Row(delete_service, admin_and_manager(204)),
    # Out of scope is as if the owner did not exist: no survey of it (an empty list).
    "GET /v1/surveys": Row(list_surveys, any_key(200, out=200)),
    "POST /v1/surveys": Row(create_survey, admin_and_manager(201, out=422)),
    "GET /v1/surveys/{code}": Row(get_survey, any_key(200)),
    "POST /v1/surveys/{code}/versions": Row(create_version, admin_and_manager(201)),
    "GET /v1/surveys/{code}/versions/{version}": Row(get_version, any_key(200)),
    "PUT /v1/surveys/{code}/versions/{version}": Row(update_draft, admin_and_manager(200)),
    "POST /v1/surveys/{code}/versions/{version}/publish": Row(publish, admin_and_manager(200)),
    "GET /v1/survey-versions/{version_id}": Row(version_by_id, any_key(200)),
    "GET /v1/units/{code}/form": Row(get("/v1/units/{code}/form"), any_key(200)),
    "POST /v1/responses": Row(submit, submitters(201, out=422)),
    "GET /v1/responses": Row(get("/v1/responses", unit="{code}"), row_readers(200)),
    # A batch answers 200 item by item: out of scope, its item is refused as an unknown unit.
    "POST /v1/responses/batch": Row(submit_batch, submitters(200, out=200), summary=batch_summary),
    "GET /v1/responses/export.csv": Row(
        get("/v1/responses/export.csv", unit="{code}"), row_readers(200)
    ),
    "GET /v1/responses/{response_id}": Row(get_response, row_readers(200)),
    "GET /v1/units/{code}/populations": Row(
        get("/v1/units/{code}/populations"), index_readers(200)
    ),
    "PUT /v1/units/{code}/populations/{period}": Row(
        put_population(service=False), admin_and_manager(200)
    ),
    "GET /v1/units/{code}/populations/{period}": Row(
        get("/v1/units/{code}/populations/{period}"), index_readers(200)
    ),
    "DELETE /v1/units/{code}/populations/{period}": Row(
        delete_population(service=False), admin_and_manager(204)
    ),
    "PUT /v1/units/{code}/services/{service}/populations/{period}": Row(
        put_population(service=True), admin_and_manager(200)
    ),
    "GET /v1/units/{code}/services/{service}/populations/{period}": Row(
        get("/v1/units/{code}/services/{service}/populations/{period}"), index_readers(200)
    ),
    "DELETE /v1/units/{code}/services/{service}/populations/{period}": Row(
        delete_population(service=True), admin_and_manager(204)
    ),
    "GET /v1/indices/{code}": Row(get("/v1/indices/{code}", period=YEAR), index_readers(200)),
    "GET /v1/indices/{code}/breakdown": Row(
        get("/v1/indices/{code}/breakdown", period=YEAR, by="service"), index_readers(200)
    ),
    "GET /v1/indices/{code}/series": Row(
        get("/v1/indices/{code}/series", period=YEAR), index_readers(200)
    ),
    "GET /v1/indices/{code}/ranking": Row(
        get("/v1/indices/{code}/ranking", period=YEAR), index_readers(200)
    ),
    "GET /v1/keys": Row(list_keys, admin_and_manager(200, out=200), targeted=False),
    "POST /v1/keys": Row(create_key_in, admin_and_manager(201)),
    "GET /v1/keys/{key_id}": Row(get_key, admin_and_manager(200)),
    "POST /v1/keys/{key_id}/revoke": Row(revoke_key, admin_and_manager(200)),
    "GET /v1/audit": Row(audit_log, only(("admin",), 200), targeted=False),
    "POST /v1/units/{code}/tickets": Row(issue_tickets, submitters(200)),
    "GET /v1/flags": Row(get("/v1/flags", unit="{code}"), admin_and_manager(200)),
    "POST /v1/responses/{response_id}/review": Row(review, admin_and_manager(200)),
    "GET /v1/public/units/{code}/form": Row(
        public_get("/v1/public/units/{code}/form"), everyone(200), public=True
    ),
    "POST /v1/public/responses": Row(public_submit, everyone(201, out=422), public=True),
    "GET /v1/public/indices/{code}": Row(
        public_get("/v1/public/indices/{code}", period=PUBLIC_QUARTER), everyone(200), public=True
    ),
    "GET /v1/public/indices/{code}/breakdown": Row(
        public_get("/v1/public/indices/{code}/breakdown", period=PUBLIC_QUARTER, by="service"),
        everyone(200),
        public=True,
    ),
    "GET /health": Row(health, everyone(200, out=200), targeted=False),
    "GET /health/live": Row(get("/health/live"), everyone(200, out=200), targeted=False),
    "GET /health/ready": Row(get("/health/ready"), everyone(200, out=200), targeted=False),
}


def test_the_matrix_has_a_row_for_every_operation_of_the_api(database_url: str) -> None:
    spec = create_app(app_settings(database_url)).openapi()
    operations = {
        f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item
    }
    assert operations == set(ROWS)


def check_answer(answer: httpx2.Response) -> None:
    """Every refusal is a problem document; a 401 says how to authenticate."""
    if answer.status_code < 400:
        return
    assert answer.headers["content-type"] == PROBLEM, answer.text
    body = answer.json()
    assert body["status"] == answer.status_code
    if answer.status_code == 401:
        assert answer.headers["www-authenticate"] == WWW_AUTHENTICATE
        assert body["type"] == "urn:skm:problem:unauthorized"
    if answer.status_code == 403:
        assert body["type"] == "urn:skm:problem:forbidden"


@pytest.mark.parametrize("operation", list(ROWS))
def test_each_role_gets_the_right_status_in_and_out_of_scope_and_out_looks_nonexistent(
    world: World, operation: str
) -> None:
    row = ROWS[operation]
    statuses: Expect = {}
    unlike_nonexistent: dict[Role, tuple[object, object]] = {}
    for role in ROLES:
        if not row.targeted:
            answer = row.call(world, role, "in")
            check_answer(answer)
            statuses[role] = (answer.status_code, answer.status_code)
            continue
        answers = {where: row.call(world, role, where) for where in ("in", "out", "missing")}
        for answer in answers.values():
            check_answer(answer)
        statuses[role] = (answers["in"].status_code, answers["out"].status_code)
        if role != "admin" or row.public:
            out, missing = row.summary(answers["out"]), row.summary(answers["missing"])
            if out != missing:
                unlike_nonexistent[role] = (out, missing)
    assert statuses == row.expect
    assert unlike_nonexistent == {}


def test_a_scoped_keys_survey_list_holds_only_surveys_its_units_may_use_naming_no_unit_above(
    world: World,
) -> None:
    variant = {"code": "survei-kota", "title": "Survei kota", "owner_unit": "kota"}
    assert world.send("admin", "POST", "/v1/surveys", json=variant).status_code == 201
    for role in SCOPED_ROLES:
        listed = world.send(role, "GET", "/v1/surveys")
        assert listed.status_code == 200, listed.text
        owners = {s["code"]: s["owner_unit"] for s in listed.json()}
        assert owners == {
            "skm-permenpan-14-2017": None,
            "survei-capil": "capil",
            "survei-kota": None,  # an ancestor's variant (capil may use it), owner not named
        }
        assert world.send(role, "GET", "/v1/surveys", params={"owner_unit": "kota"}).json() == []
        shown = world.send(role, "GET", "/v1/surveys/survei-kota")
        assert shown.status_code == 200, shown.text
        assert (shown.json()["owner_unit"], shown.json()["builtin"]) == (None, False)


# --- keys ----------------------------------------------------------------------------------


@pytest.fixture
def units(client: TestClient) -> TestClient:
    """The hierarchy only, the client calling as the administrator."""
    hierarchy(client)
    return client


def keyless(client: TestClient, method: str, url: str, **kwargs: Any) -> httpx2.Response:
    request = client.build_request(method, url, **kwargs)
    del request.headers["authorization"]
    return client.send(request)


def key_row(client: TestClient, key_id: int) -> dict[str, Any]:
    """A key as the administrator sees it."""
    answer = client.get(f"/v1/keys/{key_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def refusal(answer: httpx2.Response) -> tuple[int, str, str]:
    """(status, problem type, detail) of a refusal, checked to be a problem document."""
    assert answer.headers["content-type"] == PROBLEM, answer.text
    body = answer.json()
    return answer.status_code, body["type"], body["detail"]


def unauthorized(detail: str) -> tuple[int, str, str]:
    return 401, "urn:skm:problem:unauthorized", detail


@pytest.fixture
def other_instance(client: TestClient, database_url: str) -> Iterator[TestClient]:
    """A second instance of the app on the same database (as behind a load balancer)."""
    with TestClient(create_app(app_settings(database_url))) as c:
        yield c


def test_a_revoked_key_is_refused_with_401_from_the_next_request_on_every_instance(
    units: TestClient, other_instance: TestClient
) -> None:
    key = create_key(units, "Kiosk capil", "collector", "capil")
    as_kiosk = bearer(key["token"])
    assert units.get("/v1/units/capil", headers=as_kiosk).status_code == 200
    assert other_instance.get("/v1/units/capil", headers=as_kiosk).status_code == 200
    revoked = units.post(f"/v1/keys/{key['id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["active"], revoked.json()["revoked_at"] is not None) == (False, True)
    for instance in (units, other_instance):
        refused = instance.get("/v1/units/capil", headers=as_kiosk)
        assert refusal(refused) == unauthorized("This key was revoked.")
        assert refused.headers["www-authenticate"] == WWW_AUTHENTICATE
    # Revoking again changes nothing.
    again = units.post(f"/v1/keys/{key['id']}/revoke")
    assert (again.status_code, again.json()["revoked_at"]) == (200, revoked.json()["revoked_at"])


def test_an_expired_key_is_refused_with_401_as_soon_as_it_expires(
    units: TestClient, database_url: str
) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    key = create_key(units, "Kiosk sementara", "collector", "capil", expires_at=tomorrow)
    assert units.get("/v1/units/capil", headers=bearer(key["token"])).status_code == 200
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.execute(
            update(ApiKey)
            .where(ApiKey.id == key["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    engine.dispose()
    refused = units.get("/v1/units/capil", headers=bearer(key["token"]))
    assert refusal(refused) == unauthorized("This key has expired.")
    assert refused.headers["www-authenticate"] == WWW_AUTHENTICATE
    assert key_row(units, key["id"])["active"] is False


def test_a_key_cannot_be_created_already_expired(units: TestClient) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    body = {"name": "Kiosk", "role": "collector", "scope": "capil", "expires_at": past}
    refused = units.post("/v1/keys", json=body)
    assert refused.status_code == 422
    assert only_error(refused.json()) == ("/expires_at", "past")


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        ("Bearer skm_not-a-key-at-all", "Unknown key."),
        ("Basic dXNlcjpwYXNz", "Use 'Authorization: Bearer <key>'."),
        ("Bearer ", "Use 'Authorization: Bearer <key>'."),
    ],
)
def test_an_unknown_or_malformed_key_is_refused_with_401(
    units: TestClient, authorization: str, detail: str
) -> None:
    refused = units.get("/v1/units/capil", headers={"Authorization": authorization})
    assert refusal(refused) == unauthorized(detail)
    assert refused.headers["www-authenticate"] == WWW_AUTHENTICATE


def test_last_used_at_is_set_once_the_key_is_used(units: TestClient) -> None:
    key = create_key(units, "Kiosk capil", "collector", "capil")
    assert key["last_used_at"] is None
    assert key_row(units, key["id"])["last_used_at"] is None
    before = datetime.now(UTC)
    assert units.get("/v1/units/capil/form", headers=bearer(key["token"])).status_code == 200
    after = datetime.now(UTC)
    last_used = datetime.fromisoformat(key_row(units, key["id"])["last_used_at"])
    assert before <= last_used <= after


@dataclass
class PoolWatch:
    """An app's pooled connections: in use now, the most in use at once, checkouts in all."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    now: int = 0
    most: int = 0
    taken: int = 0

    def watching(self, client: TestClient) -> None:
        pool = client.app.state.database.engine.sync_engine.pool  # type: ignore[attr-defined]
        event.listen(pool, "checkout", self.checkout)
        event.listen(pool, "checkin", self.checkin)

    def checkout(self, *_: object) -> None:
        with self.lock:
            self.now += 1
            self.taken += 1
            self.most = max(self.most, self.now)

    def checkin(self, *_: object) -> None:
        with self.lock:
            self.now -= 1


def test_a_request_holds_one_connection_at_a_time(units: TestClient, database_url: str) -> None:
    """A request that waited for a second connection while holding one could, with every
    pooled connection held that way, wait forever. The key is read on the request's own
    connection; its last use is recorded after the response, on a connection of its own."""
    kiosk = create_key(units, "Kiosk capil", "collector", "capil")
    reader = create_key(units, "Dasbor capil", "reader", "capil")
    manager = create_key(units, "Manajer capil", "manager", "capil")
    watch = PoolWatch()
    with TestClient(create_app(app_settings(database_url))) as app:
        watch.watching(app)
        # Each key's first use, so each request also records it.
        answers = [
            app.post(
                "/v1/responses", json=response_item("capil", "ktp"), headers=bearer(kiosk["token"])
            ),
            app.get("/v1/indices/capil?period=2026", headers=bearer(reader["token"])),
            app.get("/v1/units/capil", headers=bearer(manager["token"])),
        ]
    assert [a.status_code for a in answers] == [201, 200, 200]
    assert (watch.most, watch.now) == (1, 0)
    for key in (kiosk, reader, manager):
        assert key_row(units, key["id"])["last_used_at"] is not None


def test_the_token_is_shown_once_and_never_again(units: TestClient) -> None:
    key = create_key(units, "Kiosk capil", "collector", "capil")
    token = key["token"]
    assert token.startswith("skm_")
    assert key["prefix"] == token[:10]
    revoked = units.post(f"/v1/keys/{key['id']}/revoke")
    later = [
        units.get("/v1/keys"),
        units.get(f"/v1/keys/{key['id']}"),
        revoked,
        units.get("/v1/audit"),
    ]
    for answer in later:
        assert answer.status_code == 200, answer.text
        assert token not in answer.text
    listed = {k["id"]: k for k in later[0].json()}
    assert "token" not in listed[key["id"]]
    assert listed[key["id"]]["prefix"] == token[:10]
    assert "token" not in later[1].json()


def test_a_manager_creates_collector_and_reader_keys_inside_its_scope_only(
    units: TestClient,
) -> None:
    manager = create_key(units, "Manajer capil", "manager", "capil")
    as_manager = bearer(manager["token"])
    post_unit(units, "loket", "service_unit", parent="capil")
    refusals = {
        "admin": {"role": "admin", "scope": "capil"},
        "manager": {"role": "manager", "scope": "capil"},
        "unscoped collector": {"role": "collector"},
        "collector of perizinan": {"role": "collector", "scope": "perizinan"},
        "reader of kota": {"role": "reader", "scope": "kota"},
        "collector of nowhere": {"role": "collector", "scope": "tidak-ada"},
    }
    answers = {
        what: units.post("/v1/keys", json={"name": what, **body}, headers=as_manager)
        for what, body in refusals.items()
    }
    assert {what: (a.status_code, a.json()["type"]) for what, a in answers.items()} == {
        "admin": (403, "urn:skm:problem:forbidden"),
        "manager": (403, "urn:skm:problem:forbidden"),
        "unscoped collector": (403, "urn:skm:problem:forbidden"),
        # Outside its scope is as if the unit did not exist.
        "collector of perizinan": (404, "urn:skm:problem:not-found"),
        "reader of kota": (404, "urn:skm:problem:not-found"),
        "collector of nowhere": (404, "urn:skm:problem:not-found"),
    }
    made = [
        units.post("/v1/keys", json=body, headers=as_manager)
        for body in (
            {"name": "Kiosk capil", "role": "collector", "scope": "capil"},
            {"name": "Dasbor loket", "role": "reader", "scope": "loket", "read_responses": True},
        )
    ]
    assert [m.status_code for m in made] == [201, 201]
    assert [(m.json()["role"], m.json()["scope"], m.json()["created_by"]) for m in made] == [
        ("collector", "capil", manager["id"]),
        ("reader", "loket", manager["id"]),
    ]
    names = [k["name"] for k in units.get("/v1/keys").json()]
    assert names == ["test administrator", "Manajer capil", "Kiosk capil", "Dasbor loket"]


def test_a_manager_sees_and_revokes_only_the_keys_it_could_have_created(
    units: TestClient, admin_token: str
) -> None:
    """Collector and reader keys inside its scope: not a peer manager's key (at its scope
    or below), not its own, not an administrator's, nothing outside its scope."""
    post_unit(units, "loket", "service_unit", parent="capil")
    manager = create_key(units, "Manajer capil", "manager", "capil")
    peer = create_key(units, "Manajer capil 2", "manager", "capil")
    below = create_key(units, "Manajer loket", "manager", "loket")
    kiosk = create_key(units, "Kiosk capil", "collector", "capil")
    reader = create_key(units, "Dasbor loket", "reader", "loket")
    other = create_key(units, "Kiosk perizinan", "collector", "perizinan")
    as_manager = bearer(manager["token"])
    listed = units.get("/v1/keys", headers=as_manager)
    assert listed.status_code == 200, listed.text
    assert [k["name"] for k in listed.json()] == ["Kiosk capil", "Dasbor loket"]
    admin_id = units.get("/v1/keys").json()[0]["id"]
    hidden = (peer["id"], below["id"], manager["id"], other["id"], admin_id)
    for key_id in hidden:
        for answer in (
            units.get(f"/v1/keys/{key_id}", headers=as_manager),
            units.post(f"/v1/keys/{key_id}/revoke", headers=as_manager),
        ):
            assert (answer.status_code, answer.json()["type"]) == (404, "urn:skm:problem:not-found")
    for key in (peer, below, manager, other):
        assert key_row(units, key["id"])["active"] is True
    assert units.get(f"/v1/keys/{reader['id']}", headers=as_manager).status_code == 200
    assert units.post(f"/v1/keys/{kiosk['id']}/revoke", headers=as_manager).status_code == 200
    assert units.get("/v1/units/perizinan", headers=bearer(other["token"])).status_code == 200
    assert units.get("/v1/units/capil", headers=bearer(peer["token"])).status_code == 200
    assert units.get("/v1/units/capil", headers=bearer(admin_token)).status_code == 200
    assert units.get("/v1/units/capil", headers=bearer(kiosk["token"])).status_code == 401


@pytest.fixture
def admin_kept(units: TestClient, admin_token: str, database_url: str) -> Iterator[TestClient]:
    """`units`; should the test's administrator key be revoked after all, it is restored
    afterwards, so that one failure does not fail every later test."""
    yield units
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.execute(
            update(ApiKey)
            .where(ApiKey.token_hash == token_hash(admin_token))
            .values(revoked_at=None)
        )
    engine.dispose()


def test_the_last_active_administrator_key_is_never_revoked(
    admin_kept: TestClient, admin_token: str, database_url: str
) -> None:
    """Revoking it would leave nobody able to manage keys: 409, and the key keeps working.
    A revoked or expired administrator key does not count as another one."""
    admin_id = admin_kept.get("/v1/keys").json()[0]["id"]
    second = create_key(admin_kept, "Admin kedua", "admin", None)
    expiring = create_key(
        admin_kept,
        "Admin sementara",
        "admin",
        None,
        expires_at=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
    )
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.execute(
            update(ApiKey)
            .where(ApiKey.id == expiring["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    engine.dispose()
    # Another active administrator remains: a key may revoke itself.
    itself = admin_kept.post(f"/v1/keys/{second['id']}/revoke", headers=bearer(second["token"]))
    assert (itself.status_code, itself.json()["active"]) == (200, False)
    refused = admin_kept.post(f"/v1/keys/{admin_id}/revoke")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    assert (refused.json()["type"], refused.json()["status"]) == ("urn:skm:problem:last-admin", 409)
    assert key_row(admin_kept, admin_id)["active"] is True
    assert admin_kept.get("/v1/units/capil", headers=bearer(admin_token)).status_code == 200
    # An expired administrator key can still be revoked (it is not the last active one).
    assert admin_kept.post(f"/v1/keys/{expiring['id']}/revoke").status_code == 200
    revoked = [
        e["target"]
        for e in admin_kept.get("/v1/audit").json()["items"]
        if e["action"] == "key.revoke"
    ]
    assert sorted(revoked) == sorted([f"key:{second['id']}", f"key:{expiring['id']}"])


@pytest.fixture
def two_admins(backend: str) -> Iterator[tuple[str, str, str]]:
    """A database of its own with exactly two administrator keys: its URL and their tokens."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite write transactions already take turns")
    name = f"skm_test_{os.getpid()}_admins"
    url = migrated(postgres_database(name))
    try:
        yield url, insert_key(url, name="admin satu"), insert_key(url, name="admin dua")
    finally:
        drop_postgres_database(name)


def connect(url: str, autocommit: bool = False) -> psycopg.Connection[tuple[object, ...]]:
    parts = make_url(url)
    return psycopg.connect(
        host=parts.host,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname=parts.database,
        autocommit=autocommit,
    )


def waiting_on_locks(url: str) -> int:
    """How many sessions of this database wait for a lock."""
    with connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            (make_url(url).database,),
        ).fetchone()
    assert row is not None
    count = row[0]
    assert isinstance(count, int)
    return count


@pytest.mark.postgresql_only
def test_two_administrators_revoking_each_other_at_once_leave_one_active(
    two_admins: tuple[str, str, str],
) -> None:
    """Both revocations are held at the same point (the administrator rows are locked from
    outside until both requests wait on them), then let go together: without taking the
    rows in turn both would count two active keys and both succeed."""
    url, first, second = two_admins
    with TestClient(create_app(app_settings(url, db_pool_size=3))) as app:
        ids = {k["name"]: k["id"] for k in app.get("/v1/keys", headers=bearer(first)).json()}
        # Each key's use is recorded now, so that nothing else writes its row later.
        assert app.get("/v1/keys", headers=bearer(second)).status_code == 200
        targets = ((first, ids["admin dua"]), (second, ids["admin satu"]))
        answers: list[httpx2.Response] = []

        def revoke(token: str, key_id: int) -> None:
            answers.append(app.post(f"/v1/keys/{key_id}/revoke", headers=bearer(token)))

        with connect(url) as lock:
            lock.execute("SELECT id FROM api_keys WHERE role = 'admin' FOR UPDATE")
            threads = [threading.Thread(target=revoke, args=target) for target in targets]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 30
            while waiting_on_locks(url) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert waiting_on_locks(url) == 2
            lock.commit()
        for thread in threads:
            thread.join()
        assert sorted(a.status_code for a in answers) == [200, 409]
        [refused] = [a for a in answers if a.status_code == 409]
        assert refused.json()["type"] == "urn:skm:problem:last-admin"
        engine = create_engine(sync_url(url))
        with engine.connect() as conn:
            active = conn.execute(
                select(ApiKey.name).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None))
            ).all()
        engine.dispose()
        assert len(active) == 1


def test_a_key_made_with_the_command_line_has_its_role_and_scope(
    units: TestClient, database_url: str
) -> None:
    command = [sys.executable, "-m", "app.cli", "create-key", "--name", "Kiosk baris perintah"]
    command += ["--role", "collector", "--scope", "capil"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SKM_DATABASE_URL": database_url},
    )
    token = done.stdout.strip()
    assert token.startswith("skm_")
    as_kiosk = bearer(token)
    assert units.get("/v1/units/capil/form", headers=as_kiosk).status_code == 200
    assert units.get("/v1/units/perizinan", headers=as_kiosk).status_code == 404
    assert (
        units.get("/v1/indices/capil", params={"period": YEAR}, headers=as_kiosk).status_code == 403
    )
    [made] = [k for k in units.get("/v1/keys").json() if k["name"] == "Kiosk baris perintah"]
    assert (made["role"], made["scope"], made["created_by"], made["active"]) == (
        "collector",
        "capil",
        None,
        True,
    )


@pytest.fixture
def lenient(client: TestClient, database_url: str, admin_token: str) -> Iterator[TestClient]:
    """The app answering an unexpected error with its 500 problem instead of raising it."""
    app = create_app(app_settings(database_url))
    with TestClient(app, headers=bearer(admin_token), raise_server_exceptions=False) as c:
        yield c


def test_a_unit_a_key_is_scoped_to_is_not_deleted_and_the_key_keeps_working(
    lenient: TestClient,
) -> None:
    hierarchy(lenient)
    post_unit(lenient, "loket", "service_unit", parent="capil")
    key = create_key(lenient, "Kiosk loket", "collector", "loket")
    refused = lenient.delete("/v1/units/loket")
    assert (refused.status_code, refused.headers["content-type"]) == (409, PROBLEM)
    assert lenient.get("/v1/units/loket", headers=bearer(key["token"])).status_code == 200


# --- nothing outside the scope shows ---------------------------------------------------------


def strings_in(value: object) -> set[str]:
    """Every string anywhere in a JSON document, keys included."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set(value) | {s for v in value.values() for s in strings_in(v)}
    if isinstance(value, list):
        return {s for v in value for s in strings_in(v)}
    return set()


def test_a_replay_of_a_response_stored_outside_the_scope_is_refused_as_an_unknown_unit(
    units: TestClient,
) -> None:
    """The same id and content as a response stored for perizinan, posted by a kiosk of
    capil, answers exactly as a new response for perizinan does (alone or in a batch), and
    shows nothing of the stored row; the same id for a unit of its own scope is the
    conflict any reuse of an id is."""
    kiosk = bearer(create_key(units, "Kiosk capil", "collector", "capil")["token"])
    theirs = response_item("perizinan", "izin", suggestion="Petugas perizinan ramah")
    stored = units.post("/v1/responses", json=theirs)
    assert stored.status_code == 201, stored.text
    fresh = response_item("perizinan", "izin", suggestion="Petugas perizinan ramah")
    replayed = units.post("/v1/responses", json=theirs, headers=kiosk)
    assert problem_summary(replayed) == problem_summary(
        units.post("/v1/responses", json=fresh, headers=kiosk)
    )
    assert (replayed.status_code, only_error(replayed.json())) == (422, ("/unit", "unknown_unit"))
    in_batch = units.post("/v1/responses/batch", json={"items": [theirs]}, headers=kiosk)
    assert batch_summary(in_batch) == batch_summary(
        units.post("/v1/responses/batch", json={"items": [fresh]}, headers=kiosk)
    )
    assert batch_summary(in_batch) == [
        ("invalid", "urn:skm:problem:validation", [("/items/0/unit", "unknown_unit")])
    ]
    mine = {**response_item("capil", "ktp"), "id": theirs["id"]}
    taken = units.post("/v1/responses", json=mine, headers=kiosk)
    in_scope = response_item("capil", "ktp")
    assert units.post("/v1/responses", json=in_scope, headers=kiosk).status_code == 201
    reused = {**response_item("capil", "ktp", all_answers(1)), "id": in_scope["id"]}
    assert problem_summary(taken) == problem_summary(
        units.post("/v1/responses", json=reused, headers=kiosk)
    )
    assert (taken.status_code, taken.json()["type"]) == (409, "urn:skm:problem:id-conflict")
    mine_in_batch = units.post("/v1/responses/batch", json={"items": [mine]}, headers=kiosk)
    assert batch_summary(mine_in_batch) == [("conflict", "urn:skm:problem:id-conflict", [])]
    row = stored.json()
    for answer in (replayed, in_batch, taken, mine_in_batch):
        for secret in (row["received_at"], theirs["suggestion"], "perizinan", "izin"):
            assert secret not in answer.text
    # The stored response is untouched.
    assert units.get(f"/v1/responses/{theirs['id']}").json() == row


@pytest.fixture
def scoped_reader(units: TestClient) -> dict[str, str]:
    """loket below capil, a response there, and a reader scoped to capil (its headers)."""
    post_unit(units, "loket", "service_unit", parent="capil")
    made = units.post("/v1/units/loket/services", json={"code": "kk", "name": "kk"})
    assert made.status_code == 201, made.text
    store = units.post("/v1/responses", json=response_item("loket", "kk"))
    assert store.status_code == 201, store.text
    return bearer(create_key(units, "Dasbor capil", "reader", "capil")["token"])


ABOVE_AND_BESIDE = {"kota", "mpp", "perizinan", "arsip"}


def test_a_scoped_key_sees_no_unit_above_its_scope_in_parent_or_ancestors(
    units: TestClient, scoped_reader: dict[str, str]
) -> None:
    shown = {
        code: units.get(f"/v1/units/{code}", headers=scoped_reader).json()
        for code in ("capil", "loket")
    }
    assert {c: (u["parent"], u["ancestors"]) for c, u in shown.items()} == {
        "capil": (None, []),
        "loket": ("capil", ["capil"]),
    }
    listed = units.get("/v1/units", headers=scoped_reader).json()["items"]
    assert listed == [shown["capil"], shown["loket"]]
    children = units.get("/v1/units", params={"parent": "capil"}, headers=scoped_reader)
    assert children.json()["items"] == [shown["loket"]]
    # The administrator sees the whole line.
    whole = units.get("/v1/units/loket").json()
    assert (whole["parent"], whole["ancestors"]) == ("capil", ["kota", "mpp", "capil"])


def test_a_manager_is_shown_units_it_creates_and_changes_within_its_scope(
    units: TestClient,
) -> None:
    manager = bearer(create_key(units, "Manajer capil", "manager", "capil")["token"])
    body = {"code": "loket", "name": "Loket", "kind": "service_unit", "parent": "capil"}
    created = units.post("/v1/units", json=body, headers=manager)
    assert created.status_code == 201, created.text
    changed = units.patch("/v1/units/capil", json={"name": "Capil"}, headers=manager)
    assert changed.status_code == 200, changed.text
    assert [(a.json()["parent"], a.json()["ancestors"]) for a in (created, changed)] == [
        ("capil", ["capil"]),
        (None, []),
    ]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/units/capil", {}),
        ("/v1/units/loket", {}),
        ("/v1/units", {}),
        ("/v1/units", {"parent": "capil"}),
        ("/v1/units/capil/tree", {}),
        ("/v1/units/capil/services", {}),
        ("/v1/units/capil/form", {}),
        ("/v1/indices/capil", {"period": YEAR}),
        ("/v1/indices/capil/breakdown", {"period": YEAR, "by": "service"}),
        ("/v1/indices/capil/series", {"period": YEAR}),
        ("/v1/indices/capil/ranking", {"period": YEAR}),
    ],
)
def test_no_unit_outside_a_scoped_keys_scope_is_named_to_it(
    units: TestClient, scoped_reader: dict[str, str], path: str, params: dict[str, str]
) -> None:
    answer = units.get(path, params=params, headers=scoped_reader)
    assert answer.status_code == 200, answer.text
    assert strings_in(answer.json()) & ABOVE_AND_BESIDE == set()
    # The same answer to the administrator names them (where it names ancestors at all).
    if path.startswith("/v1/units/loket"):
        assert {"kota", "mpp"} <= strings_in(units.get(path, params=params).json())


# --- secrets and free text ------------------------------------------------------------------

SUGGESTION = "Petugas loket 3 meminta uang tambahan, nama saya Siti Rahmawati"
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "starlette", "app")


def leaks(
    caplog: pytest.LogCaptureFixture, secrets: tuple[str, ...], source: str = ""
) -> list[str]:
    """Log records (message, arguments, traceback) mentioning any of the secrets, of the
    loggers whose name starts with `source` (all by default)."""
    found = []
    for record in caplog.records:
        if not record.name.startswith(source):
            continue
        text = " ".join(
            (record.getMessage(), repr(record.args), record.exc_text or "", str(record.exc_info))
        )
        found += [f"{record.name}: {text[:200]}" for s in secrets if s in text]
    return found


def secret_bearing_requests(
    client: TestClient, token: str, revoked_token: str, ticket: str
) -> dict[str, httpx2.Response]:
    """Requests carrying a key, a ticket and a suggestion, all but the first refused."""
    item = response_item("capil", "ktp", suggestion=SUGGESTION)
    as_kiosk = bearer(token)
    wrong = {**all_answers(4), "waktu": 5}
    malformed = b'{"unit": "capil", "suggestion": "' + SUGGESTION.encode() + b'", '
    public = {**response_item("capil", "ktp", suggestion=SUGGESTION), "ticket": ticket}
    out_of_scope = {**item, "id": str(uuid.uuid4()), "unit": "perizinan", "service": "izin"}

    def submit(body: dict[str, Any], headers: dict[str, str] = as_kiosk) -> httpx2.Response:
        return client.post("/v1/responses", json=body, headers=headers)

    def public_submit(body: dict[str, Any]) -> httpx2.Response:
        return keyless(client, "POST", "/v1/public/responses", json=body)

    return {
        "stored": submit(item),
        "score out of range": submit({**item, "answers": wrong}),
        "unknown field": submit({**item, "nama": SUGGESTION}),
        "suggestion not a string": submit({**item, "suggestion": [SUGGESTION]}),
        "suggestion too long": submit({**item, "suggestion": SUGGESTION * 20}),
        "malformed JSON": client.post(
            "/v1/responses",
            content=malformed,
            headers={**as_kiosk, "Content-Type": "application/json"},
        ),
        "unit out of scope": submit(out_of_scope),
        "invalid batch items": client.post(
            "/v1/responses/batch",
            json={"items": [{**item, "answers": wrong}, {**item, "channel": "fax"}]},
            headers=as_kiosk,
        ),
        "revoked key": submit(item, bearer(revoked_token)),
        "not a bearer scheme": submit(item, {"Authorization": f"Token {token}"}),
        "unknown key": submit(item, bearer(token + "x")),
        "forbidden": client.get("/v1/audit", headers=as_kiosk),
        "public, kiosk channel": public_submit({**public, "channel": "kiosk"}),
        "public, unknown service": public_submit(
            {**public, "channel": "web", "service": "tidak-ada"}
        ),
        "public, score out of range": public_submit({**public, "answers": wrong}),
        "public, ticket too long": public_submit({**public, "ticket": ticket * 9}),
    }


def test_keys_tickets_and_suggestions_never_reach_logs_or_error_bodies(
    units: TestClient,
    caplog: pytest.LogCaptureFixture,
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    units.patch("/v1/units/capil", json={"requires_ticket": True})
    [ticket] = units.post("/v1/units/capil/tickets", json={"count": 1}).json()["tickets"]
    token = create_key(units, "Kiosk capil", "collector", "capil")["token"]
    revoked = create_key(units, "Kiosk lama", "collector", "capil")
    units.post(f"/v1/keys/{revoked['id']}/revoke")
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    answers = secret_bearing_requests(units, token, revoked["token"], ticket)
    assert {what: a.status_code for what, a in answers.items()} == {
        "stored": 201,
        "score out of range": 422,
        "unknown field": 422,
        "suggestion not a string": 422,
        "suggestion too long": 422,
        "malformed JSON": 400,
        "unit out of scope": 422,
        "invalid batch items": 200,
        "revoked key": 401,
        "not a bearer scheme": 401,
        "unknown key": 401,
        "forbidden": 403,
        "public, kiosk channel": 422,
        "public, unknown service": 422,
        "public, score out of range": 422,
        "public, ticket too long": 422,
    }
    secrets = (token, revoked["token"], ticket, SUGGESTION)
    shown = {what: [s for s in secrets if s in answer.text] for what, answer in answers.items()}
    assert {what: found for what, found in shown.items() if found and what != "stored"} == {}
    assert leaks(caplog, secrets) == []
    assert caplog.records  # logging was indeed captured (the test client's request lines)


def test_suggestions_stay_out_of_the_log_with_sql_logging_on(
    units: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = create_key(units, "Kiosk capil", "collector", "capil")["token"]
    for name in (*LOGGERS, "sqlalchemy"):
        caplog.set_level(logging.DEBUG, logger=name)
    item = response_item("capil", "ktp", suggestion=SUGGESTION)
    assert units.post("/v1/responses", json=item, headers=bearer(token)).status_code == 201
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert leaks(caplog, (token, SUGGESTION), source="sqlalchemy") == []


def test_a_suggestion_with_a_nul_character_is_refused_naming_the_field(
    lenient: TestClient,
) -> None:
    hierarchy(lenient)
    item = response_item("capil", "ktp", suggestion="Antrian\x00lama")
    refused = lenient.post("/v1/responses", json=item)
    assert refused.status_code == 422, refused.text
    assert [e["pointer"] for e in refused.json()["errors"]] == ["/suggestion"]


# --- one-time tickets -----------------------------------------------------------------------


@pytest.fixture
def ticketed(units: TestClient) -> TestClient:
    """capil needs a one-time ticket for each public response."""
    changed = units.patch("/v1/units/capil", json={"requires_ticket": True})
    assert changed.json()["requires_ticket"] is True
    return units


def issue(client: TestClient, count: int = 1) -> list[str]:
    issued = client.post("/v1/units/capil/tickets", json={"count": count})
    assert issued.status_code == 200, issued.text
    tickets: list[str] = issued.json()["tickets"]
    return tickets


def stored_ids(client: TestClient, unit: str) -> list[str]:
    page = client.get("/v1/responses", params={"unit": unit, "limit": "500"})
    assert page.status_code == 200, page.text
    return [r["id"] for r in page.json()["items"]]


def test_a_ticket_used_concurrently_admits_exactly_one_response(ticketed: TestClient) -> None:
    [ticket] = issue(ticketed)
    items = [
        {**response_item("capil", "ktp", all_answers(1 + i % 4), channel="web"), "ticket": ticket}
        for i in range(8)
    ]
    answers: dict[str, httpx2.Response] = {}
    barrier = threading.Barrier(len(items))

    def post(item: dict[str, Any]) -> None:
        barrier.wait()
        answers[item["id"]] = keyless(ticketed, "POST", "/v1/public/responses", json=item)

    threads = [threading.Thread(target=post, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers.values())
    assert statuses == [201] + [409] * 7
    [winner] = [i for i in items if answers[i["id"]].status_code == 201]
    refused = {
        (a.json()["type"], a.headers["content-type"])
        for a in answers.values()
        if a.status_code == 409
    }
    assert refused == {("urn:skm:problem:ticket-used", PROBLEM)}
    assert stored_ids(ticketed, "capil") == [winner["id"]]
    retry = keyless(ticketed, "POST", "/v1/public/responses", json=winner)
    assert retry.status_code == 200
    assert retry.json() == answers[winner["id"]].json()
    assert stored_ids(ticketed, "capil") == [winner["id"]]


def test_a_used_ticket_refuses_another_response_and_other_tickets_still_work(
    ticketed: TestClient,
) -> None:
    first, second = issue(ticketed, 2)
    used = {**response_item("capil", "ktp", channel="mobile"), "ticket": first}
    assert keyless(ticketed, "POST", "/v1/public/responses", json=used).status_code == 201
    other = {**response_item("capil", "ktp", channel="mobile"), "ticket": first}
    refused = keyless(ticketed, "POST", "/v1/public/responses", json=other)
    assert refusal(refused) == (409, "urn:skm:problem:ticket-used", "This ticket was already used.")
    without = keyless(
        ticketed,
        "POST",
        "/v1/public/responses",
        json={k: v for k, v in other.items() if k != "ticket"},
    )
    assert (without.status_code, only_error(without.json())) == (422, ("/ticket", "missing"))
    with_second = keyless(
        ticketed, "POST", "/v1/public/responses", json={**other, "ticket": second}
    )
    assert with_second.status_code == 201
    assert sorted(stored_ids(ticketed, "capil")) == sorted([used["id"], other["id"]])


# --- rate limits ----------------------------------------------------------------------------

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


# --- suspicious bursts ----------------------------------------------------------------------

WITA = ZoneInfo("Asia/Makassar")
# Two days ago at 10:00 in kota's zone: well inside the accepted window.
BURST_START = (datetime.now(WITA) - timedelta(days=2)).replace(
    hour=10, minute=0, second=0, microsecond=0
)
BURST_PERIOD = BURST_START.strftime("%Y-%m")


def excluded(flagged: int) -> str:
    """The index's method.excluded when flagged responses are left out."""
    return f"{flagged} flagged response(s) (suspected or confirmed bursts) are not counted"


def post_at(client: TestClient, token: str, seconds: int, channel: str = "kiosk") -> dict[str, Any]:
    """The same answers as every other call, `seconds` after BURST_START, with this key."""
    when = BURST_START + timedelta(seconds=seconds)
    item = response_item("capil", "ktp", all_answers(3), collected_at=when, channel=channel)
    posted = client.post("/v1/responses", json=item, headers=bearer(token))
    assert posted.status_code == 201, posted.text
    stored: dict[str, Any] = posted.json()
    return stored


def counted(client: TestClient, **params: str) -> tuple[int, int, bool, str]:
    """(responses counted, flagged_responses, flagged_counted, excluded) of capil's index."""
    report = client.get("/v1/indices/capil", params={"period": BURST_PERIOD, **params})
    assert report.status_code == 200, report.text
    body = report.json()
    method = body["method"]
    return (
        body["pooled"]["responses"],
        method["flagged_responses"],
        method["flagged_counted"],
        method["excluded"],
    )


@pytest.fixture
def kiosks(units: TestClient) -> tuple[str, str]:
    """Two collector keys on capil: two devices."""
    return (
        create_key(units, "Kiosk 1", "collector", "capil")["token"],
        create_key(units, "Kiosk 2", "collector", "capil")["token"],
    )


def test_identical_answers_from_one_key_10_s_apart_are_flagged_and_left_out(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    first = post_at(units, kiosks[0], 0)
    second = post_at(units, kiosks[0], 10)
    assert (first["flag"], second["flag"]) == (None, "suspected")
    flags = units.get("/v1/flags").json()["items"]
    assert [(f["response"]["id"], f["flag"], f["reason"]) for f in flags] == [
        (
            second["id"],
            "suspected",
            "identical answers from the same device 10 s after another response",
        )
    ]
    assert counted(units) == (1, 1, False, excluded(1))
    assert counted(units, include_flagged="true") == (
        2,
        1,
        True,
        "none: 1 flagged response(s) are counted as asked",
    )
    # Kept, never deleted.
    assert units.get(f"/v1/responses/{second['id']}").json()["flag"] == "suspected"


@pytest.mark.parametrize(("gap", "flag"), [(29, "suspected"), (30, None), (31, None)])
def test_only_gaps_shorter_than_burst_seconds_are_flagged(
    units: TestClient, kiosks: tuple[str, str], gap: int, flag: str | None
) -> None:
    post_at(units, kiosks[0], 0)
    assert post_at(units, kiosks[0], gap)["flag"] == flag


def test_paper_entries_are_never_flagged(units: TestClient, kiosks: tuple[str, str]) -> None:
    flags = [post_at(units, kiosks[0], s, channel="paper")["flag"] for s in (0, 10, 20)]
    assert flags == [None, None, None]
    assert counted(units) == (3, 0, False, excluded(0))


def test_identical_answers_from_different_keys_are_never_flagged_together(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    flags = [post_at(units, kiosks[i % 2], 5 * i)["flag"] for i in range(2)]
    assert flags == [None, None]
    assert counted(units) == (2, 0, False, excluded(0))


def test_answers_differing_in_one_element_are_not_a_burst(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    post_at(units, kiosks[0], 0)
    when = BURST_START + timedelta(seconds=10)
    item = response_item("capil", "ktp", {**all_answers(3), "waktu": 2}, collected_at=when)
    posted = units.post("/v1/responses", json=item, headers=bearer(kiosks[0]))
    assert (posted.status_code, posted.json()["flag"]) == (201, None)


def test_a_batch_is_checked_against_stored_responses_and_itself(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    post_at(units, kiosks[0], 0)
    items = [
        # 10 s after the stored one: a burst.
        response_item("capil", "ktp", all_answers(3), BURST_START + timedelta(seconds=10)),
        # Other answers, 100 s later, then again 5 s after: the second is a burst.
        response_item("capil", "ktp", all_answers(4), BURST_START + timedelta(seconds=100)),
        response_item("capil", "ktp", all_answers(4), BURST_START + timedelta(seconds=105)),
        # Other answers, alone: not a burst.
        response_item("capil", "ktp", all_answers(2), BURST_START + timedelta(seconds=110)),
    ]
    answer = units.post("/v1/responses/batch", json={"items": items}, headers=bearer(kiosks[0]))
    assert answer.status_code == 200, answer.text
    flags = [result["response"]["flag"] for result in answer.json()["items"]]
    assert flags == ["suspected", None, "suspected", None]


def review_second(
    client: TestClient, token: str, decision: str, headers: dict[str, str] | None = None
) -> tuple[str, httpx2.Response]:
    post_at(client, token, 0)
    second = post_at(client, token, 10)["id"]
    answer = client.post(
        f"/v1/responses/{second}/review", json={"decision": decision}, headers=headers
    )
    return second, answer


def test_clearing_a_flag_counts_the_response_again(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    second, cleared = review_second(units, kiosks[0], "clear")
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["flag"], cleared.json()["response"]["id"]) == ("cleared", second)
    assert counted(units) == (2, 0, False, excluded(0))
    assert units.get("/v1/flags").json() == {"items": [], "next_cursor": None}
    cleared_list = units.get("/v1/flags?state=cleared").json()["items"]
    assert [f["response"]["id"] for f in cleared_list] == [second]


def test_flags_are_paged_with_cursors(units: TestClient, kiosks: tuple[str, str]) -> None:
    """Three bursts 10 s apart: pages of two, oldest first, like every other list."""
    stored = [post_at(units, kiosks[0], seconds)["id"] for seconds in (0, 10, 20, 30)]
    first = units.get("/v1/flags", params={"limit": "2"}).json()
    assert [f["response"]["id"] for f in first["items"]] == stored[1:3]
    rest = units.get("/v1/flags", params={"limit": "2", "cursor": first["next_cursor"]}).json()
    assert ([f["response"]["id"] for f in rest["items"]], rest["next_cursor"]) == (
        stored[3:],
        None,
    )
    refused = units.get("/v1/flags", params={"cursor": "not a cursor!"})
    assert (refused.status_code, only_error(refused.json())) == (422, ("cursor", "bad_cursor"))


def test_confirming_a_flag_keeps_the_response_out(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    second, confirmed = review_second(units, kiosks[0], "confirm")
    assert (confirmed.status_code, confirmed.json()["flag"]) == (200, "confirmed")
    assert counted(units) == (1, 1, False, excluded(1))
    assert units.get(f"/v1/responses/{second}").json()["flag"] == "confirmed"


@pytest.mark.parametrize("role", ["collector", "reader"])
def test_collectors_and_readers_cannot_review_flags(
    units: TestClient, kiosks: tuple[str, str], role: str
) -> None:
    token = create_key(units, f"Kunci {role}", role, "capil")["token"]
    second, refused = review_second(units, kiosks[0], "clear", headers=bearer(token))
    assert refusal(refused)[:2] == (403, "urn:skm:problem:forbidden")
    assert units.get(f"/v1/responses/{second}").json()["flag"] == "suspected"
    assert counted(units) == (1, 1, False, excluded(1))


# --- audit log ------------------------------------------------------------------------------


def test_administrative_changes_are_in_the_audit_log_with_the_keys_id_and_name(
    units: TestClient, kiosks: tuple[str, str]
) -> None:
    manager = create_key(units, "Manajer capil", "manager", "capil")
    as_manager = bearer(manager["token"])
    body = {"code": "loket", "name": "Loket 1", "kind": "service_unit", "parent": "capil"}
    assert units.post("/v1/units", json=body, headers=as_manager).status_code == 201
    patch = {"name": "Loket satu"}
    assert units.patch("/v1/units/loket", json=patch, headers=as_manager).status_code == 200
    key_body = {"name": "Kiosk loket", "role": "collector", "scope": "loket"}
    key = units.post("/v1/keys", json=key_body, headers=as_manager).json()
    assert units.post(f"/v1/keys/{key['id']}/revoke", headers=as_manager).status_code == 200
    second, cleared = review_second(units, kiosks[0], "clear", headers=as_manager)
    assert cleared.status_code == 200
    log = units.get("/v1/audit")
    assert log.status_code == 200, log.text
    entries = [
        (e["key_id"], e["key_name"], e["action"], e["target"], e["details"])
        for e in reversed(log.json()["items"])
        if e["key_id"] == manager["id"]
    ]
    who = (manager["id"], "Manajer capil")
    assert entries == [
        (
            *who,
            "unit.create",
            "unit:loket",
            {
                **body,
                "time_zone": None,
                "survey_version_id": None,
                "public": False,
                "requires_ticket": False,
            },
        ),
        (*who, "unit.update", "unit:loket", patch),
        (
            *who,
            "key.create",
            f"key:{key['id']}",
            {**key_body, "read_responses": False, "expires_at": None},
        ),
        (*who, "key.revoke", f"key:{key['id']}", None),
        (*who, "flag.clear", f"response:{second}", {"flag": "cleared"}),
    ]
    for entry in log.json()["items"]:
        at = datetime.fromisoformat(entry["at"])
        assert datetime.now(UTC) - timedelta(minutes=5) < at <= datetime.now(UTC)


@pytest.mark.parametrize("role", ["manager", "collector", "reader"])
def test_only_administrators_read_the_audit_log(units: TestClient, role: str) -> None:
    token = create_key(units, f"Kunci {role}", role, "capil")["token"]
    refused = units.get("/v1/audit", headers=bearer(token))
    assert refusal(refused) == (403, "urn:skm:problem:forbidden", f"A {role} key cannot do this.")


# --- CORS -----------------------------------------------------------------------------------

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
