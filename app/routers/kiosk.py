"""The kiosk (/kiosk/) and the citizen's form (/s/{unit}): static pages and ES modules from
app/static/, served compressed, with ETags, under a Content-Security-Policy that allows
nothing from elsewhere (no CDN: malls are often offline). No build step: the files are the
app. Not part of the API (not in the OpenAPI document)."""

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse

from app.errors import not_found

STATIC = Path(__file__).resolve().parent.parent / "static"
# Only what the pages need: scripts, styles, the manifest and the icons, from here only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
COMPRESSIBLE = {".js", ".css", ".html", ".webmanifest", ".svg", ".json", ".txt"}

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    etag: str
    media_type: str


@cache
def asset(relative: str) -> Asset:
    """A file under app/static, read and compressed once per process (they change only
    with a new release)."""
    path = (STATIC / relative).resolve()
    if not path.is_relative_to(STATIC) or not path.is_file():
        raise not_found("file", relative)
    body = path.read_bytes()
    media = MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    gzipped = gzip.compress(body, 9, mtime=0) if path.suffix in COMPRESSIBLE else None
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return Asset(body, gzipped, etag, media or "application/octet-stream")


def serve(request: Request, relative: str, extra: dict[str, str] | None = None) -> Response:
    """The file, gzipped when the client takes it; 304 when its ETag matches. `no-cache`:
    every use revalidates (a 304 costs a round trip of headers), so a new release reaches
    kiosks on their next load while the service worker keeps a copy for offline."""
    found = asset(relative)
    headers = {
        "ETag": found.etag,
        "Cache-Control": "no-cache",
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Vary": "Accept-Encoding",
        **(extra or {}),
    }
    if found.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = found.body
    if found.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = found.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, headers=headers, media_type=found.media_type)


FileName = Annotated[str, PathParam(pattern=r"^[a-z0-9_-]+(\.[a-z0-9]+)+$", max_length=64)]


@router.get("/kiosk")
async def kiosk_root() -> RedirectResponse:
    return RedirectResponse("/kiosk/", status_code=308)


@router.get("/kiosk/")
async def kiosk_page(request: Request) -> Response:
    return serve(request, "kiosk/index.html")


@router.get("/kiosk/sw.js")
async def kiosk_worker(request: Request) -> Response:
    """The service worker, at the kiosk's path so that its scope is /kiosk/."""
    return serve(request, "kiosk/sw.js", {"Service-Worker-Allowed": "/kiosk/"})


@router.get("/kiosk/{name}")
async def kiosk_file(name: FileName, request: Request) -> Response:
    return serve(request, f"kiosk/{name}")


@router.get("/static/common/{name}")
async def common_file(name: FileName, request: Request) -> Response:
    return serve(request, f"common/{name}")


@router.get("/static/form/{name}")
async def form_file(name: FileName, request: Request) -> Response:
    return serve(request, f"form/{name}")


@router.get("/s/{unit}")
async def citizen_form(
    unit: Annotated[str, PathParam(pattern=r"^[a-z0-9-]{1,64}$")], request: Request
) -> Response:
    """The citizen's form for a public unit (the page reads the unit from its address and
    the ticket from `?t=`); one page for every unit."""
    return serve(request, "form/index.html")
