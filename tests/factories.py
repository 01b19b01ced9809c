"""Test data helpers. Numbers asserted in tests are worked out by hand, never here."""

import asyncio
import functools
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.method import ELEMENTS

STANDARD_VERSION_ID = 1  # seeded by the initial migration


def make_unit(
    client: TestClient,
    code: str,
    parent: str | None = None,
    time_zone: str | None = None,
    kind: str = "service_unit",
    services: tuple[str, ...] = (),
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "name": f"Unit {code}", "kind": kind}
    if parent:
        body["parent"] = parent
    if time_zone:
        body["time_zone"] = time_zone
    response = client.post("/v1/units", json=body)
    assert response.status_code == 201, response.text
    for service in services:
        made = client.post(f"/v1/units/{code}/services", json={"code": service, "name": service})
        assert made.status_code == 201, made.text
    unit: dict[str, Any] = response.json()
    return unit


def make_mall(client: TestClient) -> None:
    """kota (WITA) → mpp → {disdukcapil (ktp, kk), dpmptsp (izin-usaha)}; papua (WIT, ktp),
    a separate root in another time zone."""
    make_unit(client, "kota", kind="government", time_zone="Asia/Makassar")
    make_unit(client, "mpp", parent="kota", kind="service_mall")
    make_unit(client, "disdukcapil", parent="mpp", kind="agency", services=("ktp", "kk"))
    make_unit(client, "dpmptsp", parent="mpp", kind="agency", services=("izin-usaha",))
    make_unit(client, "papua", kind="government", time_zone="Asia/Jayapura", services=("ktp",))


def scores(*values: int | None) -> dict[str, int | None]:
    """Answers in questionnaire order: scores(4, 3, 3, 4, 3, 4, 4, 3, 3)."""
    assert len(values) == len(ELEMENTS)
    return dict(zip(ELEMENTS, values, strict=True))


def all_answers(score: int) -> dict[str, int | None]:
    return scores(*([score] * len(ELEMENTS)))


def response_item(
    unit: str,
    service: str,
    answers: dict[str, int | None] | None = None,
    collected_at: datetime | str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    when = collected_at or datetime.now(UTC) - timedelta(minutes=5)
    item: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "unit": unit,
        "service": service,
        "survey_version_id": STANDARD_VERSION_ID,
        "channel": "kiosk",
        "collected_at": when if isinstance(when, str) else when.isoformat(),
        "answers": answers if answers is not None else all_answers(4),
    }
    item.update(fields)
    return item


PROBLEM = "application/problem+json"

# Generic option labels for a local variant; biaya keeps the method's 'Gratis' = 4 direction.
_VARIANT_LABELS = ("Tidak baik", "Kurang baik", "Baik", "Sangat baik")
_BIAYA_LABELS = ("Sangat mahal", "Cukup mahal", "Murah", "Gratis")


def variant_definition(
    title: str = "Survei Kepuasan Masyarakat (varian lokal)",
    optional: tuple[str, ...] = (),
    extra_questions: tuple[dict[str, Any], ...] = (),
    profile_fields: tuple[str, ...] = ("gender", "age_band"),
) -> dict[str, Any]:
    """A valid survey definition with every field spelled out, so that what the API returns
    can be compared with it as a whole. Elements in `optional` are marked `required: false`."""
    return {
        "title": {"id": title, "en": "Local variant"},
        "intro": {"id": "Mohon isi survei ini.", "en": "Please fill in this survey."},
        "questions": [
            {
                "element": element,
                "text": {"id": f"Pertanyaan tentang {element}", "en": f"Question on {element}"},
                "required": element not in optional,
                "options": [
                    {"score": score, "label": {"id": label, "en": f"{element} {score}"}}
                    for score, label in enumerate(
                        _BIAYA_LABELS if element == "biaya" else _VARIANT_LABELS, start=1
                    )
                ],
            }
            for element in ELEMENTS
        ],
        "extra_questions": list(extra_questions),
        "profile_fields": list(profile_fields),
        "suggestion_prompt": {"id": "Saran Saudara", "en": "Your suggestions"},
    }


def extra_question(key: str, *values: str, required: bool = False) -> dict[str, Any]:
    """A local extra question (outside the nine elements) with the given option values."""
    return {
        "key": key,
        "text": {"id": f"Pertanyaan tambahan {key}", "en": f"Extra question {key}"},
        "required": required,
        "options": [{"value": v, "label": {"id": v.capitalize(), "en": v}} for v in values],
    }


def make_variant(
    client: TestClient,
    owner: str,
    code: str,
    definition: dict[str, Any] | None = None,
    publish: bool = True,
) -> dict[str, Any]:
    """A unit's local survey `code` (created if new) with one more version; returns the
    version as the API shows it (published unless `publish=False`)."""
    if client.get(f"/v1/surveys/{code}").status_code == 404:
        made = client.post(
            "/v1/surveys", json={"code": code, "title": f"Survei {code}", "owner_unit": owner}
        )
        assert made.status_code == 201, made.text
    body = {"definition": definition or variant_definition()}
    version = client.post(f"/v1/surveys/{code}/versions", json=body)
    assert version.status_code == 201, version.text
    if publish:
        version = client.post(f"/v1/surveys/{code}/versions/{version.json()['version']}/publish")
        assert version.status_code == 200, version.text
    result: dict[str, Any] = version.json()
    return result


def store(client: TestClient, item: dict[str, Any]) -> dict[str, Any]:
    """Post one response that must be stored; the stored response."""
    posted = client.post("/v1/responses", json=item)
    assert posted.status_code == 201, posted.text
    stored: dict[str, Any] = posted.json()
    return stored


def only_error(body: dict[str, Any]) -> tuple[str, str]:
    """The (pointer or parameter, code) of a problem's one field error."""
    [error] = body["errors"]
    return error.get("pointer", error.get("parameter")), error["code"]


# --- access: kota → mpp → {capil, perizinan, arsip}, keys scoped on capil, refusals -------

WWW_AUTHENTICATE = 'Bearer realm="skm"'
YEAR = str(datetime.now(UTC).year)
SERVICE_OF = {"capil": "ktp", "perizinan": "izin", "arsip": "arsip", "tidak-ada": "ktp"}


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


def keyless(client: TestClient, method: str, url: str, **kwargs: Any) -> httpx2.Response:
    request = client.build_request(method, url, **kwargs)
    del request.headers["authorization"]
    return client.send(request)


def refusal(answer: httpx2.Response) -> tuple[int, str, str]:
    """(status, problem type, detail) of a refusal, checked to be a problem document."""
    assert answer.headers["content-type"] == PROBLEM, answer.text
    body = answer.json()
    return answer.status_code, body["type"], body["detail"]


def unauthorized(detail: str) -> tuple[int, str, str]:
    return 401, "urn:skm:problem:unauthorized", detail


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


# A burst: identical answers from one device, seconds apart.
WITA = ZoneInfo("Asia/Makassar")
# Two days ago at 10:00 in kota's zone: well inside the accepted window.
BURST_START = (datetime.now(WITA) - timedelta(days=2)).replace(
    hour=10, minute=0, second=0, microsecond=0
)


def post_at(client: TestClient, token: str, seconds: int, channel: str = "kiosk") -> dict[str, Any]:
    """The same answers as every other call, `seconds` after BURST_START, with this key."""
    when = BURST_START + timedelta(seconds=seconds)
    item = response_item("capil", "ktp", all_answers(3), collected_at=when, channel=channel)
    posted = client.post("/v1/responses", json=item, headers={"Authorization": f"Bearer {token}"})
    assert posted.status_code == 201, posted.text
    stored: dict[str, Any] = posted.json()
    return stored


def review_second(
    client: TestClient, token: str, decision: str, headers: dict[str, str] | None = None
) -> tuple[str, httpx2.Response]:
    post_at(client, token, 0)
    second = post_at(client, token, 10)["id"]
    answer = client.post(
        f"/v1/responses/{second}/review", json={"decision": decision}, headers=headers
    )
    return second, answer


def off_the_event_loop(make: Any, made_in: list[bool]) -> Any:
    """`make`, noting whether each call ran off the event loop (in a worker thread)."""

    @functools.wraps(make)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            made_in.append(True)
        else:
            made_in.append(False)
        return make(*args, **kwargs)

    return wrapper
