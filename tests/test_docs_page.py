"""/docs renders Swagger UI from the service's own files (app/static/vendor/swagger-ui, its
VERSION and LICENSE beside it) with every request to another host aborted: the API's docs
work on a network without the internet."""

from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from tests.browser import LiveServer, screenshot


def test_docs_render_offline(client: TestClient, live_server: LiveServer, chromium: Any) -> None:
    page = chromium.new_page()
    own = urlsplit(live_server.base_url).netloc
    elsewhere: list[str] = []

    def only_the_service(route: Any) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_service)
    page.goto(live_server.url("/docs"))
    page.wait_for_selector("#operations-indices-getUnitIndex", timeout=20_000)
    assert "SKM service" in (page.text_content(".swagger-ui .info .title") or "")
    assert page.query_selector("button.authorize") is not None
    assert elsewhere == []
    screenshot(page, "test_docs_page", "swagger-ui")
    page.close()


def test_docs_page_names_only_the_services_files(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "https://" not in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy
    assert "cdn" not in policy
    bundle = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-encoding"] == "gzip"
    assert client.get("/redoc").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 200
