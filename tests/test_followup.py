"""Follow-up plans through HTTP: proposals from the weakest and C/D elements (live and
published), editing, closing, the audit log, and the evaluation in the next period against
numbers worked out by hand (docs/method.md §8)."""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from app.evaluation import report_followup
from app.followup import proposed_action
from app.followup_schemas import ReportFollowup
from app.models import AuditEntry
from app.periods import parse_period
from tests.factories import make_mall, response_item, scores

WITA = timedelta(hours=8)


def at(day: date, hour: int) -> str:
    """An instant on a local day in kota's zone (WITA), at hour + minutes to spread them."""
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC) - WITA
    return (moment + timedelta(hours=8 + hour // 4, minutes=(hour % 4) * 10)).isoformat()


def post_all(
    client: TestClient, unit: str, service: str, vectors: Sequence[tuple[int, ...]], day: date
) -> None:
    items = [
        response_item(unit, service, scores(*vector), collected_at=at(day, i))
        for i, vector in enumerate(vectors)
    ]
    answer = client.post("/v1/responses/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == len(vectors), answer.text


# --- proposals -------------------------------------------------------------------------------

# Five responses whose NRRs are 3.6, 3.0, 2.6, 4.0, 3.2, 3.6, 3.8, 3.2, 2.6 (docs/method.md
# §2): waktu and pengaduan tie for weakest (2.6 × 25 = 65.00, C); prosedur, not the weakest,
# is 3.0 × 25 = 75.00, also C; every other element is B or A (3.2 × 25 = 80.00 B).
FIVE = [
    (4, 3, 3, 4, 4, 4, 4, 4, 3),
    (4, 3, 3, 4, 3, 4, 4, 3, 3),
    (4, 3, 3, 4, 3, 4, 4, 3, 3),
    (3, 3, 2, 4, 3, 3, 4, 3, 2),
    (3, 3, 2, 4, 3, 3, 3, 3, 2),
]


def test_a_plan_proposes_the_tied_weakest_and_every_element_graded_c_or_d(
    history: TestClient,
) -> None:
    make_mall(history)
    post_all(history, "disdukcapil", "ktp", FIVE, date(2025, 2, 10))
    made = history.post("/v1/units/disdukcapil/plans", json={"period": "2025-Q1"})
    assert made.status_code == 201, made.text
    plan = made.json()
    assert made.headers["location"] == "/v1/units/disdukcapil/plans/2025-Q1"
    assert plan["state"] == "open"
    assert plan["source"] == "live"
    assert plan["period"] == {"label": "2025-Q1", "from": "2025-01-01", "to": "2025-03-31"}
    proposed = [(i["element"], i["proposed_because"], i["status"]) for i in plan["items"]]
    assert proposed == [
        ("prosedur", ["grade_C"], "planned"),
        ("waktu", ["weakest", "grade_C"], "planned"),
        ("pengaduan", ["weakest", "grade_C"], "planned"),
    ]
    assert all(i["proposed"] and i["action"] for i in plan["items"])
    again = history.post("/v1/units/disdukcapil/plans", json={"period": "2025-Q1"})
    assert again.status_code == 409
    assert again.json()["type"] == "urn:skm:problem:plan-exists"
    empty = history.post(
        "/v1/units/disdukcapil/plans", json={"period": "2025-Q2", "propose": False}
    )
    assert empty.status_code == 201
    assert empty.json()["items"] == []


def test_the_proposal_reads_the_published_record_where_there_is_one(
    history: TestClient,
) -> None:
    """2025-Q1 is published with the five responses above (weakest waktu and pengaduan,
    prosedur graded C); 20 late arrivals scoring biaya 1 and everything else 4 then make
    the live index's weakest biaya ((5·4 + 20·1)/25 = 1.6, D) and lift the others. The plan
    follows the published record, not the live index."""
    make_mall(history)
    post_all(history, "disdukcapil", "ktp", FIVE, date(2025, 2, 10))
    published = history.post("/v1/units/disdukcapil/publications", json={"period": "2025-Q1"})
    assert published.status_code == 201, published.text
    late = [(4, 4, 4, 1, 4, 4, 4, 4, 4)] * 20
    post_all(history, "disdukcapil", "ktp", late, date(2025, 3, 20))
    live = history.get("/v1/indices/disdukcapil", params={"period": "2025-Q1"}).json()
    assert live["pooled"]["weakest"] == ["biaya"]
    plan = history.post("/v1/units/disdukcapil/plans", json={"period": "2025-Q1"}).json()
    assert plan["source"] == "publication"
    assert plan["source_publication_id"] == published.json()["id"]
    assert [(i["element"], i["proposed_because"]) for i in plan["items"]] == [
        ("prosedur", ["grade_C"]),
        ("waktu", ["weakest", "grade_C"]),
        ("pengaduan", ["weakest", "grade_C"]),
    ]


def test_items_are_edited_and_a_closed_plan_changes_only_statuses_and_evidence(
    history: TestClient, reset_engine: Engine
) -> None:
    make_mall(history)
    post_all(history, "disdukcapil", "ktp", FIVE, date(2025, 2, 10))
    base = "/v1/units/disdukcapil/plans/2025-Q1"
    plan = history.post("/v1/units/disdukcapil/plans", json={"period": "2025-Q1"}).json()
    first = plan["items"][0]["id"]
    patched = history.patch(
        f"{base}/items/{first}",
        json={
            "action": "Sederhanakan alur",
            "responsible": "Kasi Pelayanan",
            "target_date": "2025-06-30",
            "status": "in_progress",
        },
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "in_progress"
    assert patched.json()["overdue"] is True  # 2025-06-30 is long past
    service_item = history.post(
        f"{base}/items",
        json={"service": "kk", "action": "Tambah loket KK", "target_date": "2099-01-31"},
    )
    assert service_item.status_code == 201, service_item.text
    assert service_item.json()["service"] == "kk"
    assert service_item.json()["overdue"] is False
    both = history.post(f"{base}/items", json={"element": "waktu", "service": "kk", "action": "x"})
    assert both.status_code == 422
    unknown = history.post(f"{base}/items", json={"service": "tidak-ada", "action": "x"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["pointer"] == "/service"
    no_reason = history.patch(f"{base}/items/{first}", json={"status": "dropped"})
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["pointer"] == "/status_reason"
    dropped = history.delete(f"{base}/items/{plan['items'][1]['id']}")
    assert dropped.status_code == 204

    closed = history.post(f"{base}/close")
    assert closed.status_code == 200
    assert closed.json()["state"] == "closed"
    frozen = history.patch(f"{base}/items/{first}", json={"action": "Lain", "status": "done"})
    assert frozen.status_code == 409
    assert frozen.json()["type"] == "urn:skm:problem:plan-closed"
    assert [e["pointer"] for e in frozen.json()["errors"]] == ["/action"]
    evidence = history.patch(
        f"{base}/items/{first}",
        json={
            "status": "done",
            "evidence_note": "SOP baru",
            "evidence_links": ["https://example.go.id/sop.pdf"],
        },
    )
    assert evidence.status_code == 200, evidence.text
    assert evidence.json()["status"] == "done"
    assert evidence.json()["overdue"] is False
    assert (
        history.post(f"{base}/items", json={"element": "waktu", "action": "x"}).status_code == 409
    )
    assert history.delete(f"{base}/items/{first}").status_code == 409
    assert history.post(f"{base}/close").status_code == 409

    listed = history.get("/v1/units/disdukcapil/plans").json()["plans"]
    assert [(p["period"]["label"], p["state"], p["items"], p["done"]) for p in listed] == [
        ("2025-Q1", "closed", 3, 1)
    ]
    with reset_engine.connect() as conn:
        actions = conn.execute(
            select(AuditEntry.action, AuditEntry.details)
            .where(AuditEntry.target.like("plan:%"))
            .order_by(AuditEntry.id)
        ).all()
    assert [a for a, _ in actions] == [
        "plan.create",
        "plan.item.update",
        "plan.item.add",
        "plan.item.delete",
        "plan.close",
        "plan.item.update",
    ]
    # Field names and statuses only: the free text of actions and names is not copied.
    assert actions[1][1] == {
        "fields": ["action", "responsible", "status", "target_date"],
        "status": "in_progress",
        "target_date": "2025-06-30",
    }


def test_a_plan_period_must_be_a_period(history: TestClient) -> None:
    make_mall(history)
    bad = history.post("/v1/units/disdukcapil/plans", json={"period": "2025-Q5"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "/period"
    assert history.get("/v1/units/disdukcapil/plans/2025-13").status_code == 422
    assert history.get("/v1/units/disdukcapil/plans/2025-Q3").status_code == 404
    # The period after a plan's must exist for its evaluation: plans end in 2998 at most.
    late = history.post("/v1/units/disdukcapil/plans", json={"period": "2999"})
    assert late.status_code == 422
    assert late.json()["errors"][0]["pointer"] == "/period"
    history.post("/v1/units/disdukcapil/plans", json={"period": "2025", "propose": False})
    item = history.post(
        "/v1/units/disdukcapil/plans/2025/items", json={"element": "waktu", "action": "x"}
    ).json()
    for name in ("status", "action", "evidence_links"):
        nulled = history.patch(
            f"/v1/units/disdukcapil/plans/2025/items/{item['id']}", json={name: None}
        )
        assert nulled.status_code == 422, name
        assert nulled.json()["errors"][0]["pointer"] == f"/{name}"


# --- evaluation ------------------------------------------------------------------------------


def q1_vectors() -> list[tuple[int, ...]]:
    """40 responses: waktu and sarana 3 for the first 20, 2 for the others; the rest 4."""
    return [(4, 4, w, 4, 4, 4, 4, w, 4) for w in [3] * 20 + [2] * 20]


def q2_vectors() -> list[tuple[int, ...]]:
    """40 responses: waktu 3 for the first 20 and 4 after; sarana 3 for the first 21 and 2
    after; the rest 4."""
    return [(4, 4, 3 if i < 20 else 4, 4, 4, 4, 4, 3 if i < 21 else 2, 4) for i in range(40)]


def test_the_evaluation_matches_a_hand_computation(history: TestClient) -> None:
    """By hand (s² with n − 1; Welch df rounded down; t from the index's table):

    waktu: Q1 20×3 + 20×2 → NRR 2.5, s² = 10/39; Q2 20×3 + 20×4 → 3.5, s² = 10/39.
      difference 1.0; se = √(2 · 10/39 / 40) = 0.113228; df = 78 → t = 2.000 (row 60);
      interval 1.0 ± 0.226455 = [0.774, 1.226]: improved.
    sarana: Q2 21×3 + 19×2 → 101/40 = 2.525, s² = 399/1560. difference 0.025;
      se = 0.113157; df = 77.9999 → 77, t = 2.000; interval [−0.201, 0.251]: no clear change.
    IKM: Q1 (7·4 + 2.5 + 2.5)/9 × 25 = 91.67; Q2 (28 + 3.5 + 2.525)/9 × 25 = 94.51;
      difference 2.847222 → 2.85. Respondent totals T: Q1 20×34 + 20×32 (s² = 40/39);
      Q2 39×34 + 1×35 (s² = 0.025); on the IKM scale × 25/9: se = 0.450189,
      df = 40.9 → 40, t = 2.021; interval 2.847222 ± 0.909832 = [1.94, 3.76]: improved.
    """
    make_mall(history)
    post_all(history, "disdukcapil", "ktp", q1_vectors(), date(2025, 2, 3))
    post_all(history, "disdukcapil", "ktp", q2_vectors(), date(2025, 5, 6))
    base = "/v1/units/disdukcapil/plans"
    plan = history.post(base, json={"period": "2025-Q1"}).json()
    # The weakest (2.5 each, graded D: 62.50) are waktu and sarana.
    assert [i["element"] for i in plan["items"]] == ["waktu", "sarana"]
    added = history.post(f"{base}/2025-Q1/items", json={"service": "ktp", "action": "Antrian"})
    assert added.status_code == 201
    answer = history.get(f"{base}/2025-Q1/evaluation")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["plan_period"] == {"label": "2025-Q1", "from": "2025-01-01", "to": "2025-03-31"}
    assert body["next_period"] == {"label": "2025-Q2", "from": "2025-04-01", "to": "2025-06-30"}

    def summary(change: dict[str, Any]) -> tuple[Any, ...]:
        return (
            change["what"],
            change["before"]["answers"],
            change["before"]["value"],
            change["after"]["answers"],
            change["after"]["value"],
            change["difference"],
            change["interval_low"],
            change["interval_high"],
            change["degrees_of_freedom"],
            change["verdict"],
        )

    assert [summary(i["change"]) for i in body["items"]] == [
        ("element:waktu", 40, 2.5, 40, 3.5, 1.0, 0.774, 1.226, 78, "improved"),
        ("element:sarana", 40, 2.5, 40, 2.525, 0.025, -0.201, 0.251, 77, "no_clear_change"),
        ("service:ktp", 40, 91.67, 40, 94.51, 2.85, 1.94, 3.76, 40, "improved"),
    ]
    assert summary(body["unit_change"]) == (
        "unit",
        40,
        91.67,
        40,
        94.51,
        2.85,
        1.94,
        3.76,
        40,
        "improved",
    )
    assert body["items"][1]["change"]["after"]["value_exact"] == "101/40"

    # The Laporan SKM of 2025-Q2 shows the 2025-Q1 plan with this evaluation, and its own.
    history.post(base, json={"period": "2025-Q2", "propose": False})

    async def for_report() -> ReportFollowup:
        database = history.app.state.database  # type: ignore[attr-defined]
        async with database.read_connection() as conn:
            return await report_followup(conn, "disdukcapil", parse_period("2025-Q2"))

    shown = history.portal.call(for_report)  # type: ignore[union-attr]
    assert shown.previous_plan is not None
    assert shown.previous_plan.period.label == "2025-Q1"
    assert shown.previous_evaluation is not None
    assert shown.previous_evaluation.model_dump(mode="json") == body
    assert shown.current_plan is not None
    assert (shown.current_plan.period.label, shown.current_plan.items) == ("2025-Q2", [])


def test_fewer_than_30_answers_is_not_enough_data_however_large_the_change(
    history: TestClient,
) -> None:
    make_mall(history)
    post_all(history, "dpmptsp", "izin-usaha", [(3,) * 9] * 29, date(2025, 1, 7))
    post_all(history, "dpmptsp", "izin-usaha", [(4,) * 9] * 30, date(2025, 4, 8))
    history.post("/v1/units/dpmptsp/plans", json={"period": "2025-Q1", "propose": False})
    history.post("/v1/units/dpmptsp/plans/2025-Q1/items", json={"element": "biaya", "action": "x"})
    body = history.get("/v1/units/dpmptsp/plans/2025-Q1/evaluation").json()
    [item] = body["items"]
    assert item["change"]["difference"] == 1.0
    assert item["change"]["verdict"] == "not_enough_data"
    assert body["unit_change"]["verdict"] == "not_enough_data"


@pytest.mark.parametrize(
    ("period", "following"),
    [("2025", "2026"), ("2025-S2", "2026-S1"), ("2025-Q4", "2026-Q1"), ("2025-12", "2026-01")],
)
def test_the_next_comparable_period_has_the_same_length(
    history: TestClient, period: str, following: str
) -> None:
    make_mall(history)
    history.post("/v1/units/disdukcapil/plans", json={"period": period})
    body = history.get(f"/v1/units/disdukcapil/plans/{period}/evaluation").json()
    assert body["next_period"]["label"] == following
    assert body["unit_change"]["verdict"] == "not_enough_data"


def test_a_proposed_action_shows_the_nrr_as_the_method_presents_it() -> None:
    """257/80 = 3.2125 exactly: half-up to three decimals is 3.213 (a float's format gives
    3.212), written with the Indonesian decimal comma."""
    text = proposed_action("waktu", ["weakest", "grade_C"], Fraction(257, 80))
    assert text == "Tindak lanjut Waktu Penyelesaian (NRR 3,213; unsur terendah, mutu C)"
