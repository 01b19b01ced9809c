"""Publications through the HTTP API, on both databases: a published record is fixed, late
arrivals move only the live index (which says how it differs), a revision is a new record,
and the public sees published records only, under the suppression rule. Numbers by hand."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx2
from fastapi.testclient import TestClient

from tests.factories import create_key, keyless, make_unit, response_item, scores

# capil's five respondents (element totals 18 15 13 20 16 18 19 16 13, sum 148): index
# 148/45, IKM 82.22, B (as in tests/test_indices.py).
FIVE = [
    (4, 3, 3, 4, 3, 4, 4, 3, 3),
    (3, 3, 2, 4, 3, 3, 4, 3, 2),
    (4, 4, 3, 4, 4, 4, 4, 4, 3),
    (3, 2, 2, 4, 3, 3, 3, 3, 2),
    (4, 3, 3, 4, 3, 4, 4, 3, 3),
]
Q1 = "2026-Q1"


def post(client: TestClient, rows: Sequence[tuple[int, ...]], when: str, **fields: Any) -> None:
    """Rows collected a minute apart from `when`."""
    start = datetime.fromisoformat(when)
    items = [
        response_item("capil", "ktp", scores(*r), start + timedelta(minutes=i), **fields)
        for i, r in enumerate(rows)
    ]
    answer = client.post("/v1/responses/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == len(items), answer.text


def publish(client: TestClient, unit: str, period: str, **body: Any) -> httpx2.Response:
    return client.post(f"/v1/units/{unit}/publications", json={"period": period, **body})


def published(answer: httpx2.Response, status: int = 201) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


def live(client: TestClient, unit: str, period: str) -> dict[str, Any]:
    answer = client.get(f"/v1/indices/{unit}", params={"period": period})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def setup_capil(client: TestClient) -> None:
    make_unit(client, "kota", kind="government", time_zone="Asia/Makassar")
    make_unit(client, "capil", parent="kota", kind="agency", services=("ktp", "kk"))
    post(client, FIVE, "2026-02-10T10:00:00+08:00")


def test_a_publication_is_fixed_and_a_late_arrival_changes_only_the_live_index(
    history: TestClient,
) -> None:
    setup_capil(history)
    first = published(publish(history, "capil", Q1))
    assert (first["revision"], first["supersedes"], first["superseded_by"]) == (1, None, None)
    assert (first["responses"], first["ikm"], first["difference"]) == (5, 82.22, None)
    assert first["period"] == {"label": Q1, "from": "2026-01-01", "to": "2026-03-31"}
    assert first["method_id"] == "permenpan-rb-14-2017"
    assert first["public"] is True  # a quarter: the public length by default
    assert isinstance(first["published_by_key"], int)
    report = first["report"]
    pooled = report["index"]["pooled"]
    assert (pooled["index_exact"], report["index"]["grade"]["mutu"]) == ("148/45", "B")
    assert [e["total"] for e in pooled["elements"]] == [18, 15, 13, 20, 16, 18, 19, 16, 13]
    assert pooled["confidence_interval"]["respondents"] == 5
    assert report["index"]["sample"]["population"] is None
    assert sorted(report["breakdowns"]) == [
        "age_band",
        "channel",
        "education",
        "gender",
        "occupation",
        "service",
    ]
    services = report["breakdowns"]["service"]["groups"]
    assert [(g["key"], g["value"]["responses"]) for g in services] == [("capil/ktp", 5)]
    # Five respondents: fewer than SKM_PUBLIC_MIN_GROUP (10), so the public figure is withheld.
    assert report["public"]["index"]["suppressed"] is True
    assert report["public"]["index"]["value"] is None
    assert "public_counts" not in report
    # A retry with the same figures answers the same record and writes nothing.
    again = published(publish(history, "capil", Q1), status=200)
    assert again == first
    record = published(history.get(f"/v1/publications/{first['id']}"), status=200)
    assert record == first

    # A late arrival (collected in Q1, received now).
    post(history, [(1,) * 9], "2026-03-01T10:00:00+08:00")
    assert published(history.get(f"/v1/publications/{first['id']}"), status=200) == record
    now = live(history, "capil", Q1)
    # 148 + 9 = 157 over 6 responses: 25 · 157/54 = 72.69.
    assert (now["pooled"]["responses"], now["ikm"]) == (6, 72.69)
    marker = now["publication"]
    assert (marker["id"], marker["revision"], marker["differs"]) == (first["id"], 1, True)
    changed = {c["figure"]: (c["before"], c["after"]) for c in marker["changes"]}
    assert changed["responses"] == (5, 6)
    assert changed["ikm"] == (82.22, 72.69)
    assert changed["persyaratan.answers"] == (5, 6)
    assert changed["persyaratan.total"] == (18, 19)
    assert changed["waktu.total"] == (13, 14)
    assert len(changed) == 2 + 2 * 9

    # Publishing again needs the current record named.
    refused = publish(history, "capil", Q1)
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:skm:problem:publication-exists"
    assert publish(history, "capil", Q1, revises=first["id"] + 1000).status_code == 409
    revision = published(publish(history, "capil", Q1, revises=first["id"]))
    assert (revision["revision"], revision["supersedes"]) == (2, first["id"])
    assert revision["difference"] == marker["changes"]
    assert (revision["responses"], revision["ikm"]) == (6, 72.69)
    # Six respondents now against five: a difference of one, which the public must not see.
    assert revision["public"] is False
    original = published(history.get(f"/v1/publications/{first['id']}"), status=200)
    assert original["superseded_by"] == revision["id"]
    assert {k: v for k, v in original.items() if k != "superseded_by"} == {
        k: v for k, v in first.items() if k != "superseded_by"
    }
    after = live(history, "capil", Q1)["publication"]
    assert (after["id"], after["revision"], after["differs"], after["changes"]) == (
        revision["id"],
        2,
        False,
        [],
    )
    # The parent's live index has no record of its own for the period.
    assert live(history, "kota", Q1)["publication"] is None

    listed = published(
        history.get("/v1/units/capil/publications", params={"period": Q1, "limit": 1}), 200
    )
    assert [p["id"] for p in listed["items"]] == [revision["id"]]
    rest = history.get(
        "/v1/units/capil/publications", params={"limit": 1, "cursor": listed["next_cursor"]}
    ).json()
    assert ([p["id"] for p in rest["items"]], rest["next_cursor"]) == ([first["id"]], None)
    assert "report" not in rest["items"][0]
    other = history.get("/v1/units/capil/publications", params={"period": "2026-Q2"}).json()
    assert other["items"] == []

    audit = history.get("/v1/audit", params={"action": "publication.publish"}).json()
    assert [(e["target"], e["details"]["revision"]) for e in audit["items"]] == [
        (f"unit:capil/{Q1}", 2),
        (f"unit:capil/{Q1}", 1),
    ]


def test_what_cannot_be_published(history: TestClient) -> None:
    setup_capil(history)
    cases = {
        "2099-Q1": "period_not_ended",  # not over in the unit's time zone
        "2026-Q5": "bad_period",
    }
    for period, code in cases.items():
        answer = publish(history, "capil", period)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0] | {"detail": None} == {
            "pointer": "/period",
            "code": code,
            "detail": None,
        }
    nothing = publish(history, "capil", Q1, revises=1)
    assert nothing.status_code == 422
    assert nothing.json()["errors"][0]["pointer"] == "/revises"
    assert (
        history.post("/v1/units/capil/publications", json={"period": Q1, "x": 1}).status_code == 422
    )
    assert publish(history, "nowhere", Q1).status_code == 404
    assert history.get("/v1/publications/2000000000").status_code == 404


def test_a_reader_reads_and_a_manager_publishes_only_in_scope(history: TestClient) -> None:
    setup_capil(history)
    make_unit(history, "arsip", parent="kota", kind="agency", services=("arsip",))
    manager = create_key(history, "Manajer capil", "manager", "capil")["token"]
    reader = create_key(history, "Dasbor capil", "reader", "capil")["token"]
    as_manager = {"Authorization": f"Bearer {manager}"}
    as_reader = {"Authorization": f"Bearer {reader}"}
    mine = history.post("/v1/units/capil/publications", json={"period": Q1}, headers=as_manager)
    assert mine.status_code == 201, mine.text
    theirs = published(publish(history, "arsip", Q1))
    assert theirs["responses"] == 0
    assert (
        history.post("/v1/units/capil/publications", json={"period": Q1}, headers=as_reader)
    ).status_code == 403
    read = history.get(f"/v1/publications/{mine.json()['id']}", headers=as_reader)
    assert read.status_code == 200
    hidden = history.get(f"/v1/publications/{theirs['id']}", headers=as_reader)
    assert hidden.status_code == 404
    assert history.get("/v1/units/arsip/publications", headers=as_reader).status_code == 404


def test_the_public_sees_published_records_only_and_no_revision_by_a_few(
    history: TestClient,
) -> None:
    """SKM_PUBLIC_MIN_GROUP is 10 here: capil gets 10 respondents, is published, then one
    late arrival (a revision the public must not see: it would describe one person), then
    ten more (a revision 11 respondents away from the public record: shown)."""
    make_unit(history, "capil", kind="agency", time_zone="Asia/Makassar", services=("ktp",))
    assert history.patch("/v1/units/capil", json={"public": True}).status_code == 200
    post(history, [(4,) * 9] * 5 + [(3,) * 9] * 5, "2026-01-10T10:00:00+08:00")
    url = "/v1/public/indices/capil"
    before = keyless(history, "GET", url, params={"period": Q1})
    assert before.status_code == 404
    assert before.json()["type"] == "urn:skm:problem:not-published"
    assert before.json()["errors"][0] | {"detail": None} == {
        "parameter": "period",
        "code": "not_published",
        "detail": None,
    }
    first = published(publish(history, "capil", Q1))
    shown = keyless(history, "GET", url, params={"period": Q1}).json()
    # 5 × all 4 and 5 × all 3: 3.5 per element → 87.50, B.
    assert (shown["publication_id"], shown["value"]["responses"], shown["value"]["ikm"]) == (
        first["id"],
        10,
        87.5,
    )
    breakdown = keyless(history, "GET", f"{url}/breakdown", params={"period": Q1, "by": "service"})
    assert [(g["key"], g["value"]["responses"]) for g in breakdown.json()["groups"]] == [
        ("ktp", 10)
    ]

    post(history, [(1,) * 9], "2026-02-10T10:00:00+08:00")
    assert keyless(history, "GET", url, params={"period": Q1}).json() == shown
    withheld = published(publish(history, "capil", Q1, revises=first["id"]))
    assert withheld["public"] is False
    assert keyless(history, "GET", url, params={"period": Q1}).json() == shown
    assert keyless(history, "GET", f"/v1/public/publications/{withheld['id']}").status_code == 404

    post(history, [(4,) * 9] * 10, "2026-03-10T10:00:00+08:00")
    third = published(publish(history, "capil", Q1, revises=withheld["id"]))
    assert third["public"] is True
    now = keyless(history, "GET", url, params={"period": Q1}).json()
    # 15 × 4 + 5 × 3 + 1 × 1 = 76 over 21 per element → 25 · 76/21 = 90.48, A.
    assert (now["publication_id"], now["value"]["responses"], now["value"]["ikm"]) == (
        third["id"],
        21,
        90.48,
    )
    listed = keyless(history, "GET", "/v1/public/units/capil/publications").json()
    assert [(p["id"], p["supersedes"]) for p in listed] == [
        (third["id"], first["id"]),
        (first["id"], None),
    ]
    one = keyless(history, "GET", f"/v1/public/publications/{first['id']}").json()
    assert one["figures"]["index"] == shown
    assert set(one["figures"]["index"]["value"]["elements"][0]) == {
        "key",
        "unsur",
        "nrr",
        "ikm",
        "grade",
    }
    # A unit that stops being public shows nothing, published or not.
    assert history.patch("/v1/units/capil", json={"public": False}).status_code == 200
    assert keyless(history, "GET", url, params={"period": Q1}).status_code == 404
    assert keyless(history, "GET", f"/v1/public/publications/{first['id']}").status_code == 404
    assert keyless(history, "GET", "/v1/public/units/capil/publications").status_code == 404
