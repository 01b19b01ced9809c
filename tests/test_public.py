"""Public figures, played against by an attacker: no combination of keyless answers may
describe fewer than SKM_PUBLIC_MIN_GROUP respondents (README, "Public figures").

Public figures come only from published records (`app.publications`): the fixture publishes
every quarter of 2025 for each unit. The tests run on an app that accepts responses
collected up to 4000 days ago, so that 2025 data (and late arrivals into it) can be posted
now.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from itertools import combinations
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.method import ELEMENTS
from tests.conftest import Seed, app_settings, bearer, reset
from tests.factories import make_unit, response_item, scores

MIN = 3  # SKM_PUBLIC_MIN_GROUP in these tests
WITA = ZoneInfo("Asia/Makassar")
QUARTERS = ("2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4")


def _app_client(database_url: str, admin_token: str, **settings: Any) -> Iterator[TestClient]:
    app = create_app(app_settings(database_url, public_min_group=MIN, db_pool_size=2, **settings))
    with TestClient(app, headers=bearer(admin_token)) as client:
        yield client


@pytest.fixture(scope="module")
def _far_app(database_url: str, admin_token: str) -> Iterator[TestClient]:
    yield from _app_client(database_url, admin_token, burst_seconds=30, max_collected_age_days=4000)


@pytest.fixture
def far(_far_app: TestClient, reset_engine: Any, seed: Seed) -> Iterator[TestClient]:
    """The app taking 2025 responses, on an empty database, calling as an administrator."""
    yield _far_app
    reset(_far_app, reset_engine, seed)


def publish(client: TestClient, unit: str, period: str, status: int = 201, **body: Any) -> int:
    answer = client.post(f"/v1/units/{unit}/publications", json={"period": period, **body})
    assert answer.status_code == status, answer.text
    publication_id: int = answer.json()["id"]
    return publication_id


def keyless(client: TestClient, url: str, **params: str) -> httpx2.Response:
    request = client.build_request("GET", url, params=params)
    del request.headers["authorization"]
    return client.send(request)


# --- the fixture ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Respondent:
    unit: str
    service: str
    day: date
    answers: tuple[int | None, ...]
    gender: str


def _same(
    unit: str, service: str, day: str, score: int, count: int, gender: str = "L"
) -> list[Respondent]:
    return [Respondent(unit, service, date.fromisoformat(day), (score,) * 9, gender)] * count


# kota (public, WITA) → capil (public: ktp, kk), arsip (not public). Scores by hand:
RESPONDENTS: list[Respondent] = [
    *_same("kota", "umum", "2025-02-10", 4, 3),  # kota Q1: 3 × all 4
    *_same("kota", "umum", "2025-05-12", 3, 2),  # kota Q2: 2 × all 3, and on paper …
    Respondent("kota", "umum", date(2025, 5, 12), (3, 3, 3, 3, 3, 3, 3, 3, None), "P"),
    *_same("capil", "ktp", "2025-01-15", 4, 2),  # capil Q1: ktp 2 × all 4 …
    *_same("capil", "ktp", "2025-02-15", 2, 2),  # … and 2 × all 2,
    *_same("capil", "kk", "2025-03-20", 1, 2, "P"),  # kk 2 × all 1
    *_same("capil", "ktp", "2025-04-10", 3, 3),  # capil Q2: ktp 3 × all 3,
    *_same("capil", "kk", "2025-05-10", 4, 3, "P"),  # kk 3 × all 4
    *_same("arsip", "arsip", "2025-02-10", 1, 3),  # arsip (not public) Q1: 3 × all 1
]


def _item(respondent: Respondent, second: int) -> dict[str, Any]:
    when = datetime.combine(respondent.day, datetime.min.time(), WITA) + timedelta(
        hours=12, seconds=second * 60
    )
    paper = None in respondent.answers
    return response_item(
        respondent.unit,
        respondent.service,
        scores(*respondent.answers),
        when,
        profile={"gender": respondent.gender},
        channel="paper" if paper else "kiosk",
    )


def build(client: TestClient) -> None:
    make_unit(client, "kota", kind="government", time_zone="Asia/Makassar", services=("umum",))
    make_unit(client, "capil", parent="kota", kind="agency", services=("ktp", "kk"))
    make_unit(client, "arsip", parent="kota", kind="agency", services=("arsip",))
    for code in ("kota", "capil"):
        assert client.patch(f"/v1/units/{code}", json={"public": True}).status_code == 200
    # A minute apart: identical answers from one kiosk are not a burst.
    items = [_item(r, i) for i, r in enumerate(RESPONDENTS)]
    stored = client.post("/v1/responses/batch", json={"items": items})
    assert stored.status_code == 200, stored.text
    assert stored.json()["created"] == len(RESPONDENTS), stored.json()["items"][0]["problem"]
    for unit in ("kota", "capil", "arsip"):
        for quarter in QUARTERS:
            publish(client, unit, quarter)


# --- the attacker's tools ---------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One published figure: whose, over which days, which group, of how many."""

    unit: str
    start: date
    end: date
    group: str | None
    responses: int
    ikm: float | None


def figures(answer: dict[str, Any]) -> list[Figure]:
    """The figures an answer of the public index or breakdown publishes."""
    unit, period = answer["unit"]["code"], answer["period"]
    start, end = date.fromisoformat(period["from"]), date.fromisoformat(period["to"])
    if "groups" in answer:
        return [
            Figure(unit, start, end, g["key"], g["value"]["responses"], g["value"]["ikm"])
            for g in answer["groups"]
            if g.get("value")
        ]
    value = answer.get("value")
    return [Figure(unit, start, end, None, value["responses"], value["ikm"])] if value else []


def covered(figure: Figure) -> frozenset[int]:
    """The respondents a figure says it covers: the unit's own, in its days, of its group."""
    return frozenset(
        i
        for i, r in enumerate(RESPONDENTS)
        if r.unit == figure.unit
        and figure.start <= r.day <= figure.end
        and figure.group in (None, r.service)
    )


def reference_ikm(members: frozenset[int]) -> float:
    """An independent reference: mean of the element means, × 25, half-up to 2 decimals."""
    means = []
    for e in range(len(ELEMENTS)):
        given = [RESPONDENTS[i].answers[e] for i in members]
        answered = [a for a in given if a is not None]
        if answered:
            means.append(Fraction(sum(answered), len(answered)))
    ikm = sum(means, Fraction(0)) / len(means) * 25
    return math.floor(ikm * 100 + Fraction(1, 2)) / 100


class Span:
    """The span (over the rationals) of some 0/1 vectors over the respondents."""

    def __init__(self, sets: list[frozenset[int]], size: int) -> None:
        self.size = size
        self.basis: list[tuple[int, list[Fraction]]] = []  # (pivot, row), reduced
        for members in sets:
            row = self._reduce(self._vector(members))
            pivot = next((i for i, x in enumerate(row) if x), None)
            if pivot is not None:
                self.basis.append((pivot, [x / row[pivot] for x in row]))

    def _vector(self, members: frozenset[int]) -> list[Fraction]:
        return [Fraction(1 if i in members else 0) for i in range(self.size)]

    def _reduce(self, row: list[Fraction]) -> list[Fraction]:
        for pivot, base in self.basis:
            if row[pivot]:
                factor = row[pivot]
                row = [x - factor * b for x, b in zip(row, base, strict=True)]
        return row

    def contains(self, members: frozenset[int]) -> bool:
        return not any(self._reduce(self._vector(members)))


def small_sets_derivable(sets: list[frozenset[int]], people: frozenset[int]) -> list[set[int]]:
    """Every set of 1 … MIN−1 of `people` that some linear combination of `sets` yields."""
    span = Span([s & people for s in sets], len(RESPONDENTS))
    return [
        set(group)
        for size in range(1, MIN)
        for group in combinations(sorted(people), size)
        if span.contains(frozenset(group))
    ]


def leaks(sets: list[frozenset[int]]) -> list[tuple[str, set[int]]]:
    """Small sets derivable in respondents, or in the answers to any one element."""
    everyone = frozenset(range(len(RESPONDENTS)))
    found = [("responses", s) for s in small_sets_derivable(sets, everyone)]
    for e, element in enumerate(ELEMENTS):
        answered = frozenset(i for i in everyone if RESPONDENTS[i].answers[e] is not None)
        if answered != everyone:
            found += [
                (element, s)
                for s in small_sets_derivable(sets, answered)
                if ("responses", s) not in found
            ]
    return found


def test_the_audit_finds_a_difference() -> None:
    """The checker itself: capil Q1 (6) with its ktp group (4) published leaves kk's 2."""
    q1 = frozenset(i for i, r in enumerate(RESPONDENTS) if r.unit == "capil" and r.day.month < 4)
    ktp = frozenset(i for i in q1 if RESPONDENTS[i].service == "ktp")
    assert leaks([q1, ktp]) == [("responses", {10, 11})]  # kk, the two respondents of 2025-03
    assert leaks([q1]) == []
    # kota Q2: three respondents, but pengaduan answered by two.
    kota_q2 = frozenset(
        i for i, r in enumerate(RESPONDENTS) if r.unit == "kota" and r.day.month == 5
    )
    assert leaks([kota_q2]) == [("pengaduan", {3, 4})]


# --- every query an attacker can make ---------------------------------------------------

UNITS = ("kota", "capil", "arsip", "tidak-ada")
PERIODS = (
    "2025",
    "2025-S1",
    "2025-S2",
    *(f"2025-Q{q}" for q in range(1, 5)),
    *(f"2025-{m:02d}" for m in range(1, 13)),
)
RANGES = (
    ("2025-01-01", "2025-03-31"),
    ("2025-01-01", "2025-02-28"),
    ("2025-02-01", "2025-03-31"),
    ("2025-01-15", "2025-01-15"),
)
BY = ("service", "child", "channel", "gender", "age_band", "education", "occupation")


def every_public_answer(client: TestClient) -> list[dict[str, Any]]:
    windows: list[dict[str, str]] = [{"period": p} for p in PERIODS]
    windows += [{"from": a, "to": b} for a, b in RANGES]
    windows += [{"period": "2025-Q1", "from": "2025-01-01", "to": "2025-01-31"}]
    answers = []
    for unit in UNITS:
        for window in windows:
            calls = [keyless(client, f"/v1/public/indices/{unit}", **window)]
            calls += [
                keyless(client, f"/v1/public/indices/{unit}/breakdown", by=by, **window)
                for by in BY
            ]
            answers += [call.json() for call in calls if call.status_code == 200]
    return answers


def test_no_combination_of_public_answers_isolates_fewer_than_the_minimum(
    far: TestClient,
) -> None:
    build(far)
    published = [f for answer in every_public_answer(far) for f in figures(answer)]
    assert published, "the fixture publishes something"
    sets = []
    for figure in published:
        members = covered(figure)
        # The figure is what it says it is: the unit's own respondents of its days and group.
        assert (figure.responses, figure.ikm) == (len(members), reference_ikm(members)), figure
        sets.append(members)
    assert leaks(sets) == []


# --- the concrete attacks -------------------------------------------------------------


def _index(client: TestClient, unit: str, period: str) -> dict[str, Any]:
    answer = keyless(client, f"/v1/public/indices/{unit}", period=period)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _breakdown(client: TestClient, unit: str, period: str, by: str) -> httpx2.Response:
    return keyless(client, f"/v1/public/indices/{unit}/breakdown", period=period, by=by)


def _remainders(pooled: int, groups: list[int]) -> set[int]:
    """pooled minus every subset of the published groups."""
    return {
        pooled - sum(chosen)
        for size in range(len(groups) + 1)
        for chosen in combinations(groups, size)
    }


def test_pooled_minus_a_breakdowns_published_groups(far: TestClient) -> None:
    """capil Q1: 6 respondents, 4 L and 2 P; ktp 4, kk 2. No breakdown an attacker can get
    leaves a remainder of 1 or 2."""
    build(far)
    pooled = _index(far, "capil", "2025-Q1")["value"]["responses"]
    assert pooled == 6
    answered = []
    for by in BY:
        answer = _breakdown(far, "capil", "2025-Q1", by)
        if answer.status_code != 200:
            assert answer.status_code == 422
            assert answer.json()["errors"][0]["parameter"] == "by"
            continue
        answered.append(by)
        groups = [g["value"]["responses"] for g in answer.json()["groups"] if g.get("value")]
        assert all(r == 0 or r >= MIN for r in _remainders(pooled, groups)), (by, groups)
    assert answered == ["service"]  # two partitions could be crossed: one is public


def test_a_unit_minus_its_services(far: TestClient) -> None:
    build(far)
    # Q1: ktp (4) could stand alone, but 6 − 4 would give kk's 2: both are suppressed.
    q1 = _breakdown(far, "capil", "2025-Q1", "service").json()
    assert (q1["suppressed"], q1["groups"], q1["suppressed_groups"]) == (False, [], 2)
    index = _index(far, "capil", "2025-Q1")["value"]
    # (2·4 + 2·2 + 2·1) / 6 = 7/3 per element → IKM 58.33, D
    assert (index["responses"], index["ikm"], index["grade"]["mutu"]) == (6, 58.33, "D")
    # Q2: ktp 3 × all 3 (75.00 C), kk 3 × all 4 (100.00 A): both shown, nothing left over.
    q2 = _breakdown(far, "capil", "2025-Q2", "service").json()
    shown = [(g["key"], g["value"]["responses"], g["value"]["ikm"]) for g in q2["groups"]]
    assert shown == [("kk", 3, 100.0), ("ktp", 3, 75.0)]
    assert q2["suppressed_groups"] == 0
    # 21/6 = 3.5 per element → 87.50, B
    assert _index(far, "capil", "2025-Q2")["value"]["ikm"] == 87.5
    # Rounded figures only: nothing to subtract exactly.
    element = q2["groups"][0]["value"]["elements"][0]
    assert set(element) == {"key", "unsur", "nrr", "ikm", "grade"}
    assert "index_exact" not in q2["groups"][0]["value"]


def test_overlapping_and_nested_periods_are_not_served(far: TestClient) -> None:
    """Only whole quarters: a month, its semester, its year or a range of days would differ
    from a published quarter by a few respondents (Q1 − Jan..Feb = kk's 2)."""
    build(far)
    refused = {
        "2025-02": ("period", "public_period"),
        "2025-S1": ("period", "public_period"),
        "2025": ("period", "public_period"),
    }
    for period, (parameter, code) in refused.items():
        answer = keyless(far, "/v1/public/indices/capil", period=period)
        assert answer.status_code == 422, period
        assert answer.json()["errors"][0] | {"detail": None} == {
            "parameter": parameter,
            "code": code,
            "detail": None,
        }
    for params, parameter in (
        ({"from": "2025-01-01", "to": "2025-02-28"}, "period"),  # missing
        ({"period": "2025-Q1", "to": "2025-02-28"}, "to"),
    ):
        answer = keyless(far, "/v1/public/indices/capil", **params)
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["parameter"] == parameter
    answered = {}
    for period in PERIODS:
        answer = keyless(far, "/v1/public/indices/capil", period=period)
        if answer.status_code == 200:
            answered[period] = answer.json()["value"]
    assert sorted(answered) == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
    assert answered["2025-Q3"] is None  # no responses


def test_a_parent_never_pools_its_children(far: TestClient) -> None:
    """kota's figures are its own: not capil's (public), not arsip's (not public), whose
    3 × all 1 would pull kota's 100.00 down; and kota's services name no child's."""
    build(far)
    kota = _index(far, "kota", "2025-Q1")["value"]
    assert (kota["responses"], kota["ikm"], kota["grade"]["mutu"]) == (3, 100.0, "A")
    capil = _index(far, "capil", "2025-Q1")["value"]["responses"]
    # A parent minus its public children: nothing to subtract, they are disjoint.
    assert kota["responses"] - capil < 0
    groups = _breakdown(far, "kota", "2025-Q1", "service").json()["groups"]
    assert [(g["key"], g["value"]["responses"]) for g in groups] == [("umum", 3)]
    assert keyless(far, "/v1/public/indices/arsip", period="2025-Q1").status_code == 404


def test_an_element_answered_by_too_few_suppresses_the_figure(far: TestClient) -> None:
    """kota Q2: 3 respondents, but one paper form left pengaduan blank: its NRR would be
    two people's answers."""
    build(far)
    index = _index(far, "kota", "2025-Q2")
    assert (index["suppressed"], index["value"]) == (True, None)
    breakdown = _breakdown(far, "kota", "2025-Q2", "service").json()
    assert (breakdown["suppressed"], breakdown["groups"]) == (True, [])


# --- time: polls, late arrivals, revisions ----------------------------------------------


def _quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _post(client: TestClient, day: date, score: int, count: int) -> list[httpx2.Response]:
    when = datetime.combine(day, datetime.min.time(), WITA) + timedelta(hours=9)
    return [
        client.post(
            "/v1/responses",
            json=response_item("capil", "ktp", scores(*[score] * 9), when + timedelta(minutes=i)),
        )
        for i in range(count)
    ]


def _public_capil(client: TestClient) -> None:
    make_unit(client, "capil", kind="agency", time_zone="Asia/Makassar", services=("ktp",))
    assert client.patch("/v1/units/capil", json={"public": True}).status_code == 200


def test_two_polls_around_one_submission(far: TestClient) -> None:
    """The public answer is a published record: a poll before and after a submission (a
    late arrival into the period) cannot tell it. A quarter under way cannot be published."""
    _public_capil(far)
    day = date(2025, 5, 12)
    assert all(r.status_code == 201 for r in _post(far, day, 4, MIN + 1))
    publish(far, "capil", "2025-Q2")
    before = keyless(far, "/v1/public/indices/capil", period="2025-Q2")
    assert before.status_code == 200, before.text
    assert [r.status_code for r in _post(far, day, 1, 1)] == [201]
    after = keyless(far, "/v1/public/indices/capil", period="2025-Q2")
    assert before.json() == after.json()
    today = datetime.now(WITA).date()
    under_way = far.post("/v1/units/capil/publications", json={"period": _quarter(today)})
    assert under_way.status_code == 422
    assert under_way.json()["errors"][0]["code"] == "period_not_ended"


def test_a_revision_minus_its_original_by_late_arrival(far: TestClient) -> None:
    """A revision one late arrival away from the public record is kept from the public (the
    difference would describe that one respondent); MIN more make one that is shown."""
    _public_capil(far)
    day = date(2025, 5, 12)
    _post(far, day, 4, MIN + 1)
    first = publish(far, "capil", "2025-Q2")
    served = keyless(far, "/v1/public/indices/capil", period="2025-Q2").json()
    _post(far, day + timedelta(days=1), 1, 1)
    second = publish(far, "capil", "2025-Q2", revises=first)
    assert keyless(far, "/v1/public/indices/capil", period="2025-Q2").json() == served
    _post(far, day + timedelta(days=2), 1, MIN - 1)
    # MIN − 1 after the withheld revision, MIN after the public record: shown.
    third = publish(far, "capil", "2025-Q2", revises=second)
    shown = keyless(far, "/v1/public/indices/capil", period="2025-Q2").json()
    assert (shown["publication_id"], shown["value"]["responses"]) == (third, 2 * MIN + 1)


def test_a_public_record_keeps_its_distance_from_every_earlier_one(far: TestClient) -> None:
    """Counts can fall (a withdrawn paper response): a revision far from the newest public
    record but one respondent from an older one stays with readers in scope, since the
    keyless list shows every public record and any two can be compared."""
    _public_capil(far)
    day = date(2025, 5, 12)
    when = datetime.combine(day, datetime.min.time(), WITA) + timedelta(hours=14)
    _post(far, day, 4, MIN + 1)
    first = publish(far, "capil", "2025-Q2")
    paper = [
        response_item(
            "capil", "ktp", scores(*[3] * 9), when + timedelta(minutes=i), channel="paper"
        )
        for i in range(2 * MIN)
    ]
    assert all(far.post("/v1/responses", json=item).status_code == 201 for item in paper)
    second = publish(far, "capil", "2025-Q2", revises=first)  # 2·MIN more than the first
    for item in paper[1:]:
        assert far.delete(f"/v1/responses/{item['id']}").status_code == 204
    # 2·MIN − 1 fewer than the second (far enough), but one more than the first: withheld.
    third = publish(far, "capil", "2025-Q2", revises=second)
    shown = keyless(far, "/v1/public/indices/capil", period="2025-Q2").json()
    assert (shown["publication_id"], shown["value"]["responses"]) == (second, 3 * MIN + 1)
    listed = keyless(far, "/v1/public/units/capil/publications").json()
    assert third not in [record["id"] for record in listed]
    assert third > second > first


def test_a_revision_minus_its_original_by_review(far: TestClient) -> None:
    """A response flagged at arrival never counts in public figures, so clearing it later
    revises the keyed index but not the public figures, even in a revision."""
    _public_capil(far)
    noon = datetime(2025, 4, 10, 12, tzinfo=WITA)
    posted = [
        far.post("/v1/responses", json=response_item("capil", "ktp", scores(*[s] * 9), at))
        for s, at in (
            (4, noon),
            (4, noon + timedelta(minutes=1)),
            (2, noon + timedelta(minutes=2)),
            (2, noon + timedelta(minutes=2, seconds=10)),  # a burst: flagged
        )
    ]
    assert [p.status_code for p in posted] == [201] * 4
    assert posted[3].json()["flag"] == "suspected"
    first = publish(far, "capil", "2025-Q2")
    original = _index(far, "capil", "2025-Q2")
    # 4, 4, 2 → 10/3 per element → 83.33, B
    assert (original["value"]["responses"], original["value"]["ikm"]) == (3, 83.33)
    review = far.post(f"/v1/responses/{posted[3].json()['id']}/review", json={"decision": "clear"})
    assert review.status_code == 200, review.text
    keyed = far.get("/v1/indices/capil", params={"period": "2025-Q2"}).json()["pooled"]
    assert (keyed["responses"], keyed["ikm"]) == (4, 75.0)  # 4, 4, 2, 2 → 3 → 75.00
    revision = publish(far, "capil", "2025-Q2", revises=first)
    again = _index(far, "capil", "2025-Q2")
    assert again["publication_id"] == revision
    assert again | {"publication_id": None} == original | {"publication_id": None}


def test_a_period_not_published_is_not_served(far: TestClient) -> None:
    _public_capil(far)
    for period in ("2025-Q3", "9999-Q3"):
        answer = keyless(far, "/v1/public/indices/capil", period=period)
        assert answer.status_code == 404, answer.text
        assert answer.json()["errors"][0]["code"] == "not_published"


def test_public_figures_answer_only_for_a_public_active_unit(far: TestClient) -> None:
    build(far)
    assert far.patch("/v1/units/capil", json={"active": False}).status_code == 200
    assert keyless(far, "/v1/public/indices/capil", period="2025-Q1").status_code == 404
    assert keyless(far, "/v1/public/indices/kota", period="2025-Q1").status_code == 200
