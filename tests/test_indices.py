"""Indices through the HTTP API, on both databases, against numbers worked out by hand."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import aggregates, indices
from app.db import Database, sync_url
from app.main import create_app
from app.method import ELEMENTS
from tests.conftest import app_settings, bearer
from tests.factories import all_answers, make_unit, response_item, scores

FIVE = [
    "4 3 3 4 3 4 4 3 3",
    "3 3 2 4 3 3 4 3 2",
    "4 4 3 4 4 4 4 4 3",
    "3 2 2 4 3 3 3 3 2",
    "4 3 3 4 3 4 4 3 3",
]


def row(text: str) -> dict[str, int | None]:
    return scores(*(None if x == "-" else int(x) for x in text.split()))


def post(client: TestClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = client.post("/v1/responses/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == len(items), answer.text
    results: list[dict[str, Any]] = answer.json()["items"]
    return results


def post_rows(
    client: TestClient, unit: str, service: str, rows: list[str], when: str, **fields: Any
) -> None:
    """Rows collected a minute apart from `when` (identical answers seconds apart from one
    device would be flagged as a burst)."""
    start = datetime.fromisoformat(when)
    post(
        client,
        [
            response_item(
                unit, service, row(r), collected_at=start + timedelta(minutes=i), **fields
            )
            for i, r in enumerate(rows)
        ],
    )


def index(client: TestClient, unit: str, **params: str) -> dict[str, Any]:
    answer = client.get(f"/v1/indices/{unit}", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def city(history: TestClient) -> TestClient:
    make_unit(history, "kota", kind="government", time_zone="Asia/Makassar")
    make_unit(history, "mpp", parent="kota", kind="service_mall")
    make_unit(history, "capil", parent="mpp", kind="agency", services=("ktp", "kk"))
    make_unit(history, "perizinan", parent="mpp", kind="agency", services=("izin",))
    return history


def test_five_responses_through_the_api(city: TestClient) -> None:
    post_rows(city, "capil", "ktp", FIVE, "2026-02-10T10:00:00+08:00")
    body = index(city, "capil", period="2026-Q1")
    pooled = body["pooled"]
    assert (body["rule"], body["ikm"], body["grade"]["mutu"]) == ("pooled", 82.22, "B")
    assert pooled["responses"] == 5
    assert pooled["index_exact"] == "148/45"
    assert pooled["weight"] == "1/9"
    assert [e["nrr"] for e in pooled["elements"]] == [3.6, 3.0, 2.6, 4.0, 3.2, 3.6, 3.8, 3.2, 2.6]
    assert [e["answers"] for e in pooled["elements"]] == [5] * 9
    assert pooled["weakest"] == ["waktu", "pengaduan"]
    waktu = pooled["elements"][2]
    assert (waktu["nrr_exact"], waktu["ikm"], waktu["grade"]["mutu"]) == ("13/5", 65.0, "C")
    assert pooled["confidence_interval"] == {
        "level": 0.95,
        "ikm_low": 69.88,
        "ikm_high": 94.56,
        "respondents": 5,
    }
    assert pooled["small_sample"] is True
    assert body["method"]["id"] == "permenpan-rb-14-2017"
    assert body["method"]["time_zones"] == ["Asia/Makassar"]
    assert body["method"]["survey_versions"] == [1]
    assert body["period"] == {"label": "2026-Q1", "from": "2026-01-01", "to": "2026-03-31"}
    # The whole subtree pools the same five responses.
    assert index(city, "kota", period="2026")["ikm"] == 82.22


def test_twenty_nine_responses_use_the_exact_weight(city: TestClient) -> None:
    # Element totals 105, 101, 100, 116, 102, 105, 106, 105, 115 over 29 responses:
    # response i scores 4 on an element while i < total - 87, else 3.
    totals = (105, 101, 100, 116, 102, 105, 106, 105, 115)
    rows = [" ".join("4" if i < t - 87 else "3" for t in totals) for i in range(29)]
    post_rows(city, "capil", "ktp", rows, "2026-05-05T09:00:00+08:00")
    body = index(city, "capil", period="2026-Q2")
    assert [e["total"] for e in body["pooled"]["elements"]] == list(totals)
    assert body["pooled"]["index_exact"] == "955/261"
    assert (body["ikm"], body["grade"]["mutu"], body["grade"]["kinerja"]) == (
        91.48,
        "A",
        "Sangat baik",
    )


@pytest.mark.parametrize(
    ("score", "ikm", "mutu"), [(4, 100.0, "A"), (3, 75.0, "C"), (2, 50.0, "D"), (1, 25.0, "D")]
)
def test_uniform_answers(city: TestClient, score: int, ikm: float, mutu: str) -> None:
    post(
        city,
        [
            response_item(
                "capil", "kk", all_answers(score), collected_at="2026-01-05T08:00:00+08:00"
            )
        ],
    )
    body = index(city, "capil", period="2026-01")
    assert (body["ikm"], body["grade"]["mutu"]) == (ikm, mutu)


def test_missing_answers_have_their_own_denominators(city: TestClient) -> None:
    # Paper forms: the second left waktu and pengaduan blank. NRR waktu = 4/1, pengaduan 1/1,
    # the others 6/2 = 3 → index (7·3 + 4 + 1)/9 = 26/9 → IKM 72.22 (C); dividing every
    # element by 2 responses would give 65.28.
    post_rows(
        city,
        "capil",
        "ktp",
        ["4 4 4 4 4 4 4 4 1", "2 2 - 2 2 2 2 2 -"],
        "2026-02-01T10:00:00+08:00",
        channel="paper",
    )
    pooled = index(city, "capil", period="2026-02")["pooled"]
    assert [e["answers"] for e in pooled["elements"]] == [2, 2, 1, 2, 2, 2, 2, 2, 1]
    assert (pooled["index_exact"], pooled["ikm"], pooled["grade"]["mutu"]) == ("26/9", 72.22, "C")
    assert pooled["weakest"] == ["pengaduan"]
    assert pooled["confidence_interval"] is None  # one complete response only


def test_an_element_nobody_answered_is_left_out_of_the_weights(city: TestClient) -> None:
    post_rows(
        city, "capil", "ktp", ["4 4 4 4 4 4 4 4 -"], "2026-02-01T10:00:00+08:00", channel="paper"
    )
    pooled = index(city, "capil", period="2026-02")["pooled"]
    assert (pooled["weight"], pooled["ikm"], pooled["grade"]["mutu"]) == ("1/8", 100.0, "A")
    assert [e["key"] for e in pooled["elements"]] == list(ELEMENTS[:8])


def test_a_mall_pools_tenants_of_different_sizes(city: TestClient) -> None:
    # capil: three responses all 4 (IKM 100); perizinan: one all 2 (IKM 50).
    # Pooled: every NRR (3·4 + 2)/4 = 3.5 → 87.50 (B). Mean of children: (100 + 50)/2 = 75.00 (C).
    when = "2026-03-03T10:00:00+08:00"
    post_rows(city, "capil", "ktp", ["4 4 4 4 4 4 4 4 4"] * 3, when)
    post_rows(city, "perizinan", "izin", ["2 2 2 2 2 2 2 2 2"], when)
    pooled = index(city, "mpp", period="2026-Q1", include_children_mean="true")
    assert (pooled["rule"], pooled["ikm"], pooled["grade"]["mutu"]) == ("pooled", 87.5, "B")
    assert pooled["children_mean"]["ikm"] == 75.0
    assert pooled["children_mean"]["grade"]["mutu"] == "C"
    assert pooled["children_mean"]["children"] == 2
    mean = index(city, "mpp", period="2026-Q1", rule="mean_of_children")
    assert (mean["rule"], mean["ikm"], mean["grade"]["mutu"]) == ("mean_of_children", 75.0, "C")
    assert mean["pooled"]["ikm"] == 87.5
    assert mean["method"]["rule"].startswith("mean_of_children")
    assert index(city, "mpp", period="2026-Q1")["children_mean"] is None
    ranking = city.get("/v1/indices/mpp/ranking", params={"period": "2026-Q1"}).json()
    assert [(i["rank"], i["unit"]["code"], i["value"]["ikm"]) for i in ranking["items"]] == [
        (1, "capil", 100.0),
        (2, "perizinan", 50.0),
    ]


def test_ranking_ties_share_a_rank_and_empty_children_come_last(city: TestClient) -> None:
    make_unit(city, "dishub", parent="mpp", kind="agency", services=("kir",))
    make_unit(city, "sepi", parent="mpp", kind="agency", services=("x",))
    when = "2026-03-03T10:00:00+08:00"
    post_rows(city, "capil", "ktp", ["3 3 3 3 3 3 3 3 3"], when)
    post_rows(city, "perizinan", "izin", ["3 3 3 3 3 3 3 3 3"], when)
    post_rows(city, "dishub", "kir", ["4 4 4 4 4 4 4 4 4"], when)
    ranking = city.get("/v1/indices/mpp/ranking", params={"period": "2026"}).json()
    assert [(i["rank"], i["unit"]["code"]) for i in ranking["items"]] == [
        (1, "dishub"),
        (2, "capil"),
        (2, "perizinan"),
        (None, "sepi"),
    ]


def test_quarter_pools_its_responses_and_never_averages_months(city: TestClient) -> None:
    # January: one response all 4 (100.00); February: three all 2 (50.00); March: none.
    # Q1 pooled: (4 + 3·2)/4 = 2.5 → 62.50 (D); the mean of the monthly IKMs would be 75.00.
    post_rows(city, "capil", "ktp", ["4 4 4 4 4 4 4 4 4"], "2026-01-15T10:00:00+08:00")
    post_rows(city, "capil", "ktp", ["2 2 2 2 2 2 2 2 2"] * 3, "2026-02-15T10:00:00+08:00")
    assert index(city, "capil", period="2026-Q1")["ikm"] == 62.5
    months = city.get(
        "/v1/indices/capil/series", params={"period": "2026-Q1", "granularity": "month"}
    ).json()["points"]
    assert [(p["period"]["label"], p["value"]["responses"], p["value"]["ikm"]) for p in months] == [
        ("2026-01", 1, 100.0),
        ("2026-02", 3, 50.0),
        ("2026-03", 0, None),
    ]
    quarters = city.get(
        "/v1/indices/capil/series", params={"period": "2026", "granularity": "quarter"}
    ).json()["points"]
    assert [p["value"]["ikm"] for p in quarters] == [62.5, None, None, None]


def test_a_date_range_mixes_whole_months_and_days(city: TestClient) -> None:
    for when, score in (
        ("2026-01-10T10:00:00+08:00", 1),  # before the range
        ("2026-01-25T10:00:00+08:00", 4),  # in a partial month
        ("2026-02-05T10:00:00+08:00", 2),  # in a whole month
        ("2026-03-01T00:10:00+08:00", 1),  # after the range
    ):
        post(city, [response_item("capil", "ktp", all_answers(score), collected_at=when)])
    body = index(city, "capil", **{"from": "2026-01-20", "to": "2026-02-28"})
    assert (body["pooled"]["responses"], body["ikm"]) == (2, 75.0)  # (4 + 2)/2 = 3
    assert body["period"] == {"label": None, "from": "2026-01-20", "to": "2026-02-28"}


def test_periods_are_cut_in_each_units_time_zone(city: TestClient) -> None:
    # 23:30 WITA on 31 March = 15:30 UTC = 22:30 WIB (still 31 March) = 00:30 WIT on 1 April.
    make_unit(city, "jakarta", kind="government", time_zone="Asia/Jakarta", services=("s",))
    make_unit(city, "jayapura", kind="government", time_zone="Asia/Jayapura", services=("s",))
    moment = "2026-03-31T23:30:00+08:00"
    for unit, service in (("capil", "ktp"), ("jakarta", "s"), ("jayapura", "s")):
        post(city, [response_item(unit, service, all_answers(4), collected_at=moment)])
    counts = {
        unit: (
            index(city, unit, period="2026-Q1")["pooled"]["responses"],
            index(city, unit, period="2026-Q2")["pooled"]["responses"],
        )
        for unit in ("capil", "jakarta", "jayapura")
    }
    assert counts == {"capil": (1, 0), "jakarta": (1, 0), "jayapura": (0, 1)}
    assert index(city, "jayapura", period="2026-04")["method"]["time_zones"] == ["Asia/Jayapura"]


def test_breakdowns(city: TestClient) -> None:
    when = "2026-03-03T10:00:00+08:00"
    post(
        city,
        [
            response_item("capil", "ktp", all_answers(4), when, profile={"gender": "P"}),
            response_item(
                "capil", "kk", all_answers(2), when, profile={"gender": "L"}, channel="mobile"
            ),
            response_item("perizinan", "izin", all_answers(3), when, profile={"gender": "P"}),
            response_item("perizinan", "izin", all_answers(1), when),
        ],
    )

    def groups(by: str) -> list[tuple[Any, Any, int, float]]:
        answer = city.get("/v1/indices/mpp/breakdown", params={"period": "2026-Q1", "by": by})
        assert answer.status_code == 200, answer.text
        return [
            (g["key"], g["label"], g["value"]["responses"], g["value"]["ikm"])
            for g in answer.json()["groups"]
        ]

    assert groups("gender") == [
        ("L", "Laki-laki", 1, 50.0),
        ("P", "Perempuan", 2, 87.5),
        (None, None, 1, 25.0),
    ]
    assert groups("channel") == [("kiosk", "Kiosk", 3, 66.67), ("mobile", "Mobile app", 1, 50.0)]
    assert groups("child") == [
        ("capil", "Unit capil", 2, 75.0),
        ("perizinan", "Unit perizinan", 2, 50.0),
    ]
    assert groups("service") == [
        ("capil/kk", "kk", 1, 50.0),
        ("capil/ktp", "ktp", 1, 100.0),
        ("perizinan/izin", "izin", 2, 50.0),
    ]
    assert groups("education") == [(None, None, 4, 62.5)]


def test_service_filter_and_population_adequacy(city: TestClient) -> None:
    post_rows(city, "capil", "ktp", FIVE, "2026-02-10T10:00:00+08:00")
    post_rows(city, "capil", "kk", ["1 1 1 1 1 1 1 1 1"], "2026-02-10T10:00:00+08:00")
    assert index(city, "capil", period="2026-Q1", service="ktp")["ikm"] == 82.22
    assert index(city, "capil", period="2026-Q1")["sample"] == {
        "population": None,
        "population_periods": [],
        "minimum": None,
        "adequate": None,
    }
    recorded = city.put("/v1/units/capil/populations/2026-Q1", json={"served": 1000})
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["minimum_sample"] == 278
    assert index(city, "capil", period="2026-Q1")["sample"] == {
        "population": 1000,
        "population_periods": ["2026-Q1"],
        "minimum": 278,
        "adequate": False,
    }
    city.put("/v1/units/capil/services/ktp/populations/2026-Q1", json={"served": 5})
    assert index(city, "capil", period="2026-Q1", service="ktp")["sample"] == {
        "population": 5,
        "population_periods": ["2026-Q1"],
        "minimum": 5,
        "adequate": True,
    }
    # A range of days that is exactly the quarter has the quarter's population; one day
    # less is no period, and has none.
    assert index(city, "capil", **{"from": "2026-01-01", "to": "2026-03-31"})["sample"] == {
        "population": 1000,
        "population_periods": ["2026-Q1"],
        "minimum": 278,
        "adequate": False,
    }
    assert (
        index(city, "capil", **{"from": "2026-01-01", "to": "2026-03-30"})["sample"]["population"]
        is None
    )
    listed = city.get("/v1/units/capil/populations").json()
    assert [(p["service"], p["served"]) for p in listed] == [(None, 1000), ("ktp", 5)]
    refused = city.put("/v1/units/capil/populations/2026-Q9", json={"served": 10})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["parameter"] == "period"
    assert city.put("/v1/units/capil/populations/2026", json={"served": 0}).status_code == 422
    assert city.delete("/v1/units/capil/populations/2026-Q1").status_code == 204
    assert city.get("/v1/units/capil/populations/2026-Q1").status_code == 404


def test_late_arrivals_revise_a_past_period_visibly(city: TestClient) -> None:
    post_rows(city, "capil", "ktp", ["4 4 4 4 4 4 4 4 4"], "2026-02-10T10:00:00+08:00")
    first = city.get("/v1/indices/capil", params={"period": "2026-Q1"})
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, max-age=30, must-revalidate"
    unchanged = city.get(
        "/v1/indices/capil", params={"period": "2026-Q1"}, headers={"if-none-match": etag}
    )
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    # An offline kiosk's backlog for February arrives later.
    post_rows(city, "capil", "ktp", ["2 2 2 2 2 2 2 2 2"], "2026-02-11T10:00:00+08:00")
    revised = city.get(
        "/v1/indices/capil", params={"period": "2026-Q1"}, headers={"if-none-match": etag}
    )
    assert revised.status_code == 200
    assert revised.json()["ikm"] == 75.0
    assert revised.json()["data_updated_at"] > first.json()["data_updated_at"]
    assert revised.headers["etag"] != etag


def test_data_updated_at_is_the_utc_moment_of_receipt(
    city: TestClient, database_url: str, admin_token: str, backend: str
) -> None:
    """PostgreSQL gives timestamps in the session's time zone: an app whose sessions run in
    Asia/Jakarta must still say when the data changed in UTC."""
    url = database_url
    if backend == "postgresql":
        url = (
            make_url(url)
            .update_query_dict({"options": "-cTimeZone=Asia/Jakarta"})
            .render_as_string(hide_password=False)
        )
        with psycopg.connect(url) as check:
            assert check.execute("SHOW TimeZone").fetchone() == ("Asia/Jakarta",)
    before = datetime.now(UTC)
    post_rows(city, "capil", "ktp", ["4 4 4 4 4 4 4 4 4"], "2026-02-10T10:00:00+08:00")
    settings = app_settings(url, max_collected_age_days=100_000)
    with TestClient(create_app(settings), headers=bearer(admin_token)) as app:
        body = index(app, "capil", period="2026-Q1")
    changed = datetime.fromisoformat(body["data_updated_at"])
    assert changed.utcoffset() == timedelta(0)
    assert before <= changed <= datetime.now(UTC)


def test_an_empty_period_is_not_an_error(city: TestClient) -> None:
    body = index(city, "kota", period="2025")
    assert (body["ikm"], body["grade"], body["pooled"]["responses"]) == (None, None, 0)
    assert body["data_updated_at"] is None


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({}, "period"),
        ({"period": "2026-Q5"}, "period"),
        ({"period": "2026", "from": "2026-01-01"}, "period"),
        ({"from": "2026-01-01"}, "period"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"from": "2000-01-01", "to": "2026-01-01"}, "to"),
        ({"period": "2026", "rule": "median"}, "rule"),
    ],
)
def test_bad_index_parameters(city: TestClient, params: dict[str, str], parameter: str) -> None:
    refused = city.get("/v1/indices/capil", params=params)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["parameter"] == parameter


def test_unknown_unit_or_service(city: TestClient) -> None:
    assert city.get("/v1/indices/nowhere", params={"period": "2026"}).status_code == 404
    missing = city.get("/v1/indices/capil", params={"period": "2026", "service": "izin"})
    assert missing.status_code == 404
    bad_by = city.get("/v1/indices/capil/breakdown", params={"period": "2026", "by": "name"})
    assert bad_by.status_code == 422


# --- the pre-aggregated path equals a direct aggregate of the raw answers --------------------

ZONES = ("Asia/Makassar", "Asia/Jayapura")
score_or_blank = st.one_of(st.none(), st.integers(1, 4))
submission = st.fixed_dictionaries(
    {
        "unit": st.integers(0, 1),
        "service": st.integers(0, 1),
        "paper": st.booleans(),
        "answers": st.lists(score_or_blank, min_size=9, max_size=9),
        # Minutes from 2026-01-31 12:00 UTC over about two months: month and zone edges.
        "minute": st.integers(0, 60 * 24 * 60),
        "invalid": st.integers(0, 4).map(lambda x: x == 0),  # one in five refused
    }
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=st.lists(st.lists(submission, min_size=1, max_size=12), min_size=1, max_size=4),
    replays=st.lists(st.one_of(st.none(), st.integers(0, 10_000)), min_size=4, max_size=4),
    # Each batch sent whole or item by item: single submissions take their own statement.
    singly=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_aggregates_equal_a_direct_sum_of_the_answers(
    history: TestClient,
    database_url: str,
    batches: list[list[dict[str, Any]]],
    replays: list[int | None],
    singly: list[bool],
) -> None:
    run = uuid.uuid4().hex[:8]
    root = f"r-{run}"
    make_unit(history, root, kind="government", time_zone="Asia/Makassar")
    units = [f"u0-{run}", f"u1-{run}"]
    for code, zone in zip(units, ZONES, strict=True):
        make_unit(history, code, parent=root, time_zone=zone, services=("a", "b"))
    start = datetime(2026, 1, 31, 12, 0, tzinfo=ZoneInfo("UTC"))
    stored: dict[str, dict[str, Any]] = {}
    sent: list[dict[str, Any]] = []
    for batch, replay, one_by_one in zip(batches, replays, singly, strict=False):
        items = []
        for s in batch:
            answers = dict(zip(ELEMENTS, s["answers"], strict=True))
            if not any(v is not None for v in answers.values()):
                answers["waktu"] = 3
            item = response_item(
                units[s["unit"]],
                "ab"[s["service"]],
                answers if s["paper"] else {k: v or 2 for k, v in answers.items()},
                collected_at=(start + timedelta(minutes=s["minute"])).isoformat(),
                channel="paper" if s["paper"] else "kiosk",
            )
            if s["invalid"]:
                item["service"] = "nope"
            items.append(item)
        if sent and replay is not None:  # an earlier item again: a duplicate
            items.append(sent[replay % len(sent)])
        if one_by_one:
            statuses = [history.post("/v1/responses", json=item).status_code for item in items]
            created = [status == 201 for status in statuses]
        else:
            answer = history.post("/v1/responses/batch", json={"items": items}).json()
            created = [result["status"] == "created" for result in answer["items"]]
        for item, was_created in zip(items, created, strict=True):
            if was_created:
                stored[item["id"]] = item
        sent.extend(i for i in items if i["service"] != "nope")
    # The reference: sums over the stored items, cut by local day in each unit's zone.
    for label, first, last in (
        ("2026-01", "2026-01-01", "2026-01-31"),
        ("2026-02", "2026-02-01", "2026-02-28"),
        ("2026-Q1", "2026-01-01", "2026-03-31"),
        (None, "2026-01-31", "2026-03-01"),
        # Whole years come from the yearly aggregates, the months and days around them from
        # the monthly and daily ones.
        ("2026", "2026-01-01", "2026-12-31"),
        (None, "2025-12-01", "2027-01-31"),
        (None, "2025-11-15", "2027-02-10"),
        (None, "2025-06-01", "2026-02-15"),
    ):
        expected_n = dict.fromkeys(ELEMENTS, 0)
        expected_sum = dict.fromkeys(ELEMENTS, 0)
        count = 0
        for item in stored.values():
            zone = ZONES[units.index(item["unit"])]
            day = datetime.fromisoformat(item["collected_at"]).astimezone(ZoneInfo(zone)).date()
            if first <= day.isoformat() <= last:
                count += 1
                for key, value in item["answers"].items():
                    if value is not None:
                        expected_n[key] += 1
                        expected_sum[key] += value
        params = {"period": label} if label else {"from": first, "to": last}
        params["include_flagged"] = "true"  # bursts are flagged, not lost: count them all
        pooled = index(history, root, **params)["pooled"]
        assert pooled["responses"] == count
        got = {e["key"]: (e["answers"], e["total"]) for e in pooled["elements"]}
        want = {k: (expected_n[k], expected_sum[k]) for k in ELEMENTS if expected_n[k]}
        assert got == want
    # Each slot row holds exactly the responses of its slot (on PostgreSQL the id's last 3
    # bits; SQLite keeps one slot), so that any order of reads and reviews keeps every row a
    # true partial sum.
    slots = 8 if make_url(database_url).get_backend_name() == "postgresql" else 1
    per_slot: dict[int, tuple[int, int]] = {}
    for item in stored.values():
        slot = uuid.UUID(item["id"]).int % slots
        answered = [v for v in item["answers"].values() if v is not None]
        count, total = per_slot.get(slot, (0, 0))
        per_slot[slot] = (count + 1, total + sum(answered))
    assert slot_sums(database_url, units) == {
        "daily": per_slot,
        "monthly": per_slot,
        "yearly": per_slot,
    }


def slot_sums(database_url: str, units: list[str]) -> dict[str, dict[int, tuple[int, int]]]:
    """Per aggregate table and slot: the responses counted and the sum of every score, for
    the given units."""
    every_sum = " + ".join(f"{e}_sum" for e in ELEMENTS)
    engine = create_engine(sync_url(database_url))
    found = {}
    with engine.connect() as conn:
        for name in ("daily", "monthly", "yearly"):
            rows = conn.execute(
                text(
                    f"SELECT slot, sum(responses), sum({every_sum}) FROM {name}_aggregates "
                    "WHERE unit_id IN (SELECT id FROM units WHERE code IN (:a, :b)) "
                    "GROUP BY slot"
                ),
                {"a": units[0], "b": units[1]},
            )
            found[name] = {int(slot): (int(n), int(total)) for slot, n, total in rows if n}
    engine.dispose()
    return found


def test_a_report_reads_one_snapshot(city: TestClient, database_url: str) -> None:
    """A ranking reads the subtree, then the sums. A unit created and answered between the
    two must not reach the sums (it would belong to no known child); the report's
    connection sees the data as it was at its first statement."""
    post_rows(city, "capil", "ktp", FIVE[:3], "2026-02-10T09:00:00+08:00")

    async def around_a_new_unit() -> tuple[list[Any], list[Any], dict[str, int], int]:
        database = Database(database_url)
        try:
            async with database.snapshot_engine.connect() as conn:
                mall = await indices.find_unit(conn, "mpp")
                assert mall is not None
                subtree = await indices.subtree_units(conn, mall)
                make_unit(city, "pajak", parent="mpp", kind="agency", services=("pbb",))
                post_rows(city, "pajak", "pbb", FIVE[:2], "2026-02-11T09:00:00+08:00")
                scope = aggregates.Scope(mall, date(2026, 1, 1), date(2026, 12, 31))
                per_child, _own, _totals = await indices.sums_by_child(conn, scope, subtree)
                again = await indices.subtree_units(conn, mall)
            async with database.snapshot_engine.connect() as later:
                now = await aggregates.aggregate_totals(later, scope)
        finally:
            await database.dispose()
        children = {child.code: sums.responses for child, sums in per_child}
        return subtree, again, children, now.pooled().responses

    subtree, again, children, responses_now = asyncio.run(around_a_new_unit())
    assert responses_now == 5  # the new unit's two responses were stored meanwhile
    assert "pajak" not in {u.code for u in subtree}
    assert sorted(u.code for u in again) == sorted(u.code for u in subtree)
    assert children == {"capil": 3, "perizinan": 0}


# --- one vocabulary, and filters that reconcile with the headline ----------------------------


def _get(client: TestClient, url: str, **params: str) -> dict[str, Any]:
    answer = client.get(url, params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_service_and_flagged_filters_reconcile_everywhere(city: TestClient) -> None:
    post_rows(city, "capil", "ktp", FIVE, "2026-02-10T10:00:00+08:00")
    ones = "1 1 1 1 1 1 1 1 1"
    # The same answers ten seconds apart from one key: the second is a suspected burst.
    post_rows(city, "capil", "kk", [ones], "2026-02-10T09:00:00+08:00")
    post_rows(city, "capil", "kk", [ones], "2026-02-10T09:00:10+08:00")
    post_rows(city, "capil", "kk", ["2 2 2 2 2 2 2 2 2"], "2026-02-10T11:00:00+08:00")
    q1 = {"period": "2026-Q1"}
    # By hand: FIVE's element totals 18 15 13 20 16 18 19 16 13 (148); kk adds 1+2 per
    # element without the flagged one (175 over 7 responses: IKM 25·175/63 = 69.44), and
    # 9 more with it (184 over 8: 25·184/72 = 63.89). kk alone: NRR 3/2 → 37.5; with it
    # 4/3 → 33.33.
    cases = {"false": (7, 69.44, 2, 37.5), "true": (8, 63.89, 3, 33.33)}
    for flagged, (n, ikm, kk_n, kk_ikm) in cases.items():
        head = index(city, "mpp", **q1, include_flagged=flagged)
        assert (head["pooled"]["responses"], head["ikm"]) == (n, ikm)
        by_service = _get(
            city, "/v1/indices/mpp/breakdown", **q1, by="service", include_flagged=flagged
        )
        groups = {
            g["key"]: (g["value"]["responses"], g["value"]["ikm"]) for g in by_service["groups"]
        }
        assert groups == {"capil/kk": (kk_n, kk_ikm), "capil/ktp": (5, 82.22)}
        # A breakdown key is what ?service= takes, and the answer names it the same way.
        for key, (group_n, group_ikm) in groups.items():
            one = index(city, "mpp", **q1, service=key, include_flagged=flagged)
            assert (one["service"], one["pooled"]["responses"], one["ikm"]) == (
                key,
                group_n,
                group_ikm,
            )
        series = _get(
            city, "/v1/indices/mpp/series", **q1, granularity="month", include_flagged=flagged
        )
        assert [p["value"]["responses"] for p in series["points"]] == [0, n, 0]
        assert series["points"][1]["value"]["ikm"] == ikm
        ranking = _get(city, "/v1/indices/mpp/ranking", **q1, include_flagged=flagged)
        assert [
            (i["unit"]["code"], i["value"]["responses"], i["value"]["ikm"])
            for i in ranking["items"]
        ] == [
            ("capil", n, ikm),
            ("perizinan", 0, None),
        ]
        kk = {"service": "capil/kk", "include_flagged": flagged}
        assert (
            _get(city, "/v1/indices/mpp/ranking", **q1, **kk)["items"][0]["value"]["ikm"] == kk_ikm
        )
        gender = _get(city, "/v1/indices/mpp/breakdown", **q1, by="gender", **kk)
        assert gender["service"] == "capil/kk"
        assert [
            (g["key"], g["value"]["responses"], g["value"]["ikm"]) for g in gender["groups"]
        ] == [(None, kk_n, kk_ikm)]
        kk_series = _get(city, "/v1/indices/mpp/series", **q1, granularity="quarter", **kk)
        assert kk_series["points"][0]["value"]["ikm"] == kk_ikm
    # A bare code is a service of the unit itself; mpp has none of its own.
    assert index(city, "capil", **q1, service="kk")["service"] == "capil/kk"
    assert city.get("/v1/indices/mpp", params={**q1, "service": "kk"}).status_code == 404
    # Outside the subtree: perizinan cannot name capil's service.
    outside = city.get("/v1/indices/perizinan", params={**q1, "service": "capil/kk"})
    assert outside.status_code == 404


def test_a_null_interval_says_why(city: TestClient) -> None:
    assert index(city, "capil", period="2026-Q1")["pooled"]["confidence_interval_reason"] == (
        "no responses"
    )
    post_rows(
        city, "capil", "ktp", ["4 4 4 4 4 4 4 4 -"], "2026-02-10T10:00:00+08:00", channel="paper"
    )
    post_rows(city, "capil", "ktp", [FIVE[0]], "2026-02-10T11:00:00+08:00")
    pooled = index(city, "capil", period="2026-Q1")["pooled"]
    assert pooled["confidence_interval"] is None
    assert pooled["confidence_interval_reason"] == (
        "fewer than 2 responses answered all nine elements (1 did): the spread behind the "
        "interval cannot be estimated"
    )
    post_rows(city, "capil", "ktp", [FIVE[1]], "2026-02-10T12:00:00+08:00")
    pooled = index(city, "capil", period="2026-Q1")["pooled"]
    assert pooled["confidence_interval"]["respondents"] == 2
    assert pooled["confidence_interval_reason"] is None


def test_a_quarter_without_its_own_population_sums_its_months(city: TestClient) -> None:
    post_rows(city, "capil", "ktp", FIVE, "2026-02-10T10:00:00+08:00")
    for month, served in (("2026-01", 100), ("2026-02", 200)):
        assert city.put(f"/v1/units/capil/populations/{month}", json={"served": served}).is_success
    # Two months of three: no population for the quarter.
    assert index(city, "capil", period="2026-Q1")["sample"]["population"] is None
    assert city.put("/v1/units/capil/populations/2026-03", json={"served": 300}).is_success
    # 100 + 200 + 300 = 600; Krejcie–Morgan for N = 600 is 234 (by the formula, by hand).
    assert index(city, "capil", **{"from": "2026-01-01", "to": "2026-03-31"})["sample"] == {
        "population": 600,
        "population_periods": ["2026-01", "2026-02", "2026-03"],
        "minimum": 234,
        "adequate": False,
    }
    # The quarter's own figure, once recorded, is the one used; a month is its own.
    assert city.put("/v1/units/capil/populations/2026-Q1", json={"served": 1000}).is_success
    assert index(city, "capil", period="2026-Q1")["sample"]["population_periods"] == ["2026-Q1"]
    february = index(city, "capil", **{"from": "2026-02-01", "to": "2026-02-28"})["sample"]
    assert (february["population"], february["population_periods"]) == (200, ["2026-02"])
