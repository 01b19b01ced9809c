"""Access control: which role may call which endpoint on which unit. Every operation of the
API has a row in the matrix; each role gets the right status in and out of its scope, and a
unit out of a key's scope answers exactly as one that does not exist.

The hierarchy is kota → mpp → {capil, perizinan, arsip} (`tests.factories.hierarchy`); every
scoped key is scoped on capil, so perizinan is out of its scope. capil and perizinan are open
to the public, arsip is not.
"""

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.main import create_app
from tests.conftest import Seed, app_settings, reset
from tests.factories import (
    PROBLEM,
    SERVICE_OF,
    WWW_AUTHENTICATE,
    YEAR,
    batch_summary,
    create_key,
    hierarchy,
    problem_summary,
    response_item,
    variant_definition,
)

Role = Literal["admin", "manager", "collector", "reader", "reader+rows", "none"]
Where = Literal["in", "out", "missing"]
ROLES: tuple[Role, ...] = ("admin", "manager", "collector", "reader", "reader+rows", "none")
SCOPED_ROLES: tuple[Role, ...] = ("manager", "collector", "reader", "reader+rows")
# Targets of keyed endpoints: in the keys' scope, outside it, and nonexistent.
UNITS: dict[Where, str] = {"in": "capil", "out": "perizinan", "missing": "tidak-ada"}
# Targets of public endpoints: a public unit, a unit not open to the public, and nonexistent.
PUBLIC_UNITS: dict[Where, str] = {"in": "capil", "out": "arsip", "missing": "tidak-ada"}
MISSING_ID = 2_000_000_000
PUBLIC_QUARTER = "2025-Q1"  # public figures: whole quarters, published (by build_world)


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
    publications: dict[Where, int] = field(default_factory=dict)  # keyed: UNITS' records
    public_records: dict[Where, int] = field(default_factory=dict)  # PUBLIC_UNITS' records
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


def build_world(client: TestClient, admin_token: str) -> World:
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
    world = World(client, tokens, key_ids, surveys, versions, responses, flagged)
    for unit in ("capil", "perizinan", "arsip"):
        made = client.post(f"/v1/units/{unit}/publications", json={"period": PUBLIC_QUARTER})
        assert made.status_code == 201, made.text
        if unit in UNITS.values():
            world.publications[next(w for w, u in UNITS.items() if u == unit)] = made.json()["id"]
        if unit in PUBLIC_UNITS.values():
            where = next(w for w, u in PUBLIC_UNITS.items() if u == unit)
            world.public_records[where] = made.json()["id"]
    world.publications["missing"] = world.public_records["missing"] = MISSING_ID
    return world


@pytest.fixture(scope="module")
def world(
    app_client: TestClient, reset_engine: Engine, seed: Seed, admin_token: str
) -> Iterator[World]:
    """One world for every test of this module (built once, not once per row of the matrix:
    about 2 s on PostgreSQL). A test changes only what it makes fresh for itself
    (`fresh_child`, `fresh_key`, …), or things no other test's statuses depend on, so that
    they do not see each other. No test here takes `client`, whose reset would empty the
    world between them; it is emptied once they have all run."""
    yield build_world(app_client, admin_token)
    reset(app_client, reset_engine, seed)


Call = Callable[[World, Role, Where], httpx2.Response]
Expect = dict[Role, tuple[int, int]]


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


def put_report_settings(w: World, role: Role, where: Where) -> httpx2.Response:
    url = f"/v1/units/{UNITS[where]}/report-settings"
    return w.send(role, "PUT", url, json={"surveyor": "Tim SKM"})


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


def fresh_pairing_code(w: World, where: Where) -> dict[str, Any]:
    """A new pairing code for the target unit, made by the administrator (a made-up id for
    a missing one)."""
    if where == "missing":
        return {"id": MISSING_ID, "code": "ZZZZ-ZZZZ"}
    body = {"unit": UNITS[where], "role": "collector", "name": w.new_code("kiosk")}
    return w.admin("POST", "/v1/pairing-codes", json=body)


def create_pairing_code(w: World, role: Role, where: Where) -> httpx2.Response:
    body = {"unit": UNITS[where], "role": "collector", "name": w.new_code("kiosk")}
    return w.send(role, "POST", "/v1/pairing-codes", json=body)


def withdraw_pairing_code(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "DELETE", f"/v1/pairing-codes/{fresh_pairing_code(w, where)['id']}")


def exchange_pairing_code(w: World, role: Role, where: Where) -> httpx2.Response:
    """No key needed: the code is the credential (a key sent along changes nothing)."""
    code = fresh_pairing_code(w, "in")["code"]
    return w.send(role, "POST", "/v1/pairing-codes/exchange", json={"code": code})


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


def fresh_plan(w: World, where: Where, item: bool = False) -> tuple[str, int]:
    """A new plan (a month of its own) of the target unit, with one item if asked; the
    period and the item's id."""
    n = next(w.numbers)
    period = f"{2001 + n // 12}-{n % 12 + 1:02d}"
    if where == "missing":
        return period, MISSING_ID
    base = f"/v1/units/{UNITS[where]}/plans"
    w.admin("POST", base, json={"period": period, "propose": False})
    if not item:
        return period, MISSING_ID
    made = w.admin("POST", f"{base}/{period}/items", json={"element": "waktu", "action": "x"})
    return period, int(made["id"])


def create_plan(w: World, role: Role, where: Where) -> httpx2.Response:
    n = next(w.numbers)
    period = f"{2001 + n // 12}-{n % 12 + 1:02d}"
    return w.send(role, "POST", f"/v1/units/{UNITS[where]}/plans", json={"period": period})


def on_plan(method: str, tail: str, item: bool = False, body: Any = None) -> Call:
    """`method` on a fresh plan of the target unit (`tail` after its URL; {item} its item)."""

    def call(w: World, role: Role, where: Where) -> httpx2.Response:
        period, item_id = fresh_plan(w, where, item)
        url = f"/v1/units/{UNITS[where]}/plans/{period}" + tail.format(item=item_id)
        return w.send(role, method, url, json=body)

    return call


def print_sheets(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "POST", f"/v1/units/{UNITS[where]}/sheets", json={"sheets": 1})


def paper_csv(unit: str) -> bytes:
    """A one-row CSV of the import template's columns, without a sheet code."""
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    return f"date,service,persyaratan\n{day},{SERVICE_OF[unit]},4\n".encode()


def create_import(w: World, role: Role, where: Where) -> httpx2.Response:
    unit = UNITS[where]
    url = f"/v1/units/{unit}/imports"
    return w.send(role, "POST", url, params={"dry_run": "true"}, content=paper_csv(unit))


def fresh_import(w: World, where: Where, dry_run: bool = True) -> int:
    """An import into the target unit, finished; a nonexistent id for 'missing'."""
    if where == "missing":
        return MISSING_ID
    unit = UNITS[where]
    # Content unique to this import: a row number of its own.
    rows = "".join("\n" for _ in range(next(w.numbers) % 50))
    content = paper_csv(unit) + rows.encode()
    url = f"/v1/units/{unit}/imports"
    made = w.send("admin", "POST", url, params={"dry_run": str(dry_run).lower()}, content=content)
    assert made.status_code == 202, made.text
    import_id: int = made.json()["id"]
    for _ in range(2400):  # a bound, not a timing: two minutes on a loaded machine
        if w.admin("GET", f"/v1/imports/{import_id}")["state"] == "done":
            return import_id
        time.sleep(0.05)
    raise AssertionError(f"import {import_id} did not finish")


def import_call(suffix: str, method: str = "GET", dry_run: bool = True) -> Call:
    def call(w: World, role: Role, where: Where) -> httpx2.Response:
        return w.send(role, method, f"/v1/imports/{fresh_import(w, where, dry_run)}{suffix}")

    return call


def put_required(w: World, role: Role, where: Where) -> httpx2.Response:
    url = f"/v1/units/{UNITS[where]}/required-periods"
    return w.send(role, "PUT", url, json={"required_periods": "year"})


def publish_result(w: World, role: Role, where: Where) -> httpx2.Response:
    """A month of its own per call (every one long ended), so that each success is a first
    record (201)."""
    n = next(w.numbers)
    body = {"period": f"{2000 + n // 12}-{n % 12 + 1:02d}"}
    return w.send(role, "POST", f"/v1/units/{UNITS[where]}/publications", json=body)


def get_publication(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "GET", f"/v1/publications/{w.publications[where]}")


def public_publication(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "GET", f"/v1/public/publications/{w.public_records[where]}")


def fresh_paper_response(w: World, where: Where) -> str:
    if where == "missing":
        return w.responses["missing"]
    unit = UNITS[where]
    item = response_item(unit, SERVICE_OF[unit], channel="paper")
    w.admin("POST", "/v1/responses", json=item)
    return str(item["id"])


def correct_paper(w: World, role: Role, where: Where) -> httpx2.Response:
    unit = UNITS[where]
    body = {
        "service": SERVICE_OF[unit],
        "date": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
        "answers": {"persyaratan": 3},
    }
    return w.send(role, "PATCH", f"/v1/responses/{fresh_paper_response(w, where)}", json=body)


def withdraw_paper(w: World, role: Role, where: Where) -> httpx2.Response:
    return w.send(role, "DELETE", f"/v1/responses/{fresh_paper_response(w, where)}")


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
    "GET /v1/units/{code}/report-settings": Row(
        get("/v1/units/{code}/report-settings"), index_readers(200)
    ),
    "PUT /v1/units/{code}/report-settings": Row(put_report_settings, admin_and_manager(200)),
    "GET /v1/units/{code}/documents/report.pdf": Row(
        get("/v1/units/{code}/documents/report.pdf", period=YEAR), index_readers(200)
    ),
    "GET /v1/units/{code}/documents/poster.pdf": Row(
        get("/v1/units/{code}/documents/poster.pdf", period=YEAR), index_readers(200)
    ),
    "GET /v1/units/{code}/documents/poster.png": Row(
        get("/v1/units/{code}/documents/poster.png", period=YEAR), index_readers(200)
    ),
    "POST /v1/units/{code}/publications": Row(publish_result, admin_and_manager(201)),
    "GET /v1/units/{code}/publications": Row(
        get("/v1/units/{code}/publications"), index_readers(200)
    ),
    "GET /v1/publications/{publication_id}": Row(get_publication, index_readers(200)),
    "GET /v1/units/{code}/documents/workbook.xlsx": Row(
        get("/v1/units/{code}/documents/workbook.xlsx", period=YEAR), row_readers(200)
    ),
    "GET /v1/keys": Row(list_keys, admin_and_manager(200, out=200), targeted=False),
    "POST /v1/keys": Row(create_key_in, admin_and_manager(201)),
    "GET /v1/keys/{key_id}": Row(get_key, admin_and_manager(200)),
    "POST /v1/keys/{key_id}/revoke": Row(revoke_key, admin_and_manager(200)),
    "POST /v1/pairing-codes": Row(create_pairing_code, admin_and_manager(201)),
    "GET /v1/pairing-codes": Row(get("/v1/pairing-codes", unit="{code}"), admin_and_manager(200)),
    "DELETE /v1/pairing-codes/{code_id}": Row(withdraw_pairing_code, admin_and_manager(204)),
    "POST /v1/pairing-codes/exchange": Row(
        exchange_pairing_code, everyone(201, out=201), targeted=False
    ),
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
    "GET /v1/public/units/{code}/documents/report.pdf": Row(
        public_get("/v1/public/units/{code}/documents/report.pdf", period=PUBLIC_QUARTER),
        everyone(409),
        public=True,
    ),
    "GET /v1/public/units/{code}/documents/poster.pdf": Row(
        public_get("/v1/public/units/{code}/documents/poster.pdf", period=PUBLIC_QUARTER),
        # The world's public record has too few respondents: its figures are suppressed, so
        # the answer is 409 to everyone (tests/test_documents.py makes one that is shown).
        everyone(409),
        public=True,
    ),
    "GET /v1/public/units/{code}/documents/poster.png": Row(
        public_get("/v1/public/units/{code}/documents/poster.png", period=PUBLIC_QUARTER),
        everyone(409),
        public=True,
    ),
    "POST /v1/units/{code}/plans": Row(create_plan, admin_and_manager(201)),
    "GET /v1/units/{code}/plans": Row(get("/v1/units/{code}/plans"), index_readers(200)),
    "GET /v1/units/{code}/plans/{period}": Row(on_plan("GET", ""), index_readers(200)),
    "POST /v1/units/{code}/plans/{period}/close": Row(
        on_plan("POST", "/close"), admin_and_manager(200)
    ),
    "GET /v1/units/{code}/plans/{period}/evaluation": Row(
        on_plan("GET", "/evaluation"), index_readers(200)
    ),
    "POST /v1/units/{code}/plans/{period}/items": Row(
        on_plan("POST", "/items", body={"element": "biaya", "action": "Tarif"}),
        admin_and_manager(201),
    ),
    "PATCH /v1/units/{code}/plans/{period}/items/{item_id}": Row(
        on_plan("PATCH", "/items/{item}", item=True, body={"status": "done"}),
        admin_and_manager(200),
    ),
    "DELETE /v1/units/{code}/plans/{period}/items/{item_id}": Row(
        on_plan("DELETE", "/items/{item}", item=True), admin_and_manager(204)
    ),
    "GET /v1/units/{code}/required-periods": Row(
        get("/v1/units/{code}/required-periods"), index_readers(200)
    ),
    "PUT /v1/units/{code}/required-periods": Row(put_required, admin_and_manager(200)),
    "GET /v1/compliance/{code}": Row(get("/v1/compliance/{code}", year=YEAR), index_readers(200)),
    "GET /v1/compliance/{code}/overview.xlsx": Row(
        get("/v1/compliance/{code}/overview.xlsx", year=YEAR), index_readers(200)
    ),
    "GET /v1/compliance/{code}/overview.pdf": Row(
        get("/v1/compliance/{code}/overview.pdf", year=YEAR), index_readers(200)
    ),
    "GET /v1/reminders/{code}": Row(get("/v1/reminders/{code}"), index_readers(200)),
    "GET /v1/public/units/{code}/publications": Row(
        public_get("/v1/public/units/{code}/publications"), everyone(200), public=True
    ),
    "GET /v1/public/publications/{publication_id}": Row(
        public_publication, everyone(200), public=True
    ),
    "POST /v1/units/{code}/sheets": Row(print_sheets, submitters(200)),
    "GET /v1/units/{code}/import-template": Row(
        get("/v1/units/{code}/import-template"), admin_and_manager(200)
    ),
    "POST /v1/units/{code}/imports": Row(create_import, admin_and_manager(202)),
    "GET /v1/imports/{import_id}": Row(import_call(""), admin_and_manager(200)),
    "GET /v1/imports/{import_id}/refused.xlsx": Row(
        import_call("/refused.xlsx"), admin_and_manager(200)
    ),
    "POST /v1/imports/{import_id}/withdraw": Row(
        import_call("/withdraw", "POST", dry_run=False), admin_and_manager(200)
    ),
    "PATCH /v1/responses/{response_id}": Row(correct_paper, admin_and_manager(200)),
    "DELETE /v1/responses/{response_id}": Row(withdraw_paper, admin_and_manager(204)),
    "GET /health": Row(health, everyone(200, out=200), targeted=False),
    "GET /health/live": Row(get("/health/live"), everyone(200, out=200), targeted=False),
    "GET /health/ready": Row(get("/health/ready"), everyone(200, out=200), targeted=False),
    # Off without SKM_METRICS_TOKEN (as here), whatever the key; with it, only that token
    # opens it and no API key does (tests/test_observability.py).
    "GET /metrics": Row(get("/metrics"), everyone(404, out=404), targeted=False),
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
