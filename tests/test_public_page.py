"""The public page (/publik/{unit}) in Chromium: the published figures of a public unit,
its trend and follow-up plan, no suppressed group, no JavaScript needed, and no serious or
critical violation found by axe-core (tests/assets/axe-core, its VERSION and LICENSE).

Figures by hand (scores a minute apart, so none is flagged as a burst):
- capil 2025-Q1: 12 responses all 3 on ktp → IKM 75.00, C.
- capil 2025-Q2: ktp 12 all 4, kk 5 all 3, akta 5 all 3 → every NRR (48 + 30)/22 = 3.545…
  → IKM 88.636… = 88.64, A; by service ktp shown (12, 100.00) and the rest of the total
  (10) counts the minimum of 10, but kk and akta (5 each) are suppressed: 2 withheld.
- perizinan 2025-Q1: 3 responses → the record's public figures are suppressed.
"""

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.browser import LiveServer, axe_violations, screenshot
from tests.factories import all_answers, response_item

WITA = ZoneInfo("Asia/Makassar")


def post_spaced(client: TestClient, items: list[tuple[str, str, int]], start: datetime) -> None:
    """Responses (unit, service, score for every element), a minute apart from `start`."""
    batch = [
        response_item(unit, service, all_answers(score), start + timedelta(minutes=i))
        for i, (unit, service, score) in enumerate(items)
    ]
    stored = client.post("/v1/responses/batch", json={"items": batch})
    assert [item["status"] for item in stored.json()["items"]] == ["created"] * len(batch)


def publish(client: TestClient, unit: str, period: str) -> None:
    published = client.post(f"/v1/units/{unit}/publications", json={"period": period})
    assert published.status_code == 201, published.text


@pytest.fixture
def published(units: TestClient, history: TestClient) -> TestClient:
    for code, name in (("kk", "Kartu Keluarga"), ("akta", "Akta Kelahiran")):
        made = units.post("/v1/units/capil/services", json={"code": code, "name": name})
        assert made.status_code == 201, made.text
    post_spaced(history, [("capil", "ktp", 3)] * 12, datetime(2025, 2, 10, 9, tzinfo=WITA))
    post_spaced(
        history,
        [("capil", "ktp", 4)] * 12 + [("capil", "kk", 3)] * 5 + [("capil", "akta", 3)] * 5,
        datetime(2025, 5, 12, 9, tzinfo=WITA),
    )
    post_spaced(history, [("perizinan", "izin", 4)] * 3, datetime(2025, 2, 10, 9, tzinfo=WITA))
    for unit, period in (("capil", "2025-Q1"), ("capil", "2025-Q2"), ("perizinan", "2025-Q1")):
        publish(history, unit, period)
    plan = history.post("/v1/units/capil/plans", json={"period": "2025-Q2", "propose": False})
    assert plan.status_code == 201, plan.text
    item = {
        "element": "waktu",
        "action": "Menambah petugas loket pada jam sibuk",
        "responsible": "Budi Santoso",
        "target_date": "2025-12-31",
        "evidence_note": "Catatan internal",
    }
    added = history.post("/v1/units/capil/plans/2025-Q2/items", json=item)
    assert added.status_code == 201, added.text
    return history


def test_public_page_shows_published_figures_accessibly(
    published: TestClient, live_server: LiveServer, chromium: Any
) -> None:
    # axe is injected as a script of the page's: the test's context lets it past the CSP.
    context = chromium.new_context(bypass_csp=True)
    page = context.new_page()
    for lang, screen in (("id", "id"), ("en", "en")):
        answer = page.goto(live_server.url(f"/publik/capil?lang={lang}"))
        assert answer is not None
        assert answer.status == 200
        assert page.get_attribute("html", "lang") == lang
        violations = axe_violations(page)
        serious = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert serious == [], violations
        screenshot(page, "test_public_page", screen)
    text = page.text_content("main") or ""
    assert page.text_content("#ikm") == "88.64"
    assert page.text_content("#grade") == "A (Very Good)"
    assert page.text_content("#respondents") == "22"
    rows = page.eval_on_selector_all(
        "#services tbody tr", "rows => rows.map(r => [...r.children].map(c => c.textContent))"
    )
    assert rows == [["ktp", "100.00", "A (Very Good)", "12"]]
    assert "2 service(s) not shown" in text
    assert "Kartu Keluarga" not in text
    assert "Akta Kelahiran" not in text
    trend = page.eval_on_selector_all(
        "#trend tbody tr", "rows => rows.map(r => [...r.children].map(c => c.textContent))"
    )
    assert trend == [
        ["Quarter 1, 2025", "75.00", "C (Poor)", "12"],
        ["Quarter 2, 2025", "88.64", "A (Very Good)", "22"],
    ]
    plan = page.eval_on_selector_all(
        "#plan tbody tr", "rows => rows.map(r => [...r.children].map(c => c.textContent))"
    )
    assert plan == [
        ["Completion time", "Menambah petugas loket pada jam sibuk", "December 31, 2025", "planned"]
    ]
    assert "Budi Santoso" not in text
    assert "Catatan internal" not in text

    # The same figures as the keyless API's, and Indonesian by default.
    api = published.get("/v1/public/indices/capil?period=2025-Q2").json()
    assert (api["value"]["ikm"], api["value"]["grade"]["mutu"]) == (88.64, "A")
    page.goto(live_server.url("/publik/capil"))
    assert page.text_content("#ikm") == "88,64"
    assert page.text_content("#grade") == "A (Sangat Baik)"
    page.click("nav a:text('Triwulan I Tahun 2025')")
    assert page.text_content("#ikm") == "75,00"
    assert page.url.endswith("/publik/capil?period=2025-Q1")

    # The check can fail: the same page without its language and with faint text.
    page.evaluate(
        """() => { document.documentElement.removeAttribute('lang');
            document.querySelector('h1').style.color = '#ddd'; }"""
    )
    broken = {v["id"]: v["impact"] for v in axe_violations(page)}
    assert broken["html-has-lang"] == "serious"
    assert broken["color-contrast"] == "serious"
    context.close()


def test_public_page_needs_no_javascript_and_suppresses(
    published: TestClient, live_server: LiveServer, chromium: Any
) -> None:
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url("/publik/capil?period=2025-Q2"))
    assert page.text_content("#ikm") == "88,64"
    page.goto(live_server.url("/publik/perizinan"))
    notice = page.text_content(".notice") or ""
    assert "kurang dari 10 responden" in notice
    assert page.query_selector("#ikm") is None
    assert page.query_selector("#elements") is None
    screenshot(page, "test_public_page", "suppressed-id")
    page.goto(live_server.url("/publik/perizinan?lang=en"))
    screenshot(page, "test_public_page", "suppressed-en")
    context.close()


def test_public_page_of_a_unit_with_nothing_published(units: TestClient) -> None:
    page = units.get("/publik/capil", headers={"Authorization": ""})
    assert page.status_code == 200
    assert "Belum ada hasil survei yang dipublikasikan" in page.text
    assert 'href="/s/capil"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    english = units.get("/publik/capil?lang=en")
    assert "No survey result has been published" in english.text


def test_public_page_refuses_what_is_not_public(units: TestClient) -> None:
    hidden = units.get("/publik/arsip")  # a unit that is not public
    assert (hidden.status_code, hidden.headers["content-type"]) == (404, "application/problem+json")
    assert units.get("/publik/tidak-ada").status_code == 404
    unpublished = units.get("/publik/capil?period=2024-Q1")
    assert unpublished.status_code == 404
    assert unpublished.json()["errors"][0]["code"] == "not_published"
    bad = units.get("/publik/capil?lang=fr")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "lang"


def test_public_page_style_sheet_is_served_compressed(units: TestClient) -> None:
    style = units.get("/publik/style.css", headers={"Accept-Encoding": "gzip"})
    assert style.status_code == 200
    assert style.headers["content-encoding"] == "gzip"


def test_public_page_shows_no_figures_a_proposal_wrote_into_a_plan(published: TestClient) -> None:
    """A proposed item's text starts with the period's pooled NRR and grade (for the
    officer): the public page shows the action without them."""
    plan = published.post("/v1/units/capil/plans", json={"period": "2025-Q1"})
    assert plan.status_code == 201, plan.text
    actions = [item["action"] for item in plan.json()["items"]]
    assert actions
    assert all("(NRR 3,000;" in action for action in actions)  # by hand: all 3 → NRR 3,000
    page = published.get("/publik/capil?period=2025-Q1", headers={"Authorization": ""})
    assert page.status_code == 200, page.text
    assert "Tindak lanjut Persyaratan</td>" in page.text
    assert "NRR 3,000" not in page.text
    assert "mutu C" not in page.text
