"""/docs: Swagger UI from the service's own copy of swagger-ui-dist (app/static/vendor/
swagger-ui/, its VERSION and LICENSE beside it), so the API's docs work on a network
without the internet. FastAPI's own /docs would load it from a CDN; ReDoc is not served."""

import base64
import hashlib
import re
from functools import cache

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html

from app.errors import not_found
from app.static_files import VENDOR_CACHE, html_page, serve

SWAGGER = "/static/vendor/swagger-ui"
router = APIRouter(include_in_schema=False)


@cache
def swagger_page() -> tuple[str, str]:
    """The page and its policy: Swagger UI's one inline script allowed by its hash, styles
    inline too (Swagger UI sets some), everything else from the service only."""
    page = bytes(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="SKM service — API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_ui_parameters={"validatorUrl": None},
        ).body
    ).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    )
    csp = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return page, csp


@router.get("/docs")
async def docs(request: Request) -> Response:
    page, csp = swagger_page()
    return html_page(request, page, csp)


@router.get("/docs/oauth2-redirect")
async def docs_oauth2_redirect() -> Response:
    return get_swagger_ui_oauth2_redirect_html()


VENDOR_FILES = {
    "swagger-ui": {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"},
    "uplot": {"uPlot.iife.min.js", "uPlot.min.css"},
}


@router.get("/static/vendor/{library}/{name}")
async def vendor_file(library: str, name: str, request: Request) -> Response:
    """A vendored library's file (only those the pages load; licences stay in the tree)."""
    if name not in VENDOR_FILES.get(library, set()):
        raise not_found("file", f"{library}/{name}")
    return serve(request, f"vendor/{library}/{name}", VENDOR_CACHE)
