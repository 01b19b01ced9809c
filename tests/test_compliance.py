"""The compliance overview (JSON, XLSX, PDF), the reminders and the required periods,
through HTTP, on a constructed city where each unit fails a different point."""

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import openpyxl
import pypdf
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from app.models import Publication, Unit
from tests.factories import all_answers, off_the_event_loop, post_unit, response_item

AS_OF = "2026-02-15"  # 2025 ended 46 days before: past the 30-day grace
AGENCIES = ("patuh", "kosong", "kurang", "telat", "tanpa-rtl", "lewat")


def post_year(client: TestClient, unit: str, year: int, score: int, count: int = 30) -> None:
    start = datetime(year, 3, 2, 1, 0, tzinfo=UTC)
    items = [
        response_item(unit, "loket", all_answers(score), collected_at=start + timedelta(hours=i))
        for i in range(count)
    ]
    answer = client.post("/v1/responses/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == count


def publish(engine: Engine, unit: str, period: str, start: date, end: date) -> int:
    """A publication record written straight to its table (the publishing endpoint is issue
    11's); only which record and when matter here."""
    with engine.begin() as conn:
        unit_id = conn.execute(select(Unit.id).where(Unit.code == unit)).scalar_one()
        return int(
            conn.execute(
                insert(Publication)
                .values(
                    unit_id=unit_id,
                    period=period,
                    period_start=start,
                    period_end=end,
                    revision=1,
                    published_at=datetime(2026, 1, 10, 3, 0, tzinfo=UTC),
                    public=False,
                    method_id="permenpan-rb-14-2017",
                    responses=30,
                    fingerprint="0" * 64,
                    report={},
                )
                .returning(Publication.id)
            ).scalar_one()
        )


@pytest.fixture
def city(history: TestClient, reset_engine: Engine) -> dict[str, int]:
    """kota → mpp → six agencies, each failing one point for 2025 (as of 2026-02-15):

    patuh      complies: 30 responses (population 30 → minimum 28), published, a plan with
               one item done; 2024: 30 responses all 3 (75.00), 2025 all 4 (100.00)
    kosong     no response in 2025 (so no sample either); published; nothing to plan
    kurang     30 responses against a population of 1000 (minimum 278)
    telat      not published
    tanpa-rtl  no follow-up plan
    lewat      a plan whose item was due on 2026-01-31 and is still planned
    """
    post_unit(history, "kota", "government", time_zone="Asia/Makassar")
    post_unit(history, "mpp", "service_mall", parent="kota")
    publications = {}
    for code in AGENCIES:
        post_unit(history, code, "agency", parent="mpp")
        made = history.post(f"/v1/units/{code}/services", json={"code": "loket", "name": "L"})
        assert made.status_code == 201
        served = 1000 if code == "kurang" else 30
        put = history.put(f"/v1/units/{code}/populations/2025", json={"served": served})
        assert put.status_code == 200
        if code != "kosong":
            post_year(history, code, 2025, 4)
        if code != "telat":
            publications[code] = publish(
                reset_engine, code, "2025", date(2025, 1, 1), date(2026, 1, 1)
            )
        if code not in ("kosong", "tanpa-rtl"):
            plan = history.post(
                f"/v1/units/{code}/plans", json={"period": "2025", "propose": False}
            )
            assert plan.status_code == 201, plan.text
            item = {"element": "waktu", "action": "Percepat", "target_date": "2026-01-31"}
            item["status"] = "planned" if code == "lewat" else "done"
            added = history.post(f"/v1/units/{code}/plans/2025/items", json=item)
            assert added.status_code == 201, added.text
    post_year(history, "patuh", 2024, 3)
    due = {"element": "sarana", "action": "Perbaiki", "target_date": "2026-12-31"}
    assert history.post("/v1/units/lewat/plans/2025/items", json=due).status_code == 201
    return publications


def test_every_column_of_the_overview_on_a_city_where_each_unit_fails_one_point(
    history: TestClient, city: dict[str, int]
) -> None:
    answer = history.get("/v1/compliance/kota", params={"year": 2025, "as_of": AS_OF})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["year"], body["as_of"], body["grace_days"]) == (2025, AS_OF, 30)
    rows = {r["unit"]["code"]: r for r in body["rows"]}
    assert list(rows) == ["kota", "mpp", *sorted(AGENCIES)]

    def points(code: str) -> tuple[bool, ...]:
        r = rows[code]
        return (r["surveyed"], r["sample_met"], r["published"], r["followed_up"], r["complied"])

    assert points("patuh") == (True, True, True, True, True)
    assert points("kosong") == (False, False, True, True, False)
    assert points("kurang") == (True, False, True, True, False)
    assert points("telat") == (True, True, False, True, False)
    assert points("tanpa-rtl") == (True, True, True, False, False)
    assert points("lewat") == (True, True, True, False, False)
    # The mall pools 150 responses; it has no population, publication or plan of its own.
    assert points("mpp") == (True, False, False, False, False)

    patuh = rows["patuh"]
    assert patuh["required_periods"] == "year"
    assert patuh["kind"] == "agency"
    assert patuh["parent"] == "mpp"
    assert patuh["periods"] == [
        {
            "period": {"label": "2025", "from": "2025-01-01", "to": "2025-12-31"},
            "ended": True,
            "responses": 30,
            "population": 30,
            "minimum_sample": 28,
            "sample_met": True,
            "publication_id": city["patuh"],
            "published_at": "2026-01-10T03:00:00Z",
            "overdue": False,
        }
    ]
    assert patuh["plans"] == ["2025"]
    assert patuh["plan_items"] == {"items": 1, "done": 1, "dropped": 0, "due": 0, "overdue": 0}
    assert (patuh["ikm"], patuh["grade"]["mutu"], patuh["previous_ikm"], patuh["change"]) == (
        100.0,
        "A",
        75.0,
        25.0,
    )
    kurang = rows["kurang"]["periods"][0]
    assert (kurang["population"], kurang["minimum_sample"], kurang["sample_met"]) == (
        1000,
        278,
        False,
    )
    telat = rows["telat"]["periods"][0]
    assert (telat["publication_id"], telat["published_at"], telat["overdue"]) == (None, None, True)
    assert rows["kosong"]["periods"][0]["responses"] == 0
    assert rows["kosong"]["ikm"] is None
    assert rows["tanpa-rtl"]["plans"] == []
    assert rows["lewat"]["plan_items"] == {
        "items": 2,
        "done": 0,
        "dropped": 0,
        "due": 1,
        "overdue": 1,
    }
    assert rows["mpp"]["periods"][0]["responses"] == 150
    assert rows["mpp"]["previous_ikm"] == 75.0
    assert body["summary"] == {
        "units": 8,
        "surveyed": 7,
        "sample_met": 4,
        "published": 5,
        "followed_up": 4,
        "complied": 1,
    }


def test_filters_and_the_grace_period(history: TestClient, city: dict[str, int]) -> None:
    agencies = history.get(
        "/v1/compliance/kota", params={"year": 2025, "as_of": AS_OF, "kind": "agency"}
    ).json()
    assert agencies["summary"] == {
        "units": 6,
        "surveyed": 5,
        "sample_met": 4,
        "published": 5,
        "followed_up": 4,
        "complied": 1,
    }
    failing = history.get(
        "/v1/compliance/mpp",
        params={"year": 2025, "as_of": AS_OF, "kind": "agency", "failing": "followed_up"},
    ).json()
    assert [r["unit"]["code"] for r in failing["rows"]] == ["lewat", "tanpa-rtl"]
    any_point = history.get(
        "/v1/compliance/mpp", params={"year": 2025, "as_of": AS_OF, "failing": "any"}
    ).json()
    assert "patuh" not in [r["unit"]["code"] for r in any_point["rows"]]
    # 20 days after the year ended, within the grace: nothing is overdue yet.
    early = history.get("/v1/compliance/telat", params={"year": 2025, "as_of": "2026-01-20"}).json()
    [row] = early["rows"]
    assert row["periods"][0]["overdue"] is False
    assert row["published"] is True


def test_the_workbook_and_the_pdf_carry_the_same_rows(
    history: TestClient, city: dict[str, int]
) -> None:
    params: dict[str, str | int] = {"year": 2025, "as_of": AS_OF, "kind": "agency"}
    answer = history.get("/v1/compliance/kota/overview.xlsx", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["Ringkasan", "Unit", "Periode"]
    units = list(book["Unit"].iter_rows(values_only=True))
    header = units[0]
    table = {str(row[0]): dict(zip(header, row, strict=True)) for row in units[1:]}
    assert sorted(table) == sorted(AGENCIES)
    expected: dict[str, tuple[Any, ...]] = {
        "patuh": ("ya", "ya", "ya", "ya", "ya", 100, 1, 0, 0, 0),
        "kosong": ("tidak", "tidak", "ya", "ya", "tidak", 0, 0, 0, 0, 0),
        "kurang": ("ya", "tidak", "ya", "ya", "tidak", 100, 1, 0, 0, 0),
        "telat": ("ya", "ya", "tidak", "ya", "tidak", 100, 1, 0, 0, 1),
        "tanpa-rtl": ("ya", "ya", "ya", "tidak", "tidak", 100, 0, 0, 0, 0),
        "lewat": ("ya", "ya", "ya", "tidak", "tidak", 100, 0, 1, 1, 0),
    }
    for code, values in expected.items():
        row = table[code]
        got = (
            row["Melaksanakan survei"],
            row["Sampel minimum terpenuhi"],
            row["Hasil dipublikasikan"],
            row["Tindak lanjut"],
            row["Patuh"],
            row["IKM"] if row["IKM"] is not None else 0,
            row["Selesai"],
            row["Berjalan"],
            row["Lewat target"],
            row["Terlambat"],
        )
        assert got == values, code
    assert table["patuh"]["IKM tahun lalu"] == 75
    assert table["patuh"]["Perubahan"] == 25
    periods = list(book["Periode"].iter_rows(values_only=True))
    assert periods[1][:7] == ("kosong", "Unit kosong", "2025", 0, 30, 28, "tidak")
    summary = {row[0]: row[1] for row in book["Ringkasan"].iter_rows(values_only=True)}
    assert (summary["Unit"], summary["Patuh"], summary["Per tanggal"]) == (6, 1, AS_OF)

    pdf = history.get("/v1/compliance/kota/overview.pdf", params=params)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Kepatuhan SKM 2025: Unit kota" in text
    assert "15 Februari 2026" in text
    assert "Unit: 6 · Melaksanakan survei: 5" in text
    assert "100,00" in text  # Indonesian decimals
    assert "+25,00" in text  # patuh's change
    for code in AGENCIES:
        assert code in text
    english = history.get("/v1/compliance/kota/overview.pdf", params={**params, "lang": "en"})
    english_text = pypdf.PdfReader(io.BytesIO(english.content)).pages[0].extract_text()
    assert "SKM compliance 2025" in english_text
    assert "15 February 2026" in english_text
    assert "100.00" in english_text
    again = history.get("/v1/compliance/kota/overview.pdf", params=params)
    assert again.content == pdf.content  # deterministic


def test_reminders_list_overdue_items_and_missing_results_with_an_etag(
    history: TestClient, city: dict[str, int]
) -> None:
    answer = history.get("/v1/reminders/mpp", params={"as_of": AS_OF})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [
        (i["unit"]["code"], i["plan_period"], i["element"], i["target_date"], i["days_overdue"])
        for i in body["overdue_items"]
    ] == [("lewat", "2025", "waktu", "2026-01-31", 15)]
    assert [
        (m["unit"]["code"], m["period"]["label"], m["responses"], m["days_overdue"])
        for m in body["missing_results"]
    ] == [("mpp", "2025", 150, 16), ("telat", "2025", 30, 16)]
    etag = answer.headers["etag"]
    assert answer.headers["cache-control"] == "private, max-age=30, must-revalidate"
    cached = history.get(
        "/v1/reminders/mpp", params={"as_of": AS_OF}, headers={"If-None-Match": etag}
    )
    assert cached.status_code == 304
    done = history.patch(
        f"/v1/units/lewat/plans/2025/items/{body['overdue_items'][0]['item_id']}",
        json={"status": "done"},
    )
    assert done.status_code == 200
    changed = history.get(
        "/v1/reminders/mpp", params={"as_of": AS_OF}, headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.json()["overdue_items"] == []


def test_required_periods_are_inherited_down_the_tree(history: TestClient) -> None:
    post_unit(history, "kota", "government", time_zone="Asia/Makassar")
    post_unit(history, "mpp", "service_mall", parent="kota")
    post_unit(history, "capil", "agency", parent="mpp")

    def setting(code: str) -> dict[str, Any]:
        answer = history.get(f"/v1/units/{code}/required-periods")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    assert setting("capil") == {
        "unit": "capil",
        "required_periods": "year",
        "own": None,
        "inherited_from": None,
    }
    put = history.put("/v1/units/kota/required-periods", json={"required_periods": "semester"})
    assert put.status_code == 200
    assert setting("capil") == {
        "unit": "capil",
        "required_periods": "semester",
        "own": None,
        "inherited_from": "kota",
    }
    history.put("/v1/units/capil/required-periods", json={"required_periods": "quarter"})
    assert setting("capil")["own"] == "quarter"
    rows = history.get("/v1/compliance/kota", params={"year": 2025, "as_of": "2025-08-20"}).json()[
        "rows"
    ]
    labels = {r["unit"]["code"]: [p["period"]["label"] for p in r["periods"]] for r in rows}
    assert labels == {
        "kota": ["2025-S1", "2025-S2"],
        "mpp": ["2025-S1", "2025-S2"],
        "capil": ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"],
    }
    ended = {r["unit"]["code"]: [p["ended"] for p in r["periods"]] for r in rows}
    assert ended["capil"] == [True, True, False, False]
    for path in ("/v1/compliance/kota", "/v1/reminders/kota"):
        early = history.get(path, params={"year": 2025, "as_of": "0001-01-01"})
        assert early.status_code == 422
        assert early.json()["errors"][0]["parameter"] == "as_of"
    bad = history.put("/v1/units/capil/required-periods", json={"required_periods": "month"})
    assert bad.status_code == 422
    history.put("/v1/units/capil/required-periods", json={"required_periods": None})
    assert setting("capil")["inherited_from"] == "kota"


def test_the_workbook_and_the_pdf_are_made_off_the_event_loop(
    history: TestClient, city: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A region's overview as a document is made in the thread pool: the event loop goes
    on serving the worker's other requests meanwhile."""
    from app.documents import compliance as documents

    made_in: list[bool] = []
    for name in ("workbook", "pdf_table"):
        monkeypatch.setattr(documents, name, off_the_event_loop(getattr(documents, name), made_in))
    params: dict[str, str | int] = {"year": 2025, "as_of": AS_OF}
    for suffix in ("xlsx", "pdf"):
        answer = history.get(f"/v1/compliance/kota/overview.{suffix}", params=params)
        assert answer.status_code == 200, answer.text
    assert made_in == [True, True]
