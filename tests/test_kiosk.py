"""The kiosk in Chromium, against `skm serve`: pairing, the form, the durable queue through
an outage and a reload, a batch cut off mid-flight, an item set aside for staff, the idle
reset; its first load's size (asserted) and time to the first tap (printed, not asserted).
Screenshots of every screen in Indonesian and English go to test-artifacts/screenshots/."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.browser import LiveServer, measured, screenshot

SCORES = [4, 3, 3, 4, 3, 4, 4, 3, 3]
KIOSK_BUDGET = 250 * 1024
Page = Any


def pairing_code(client: TestClient, unit: str = "capil", **fields: Any) -> str:
    body = {"unit": unit, "role": "collector", "name": "Kiosk 1 MPP", **fields}
    made = client.post("/v1/pairing-codes", json=body)
    assert made.status_code == 201, made.text
    code: str = made.json()["code"]
    return code


def stored(client: TestClient, unit: str = "capil") -> list[dict[str, Any]]:
    page = client.get("/v1/responses", params={"unit": unit, "limit": "500"})
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def wait_for(condition: Any, timeout: float = 30, what: str = "", page: Page = None) -> None:
    """Poll `condition`; with a page, waiting through Playwright so that its event handlers
    (routes) run meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if page is not None:
            page.wait_for_timeout(200)
        else:
            time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def context(chromium: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser profile; the test's `service_workers` marker-free default: allowed."""
    blocked = getattr(request, "param", "allow")
    ctx = chromium.new_context(service_workers=blocked, viewport={"width": 1024, "height": 768})
    yield ctx
    ctx.close()


def pair(page: Page, server: LiveServer, code: str, path: str = "/kiosk/") -> None:
    page.goto(server.url(path))
    page.fill("#pair-code", code.lower().replace("-", ""))
    page.click("form button[type=submit]")
    page.wait_for_selector("#question")


def answer_all(page: Page, scores: list[int] = SCORES, service: str | None = None) -> None:
    """One citizen: the nine elements, the details screen, submit; back to the start."""
    for n, score in enumerate(scores, 1):
        page.wait_for_selector(f".progress:has-text('{n} ')")
        page.click(f".answers .choice[data-value='{score}']")
    if service is not None:
        page.click(f".services .choice[data-value='{service}']")
    page.click("#submit")
    page.wait_for_selector(".thanks")
    page.click(".thanks .primary")
    page.wait_for_selector(".progress:has-text('1 ')")


def open_staff(page: Page) -> None:
    for _ in range(5):
        page.click("#title")
    page.wait_for_selector("#staff section")


def staff_numbers(page: Page) -> tuple[int, int]:
    open_staff(page)
    numbers = (
        int(page.text_content("#staff-pending") or "-1"),
        int(page.text_content("#staff-aside-count") or "-1"),
    )
    page.click("#staff-close")
    return numbers


def in_both_languages(page: Page, test: str, screen: str, toggle: str = "#lang") -> None:
    screenshot(page, test, f"{screen}-id")
    page.click(toggle)
    screenshot(page, test, f"{screen}-en")
    page.click(toggle)


def until(page: Page, expression: str, timeout: float = 15) -> None:
    """Wait until a page expression is true (evaluated from outside: the page's CSP forbids
    the eval that `wait_for_function` needs)."""
    wait_for(lambda: page.evaluate(expression), timeout, expression)


def test_a_paired_kiosk_keeps_every_response_through_an_outage_and_a_reload(
    units: TestClient, live_server: LiveServer, context: Any
) -> None:
    test = "kiosk"
    page = context.new_page()
    page.goto(live_server.url("/kiosk/"))
    page.wait_for_selector("#pair-code")
    in_both_languages(page, test, "pairing")
    pair(page, live_server, pairing_code(units))
    until(page, "navigator.serviceWorker.controller !== null")
    in_both_languages(page, test, "element-1")
    for _ in range(4):
        answer_all(page)
    # The fifth, through the details and thank-you screens in both languages.
    for score in SCORES:
        page.click(f".answers .choice[data-value='{score}']")
    in_both_languages(page, test, "details")
    page.click("#lang")
    page.click("#submit")
    page.wait_for_selector(".thanks")
    screenshot(page, test, "thanks-en")
    page.click("#lang")
    screenshot(page, test, "thanks-id")
    page.click(".thanks .primary")
    page.wait_for_selector(".progress:has-text('1 ')")
    wait_for(lambda: len(stored(units)) == 5, what="five rows")
    open_staff(page)
    in_both_languages(page, test, "staff", "#staff-lang")
    page.click("#staff-close")

    live_server.stop()  # offline: the service is gone, not the browser's switch
    for _ in range(5):
        answer_all(page, [3] * 9)
    page.reload()  # the shell from the service worker, the form and queue from IndexedDB
    page.wait_for_selector("#question")
    screenshot(page, test, "element-1-reloaded-offline-id")
    assert staff_numbers(page) == (5, 0)
    live_server.start()
    open_staff(page)
    page.click("#staff-sync")
    wait_for(lambda: len(stored(units)) == 10, what="ten rows")
    page.wait_for_selector("#staff-pending:text-is('0')")
    screenshot(page, test, "staff-after-sync-id")
    rows = stored(units)
    assert len(rows) == 10  # exactly ten, none twice
    assert len({r["id"] for r in rows}) == 10
    assert {r["channel"] for r in rows} == {"kiosk"}
    assert sorted(r["answers"]["persyaratan"] for r in rows) == [3] * 5 + [4] * 5


@pytest.mark.parametrize("context", ["block"], indirect=True)
def test_a_batch_cut_off_mid_flight_and_resent_doubles_nothing(
    units: TestClient, live_server: LiveServer, context: Any
) -> None:
    """The service stores the batch, the kiosk never hears the answer (the connection is cut
    after the request went through): the items stay queued, are sent again, and come back
    as duplicates. No service worker here: the queue works without one."""
    page = context.new_page()
    pair(page, live_server, pairing_code(units))
    cut: list[int] = []

    def cut_off(route: Any) -> None:
        answer = route.fetch()  # the service gets it and answers...
        cut.append(answer.status)
        route.abort("connectionreset")  # ...and the kiosk sees the connection drop

    page.route("**/v1/responses/batch", cut_off)
    for _ in range(3):
        answer_all(page)
    wait_for(lambda: len(stored(units)) == 3 and cut, what="three rows stored", page=page)
    assert staff_numbers(page)[0] == 3  # all still queued on the kiosk
    outcomes: list[dict[str, Any]] = []
    page.on(
        "response",
        lambda r: (
            outcomes.extend(r.json()["items"])
            if r.url.endswith("/batch") and r.status == 200
            else None
        ),
    )
    page.unroute("**/v1/responses/batch")
    open_staff(page)
    page.click("#staff-sync")
    page.wait_for_selector("#staff-pending:text-is('0')")
    assert set(cut) == {200}
    rows = stored(units)
    assert len(rows) == 3
    assert len({r["id"] for r in rows}) == 3
    # Every item resent came back a duplicate of its stored row.
    assert {o["status"] for o in outcomes} == {"duplicate"}
    assert {o["id"] for o in outcomes} == {r["id"] for r in rows}


@pytest.mark.parametrize("context", ["block"], indirect=True)
def test_a_busy_service_is_retried_after_its_retry_after(
    units: TestClient, live_server: LiveServer, context: Any
) -> None:
    """A 503 with Retry-After: 3 keeps the items queued, and the kiosk waits those seconds
    (not its own 1-2 s first backoff) before it sends them again."""
    page = context.new_page()
    pair(page, live_server, pairing_code(units))
    sent: list[float] = []

    def busy_once(route: Any) -> None:
        sent.append(time.monotonic())
        if len(sent) == 1:
            route.fulfill(
                status=503,
                headers={"Retry-After": "3", "Content-Type": "application/problem+json"},
                body='{"type":"urn:skm:problem:unavailable","title":"Unavailable","status":503}',
            )
        else:
            route.continue_()

    page.route("**/v1/responses/batch", busy_once)
    answer_all(page)
    wait_for(lambda: len(stored(units)) == 1, what="the row, once back", page=page)
    assert len(sent) == 2
    assert sent[1] - sent[0] >= 2.9
    assert staff_numbers(page) == (0, 0)


def test_an_invalid_item_is_set_aside_and_shown_to_staff(
    units: TestClient, live_server: LiveServer, context: Any
) -> None:
    made = units.post("/v1/units/capil/services", json={"code": "kk", "name": "Kartu Keluarga"})
    assert made.status_code == 201, made.text
    page = context.new_page()
    pair(page, live_server, pairing_code(units))
    # The kiosk has the form with both services; the service is then removed.
    assert units.delete("/v1/units/capil/services/kk").status_code == 204
    answer_all(page, service="kk")
    answer_all(page, service="ktp")
    wait_for(lambda: len(stored(units)) == 1, what="the valid row")
    page.wait_for_timeout(500)
    open_staff(page)
    page.wait_for_selector("#staff-aside-count:text-is('1')")
    assert page.text_content("#staff-pending") == "0"
    listed = page.text_content("#staff-aside li") or ""
    assert "invalid" in listed
    assert "/items/0/service: unknown_service" in listed
    in_both_languages(page, "kiosk", "staff-set-aside", "#staff-lang")
    # Never retried blindly: a sync sends nothing and keeps it aside.
    page.click("#staff-sync")
    page.wait_for_timeout(500)
    assert page.text_content("#staff-aside-count") == "1"
    assert [r["service"] for r in stored(units)] == ["ktp"]


def test_idle_reset_clears_the_screen(
    units: TestClient, live_server: LiveServer, context: Any
) -> None:
    page = context.new_page()
    pair(page, live_server, pairing_code(units), "/kiosk/?idle=2")
    page.click("#lang")  # English
    for score in (4, 3, 2):
        page.click(f".answers .choice[data-value='{score}']")
    page.wait_for_selector(".progress:has-text('Question 4 of 9')")
    screenshot(page, "kiosk", "element-4-en-before-idle")
    page.wait_for_selector(".progress:has-text('Pertanyaan 1 dari 9')", timeout=6000)
    assert page.get_attribute("html", "lang") == "id"
    assert page.locator(".choice[aria-pressed='true']").count() == 0
    state = page.evaluate("window.skmKiosk.state()")
    assert (state["step"], state["answers"]) == (0, {})
    screenshot(page, "kiosk", "after-idle-id")
    # Nothing was queued for the abandoned answers.
    assert staff_numbers(page) == (0, 0)


@pytest.mark.parametrize("context", ["block"], indirect=True)
def test_kiosk_first_load_size_and_time_to_the_first_tap(
    units: TestClient, live_server: LiveServer, context: Any
) -> None:
    """Sizes as transferred (compressed), with the browser's cache off and no service
    worker: a kiosk's first load, from opening the page through pairing to the first
    element (shell, exchange, form). Then the time from opening a paired kiosk to a tap
    accepted on the first element's answer, at 4x CPU slowdown (printed, not asserted)."""
    page = context.new_page()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    sizes: dict[str, int] = {}

    def record(request: Any) -> None:
        measured = request.sizes()
        path = request.url.removeprefix(live_server.base_url)
        sizes[path] = measured["responseBodySize"] + measured["responseHeadersSize"]

    page.on("requestfinished", record)
    pair(page, live_server, pairing_code(units))
    page.wait_for_load_state("networkidle")
    first_load = dict(sizes)
    total = sum(first_load.values())
    listed = ", ".join(f"{path} {size}" for path, size in sorted(first_load.items()))
    measured(
        f"kiosk first load: {total} bytes transferred in {len(first_load)} requests ({listed})"
    )
    assert any(path.endswith("/form") for path in first_load)
    assert total <= KIOSK_BUDGET

    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    start = time.perf_counter()
    page.goto(live_server.url("/kiosk/"), wait_until="commit")
    page.locator(".answers .choice").first.click()
    page.wait_for_selector(".progress:has-text('Pertanyaan 2')")
    tapped = time.perf_counter() - start
    mark = page.evaluate("performance.getEntriesByName('skm-first-element')[0].startTime")
    measured(
        f"kiosk at 4x CPU slowdown: first element's buttons rendered {mark:.0f} ms after "
        f"navigation start; opening to a tap accepted {tapped * 1000:.0f} ms"
    )


def test_the_pages_are_served_compressed_with_etags_and_a_strict_csp(client: TestClient) -> None:
    for path in (
        "/kiosk/",
        "/kiosk/kiosk.js",
        "/kiosk/sw.js",
        "/static/common/survey.js",
        "/s/capil",
    ):
        answer = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200, path
        assert answer.headers["content-encoding"] == "gzip"
        assert int(answer.headers["content-length"]) < len(answer.content)  # decoded here
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert "script-src 'self';" in answer.headers["content-security-policy"]
        etag = answer.headers["etag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert (again.status_code, again.content) == (304, b"")
    assert client.get("/kiosk/sw.js").headers["service-worker-allowed"] == "/kiosk/"
    assert client.get("/kiosk", follow_redirects=False).headers["location"] == "/kiosk/"
    for missing in ("/kiosk/nothing.js", "/static/common/..%2Fkiosk%2Findex.html"):
        assert client.get(missing).status_code in (404, 422), missing


def test_every_static_file_is_package_data() -> None:
    """A non-editable install (the Dockerfile's) carries every file the pages load."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["app"]
    files = [p.relative_to(root / "app").as_posix() for p in (root / "app/static").rglob("*")]
    files = [f for f in files if (root / "app" / f).is_file()]
    assert files
    assert [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)] == []
