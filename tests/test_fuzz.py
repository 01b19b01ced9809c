"""A bounded property-based run over every operation of the OpenAPI document (schemathesis),
on SQLite and on PostgreSQL: no 5xx, and every answer conforms to the document (a declared
status, the declared content type, a body and headers that match their schemas).

The document is the committed `openapi/openapi.json` (test_openapi.py keeps it equal to the
app's), so the operations are known at collection and each one is a test of its own. Requests
go through the suite's app (`client`), calling as an administrator of the whole tree, except
the public operations, which are called without a key as a citizen's phone calls them. Before
each operation a small world is built (units, services, a local survey variant, keys of each
role, responses, a population), and path parameters, the usual filters and the body's
references are drawn half of the time from its real codes and ids, so that the run reaches
real objects and not only 404s.

The run is deterministic (a fixed seed per operation and mode, no example database): the
same examples on every run and machine, whatever else changes in this file. Every failing
example is collected, not only the first, so that one run lists each distinct failure.
"""

import os
import re
import traceback
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine, text

from app.standard_survey import STANDARD_SURVEY_CODE
from tests.conftest import insert_key
from tests.factories import STANDARD_VERSION_ID, response_item, store, variant_definition

OPENAPI = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"
SCHEMA = schemathesis.openapi.from_path(OPENAPI)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations() if isinstance(result, Ok)]

# Examples per operation, database and generation mode (valid and invalid input); a deeper
# run, as deterministic, with SKM_TEST_FUZZ_EXAMPLES=200.
EXAMPLES = int(os.environ.get("SKM_TEST_FUZZ_EXAMPLES", "25"))
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


Operation = APIOperation[Any, Any, Any, Any]
PUBLIC = re.compile(r"^/(health|v1/public/)")


@dataclass
class World:
    """What the examples can refer to: real codes and ids per parameter or field name."""

    units: list[str]
    services: list[str]
    surveys: list[str]
    versions: list[int]
    version_ids: list[int]
    key_ids: list[int]
    responses: list[str]
    periods: list[str]
    protected_key_ids: set[int] = field(default_factory=set)

    def values(self, path: str, name: str) -> list[Any]:
        """Real values for the parameter or body field `name` of the operation at `path`."""
        if name == "code":
            return self.surveys if path.startswith("/v1/surveys") else self.units
        by_name: dict[str, list[Any]] = {
            "unit": self.units,
            "parent": self.units,
            "owner_unit": self.units,
            "scope": self.units,
            "service": self.services,
            "version": self.versions,
            "version_id": self.version_ids,
            "survey_version_id": self.version_ids,
            "key_id": self.key_ids,
            "response_id": self.responses,
            "period": self.periods,
        }
        return by_name.get(name, [])


def build_world(client: TestClient) -> World:
    """kota → mpp → {capil (public; ktp, kk), arsip (arsip)}; a local variant of capil with a
    published and a draft version; a manager, a collector and a reader on capil; three
    responses; a population."""
    units: tuple[dict[str, object], ...] = (
        {"code": "kota", "kind": "government", "time_zone": "Asia/Makassar"},
        {"code": "mpp", "kind": "service_mall", "parent": "kota"},
        {"code": "capil", "kind": "agency", "parent": "mpp", "public": True},
        {"code": "arsip", "kind": "agency", "parent": "mpp"},
    )
    for unit in units:
        ok(client.post("/v1/units", json={"name": f"Unit {unit['code']}", **unit}))
    for owner, service in (("capil", "ktp"), ("capil", "kk"), ("arsip", "arsip")):
        ok(client.post(f"/v1/units/{owner}/services", json={"code": service, "name": service}))
    ok(
        client.post(
            "/v1/surveys",
            json={"code": "survei-capil", "title": "Survei capil", "owner_unit": "capil"},
        )
    )
    body = {"definition": variant_definition()}
    published = ok(client.post("/v1/surveys/survei-capil/versions", json=body))
    ok(client.post(f"/v1/surveys/survei-capil/versions/{published['version']}/publish"))
    draft = ok(client.post("/v1/surveys/survei-capil/versions", json=body))
    key_ids = [
        ok(client.post("/v1/keys", json={"name": role, "role": role, "scope": "capil"}))["id"]
        for role in ("manager", "collector", "reader")
    ]
    responses = []
    for number, service in enumerate(("ktp", "ktp", "kk")):
        item = response_item("capil", service, id=str(uuid.UUID(int=number + 1)))
        responses.append(store(client, item)["id"])
    ok(client.put("/v1/units/capil/populations/2026", json={"served": 1200}))
    return World(
        units=["kota", "mpp", "capil", "arsip"],
        services=["ktp", "kk", "arsip"],
        surveys=[STANDARD_SURVEY_CODE, "survei-capil"],
        versions=[published["version"], draft["version"]],
        version_ids=[STANDARD_VERSION_ID, published["id"], draft["id"]],
        key_ids=key_ids,
        responses=responses,
        periods=["2026", "2026-Q1", "2026-06"],
    )


def ok(answer: httpx2.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, Any] = answer.json()
    return body


@dataclass(frozen=True)
class Failure:
    """One distinct failure: what failed, and the first example that showed it."""

    kind: str
    message: str
    example: str


def seeded(world: World, case: Case[Any], data: st.DataObject) -> None:
    """Half of the time, set a path parameter, a query filter (present or not) or a body
    reference to one of the world's real values (drawn, so that the run stays reproducible)."""
    path = case.operation.path
    if case.query is None and len(case.operation.query):
        case.query = {}
    query_names = [parameter.name for parameter in case.operation.query]
    containers: list[tuple[dict[str, Any], list[str]]] = [
        (case.path_parameters or {}, list(case.path_parameters or {})),
        (case.query or {}, query_names),
    ]
    if isinstance(case.body, dict):
        containers.append((case.body, list(case.body)))
    for container, names in containers:
        for name in names:
            real = world.values(path, name)
            if not real:
                continue
            use_real: bool = data.draw(st.booleans())
            if use_real:
                container[name] = data.draw(st.sampled_from(real))


def send(client: TestClient, case: Case[Any], token: str | None) -> httpx2.Response:
    """The case through the suite's app; with the fuzz administrator's key unless `token` is
    None (then with no Authorization header at all)."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    request = client.build_request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=kwargs.get("headers"),
        content=kwargs.get("data"),
        json=kwargs.get("json"),
    )
    if token is None:
        request.headers.pop("authorization", None)
    else:
        request.headers["authorization"] = f"Bearer {token}"
    return client.send(request)


def run_operation(
    client: TestClient, world: World, operation: Operation, mode: GenerationMode, token: str | None
) -> dict[str, Failure]:
    """Every example of `operation` in `mode`; the distinct failures, by kind."""
    found: dict[str, Failure] = {}

    @seed(zlib.crc32(f"{operation.label} {mode.value}".encode()))
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def examples(case: Case[Any], data: st.DataObject) -> None:
        seeded(world, case, data)
        if case.path_parameters and case.path_parameters.get("key_id") in world.protected_key_ids:
            return  # revoking the run's own key would leave the rest of it unauthorised
        try:
            answer = send(client, case, token)
        except Exception as error:  # the app's 500 re-raised by the test client
            kind = f"500 {type(getattr(error, 'orig', None) or error).__name__}"
            if kind not in found:
                message = "".join(traceback.format_exception_only(error)).strip()
                found[kind] = Failure(kind, message[:500], case.as_curl_command())
            return
        try:
            case.validate_response(answer, checks=CHECKS)
        except schemathesis.errors.FailureGroup as group:
            for failure in group.exceptions:
                kind = failure.code if hasattr(failure, "code") else type(failure).__name__
                if kind not in found:
                    found[kind] = Failure(
                        kind,
                        f"{answer.status_code} {failure.title}: {failure.message}"[:500],
                        case.as_curl_command(),
                    )

    try:
        examples()
    except Unsatisfiable:
        # Nothing invalid can be sent for some operations: a path parameter that takes any
        # string has no negation that still routes to the operation.
        if mode is not GenerationMode.NEGATIVE:
            raise
    return found


def modes(operation: Operation) -> tuple[GenerationMode, ...]:
    """Valid input, and invalid input where the operation takes any input to spoil."""
    inputs = (operation.path_parameters, operation.query, operation.headers, operation.body)
    return MODES if any(len(part) for part in inputs) else (GenerationMode.POSITIVE,)


@pytest.fixture
def fuzzed(client: TestClient, database_url: str, reset_engine: Engine) -> tuple[World, str]:
    """The world and a key of the run's own administrator. The administrator keys are kept
    out of the revoking examples (the `client` fixture empties the tables afterwards and
    puts the suite's administrator key back as it was)."""
    token = insert_key(database_url, name="fuzz administrator")
    world = build_world(client)
    with reset_engine.connect() as conn:
        admins = conn.execute(text("SELECT id FROM api_keys WHERE role = 'admin'")).scalars()
        world.protected_key_ids = set(admins)
    return world, token


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_operation_answers_as_documented(
    client: TestClient, fuzzed: tuple[World, str], backend: str, operation: Operation
) -> None:
    world, token = fuzzed
    caller = None if PUBLIC.match(operation.path) else token
    failures: dict[str, Failure] = {}
    for mode in modes(operation):
        for kind, failure in run_operation(client, world, operation, mode, caller).items():
            failures.setdefault(kind, failure)
    report = "\n\n".join(
        f"{operation.label} — {failure.kind}\n{failure.message}\n{failure.example}"
        for failure in failures.values()
    )
    assert not report, report
