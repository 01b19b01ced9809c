"""The web clients' files under app/static/ (pages, ES modules, styles, vendored libraries),
served as they are: no build step, no CDN. Each file is read and gzipped once per process
(they change only with a release), answered with an ETag (304 on a match) and a
Content-Security-Policy that allows nothing from another origin."""

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import Request, Response

from app.errors import not_found

STATIC = Path(__file__).resolve().parent / "static"

# The pages' policy: scripts, styles, images, API calls, the kiosk's manifest and service
# worker, from the service only; no form is ever submitted by the browser itself.
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
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
COMPRESSIBLE = {".js", ".css", ".html", ".webmanifest", ".svg", ".json", ".txt"}
# Pages and modules revalidate on every use (a 304 costs a round trip of headers), so a new
# release reaches kiosks and dashboards on their next load. A library's files change only
# with a release that replaces its version: a day's caching, then revalidated by ETag.
VENDOR_CACHE = "public, max-age=86400"
PAGE_CACHE = "no-cache"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    etag: str
    media_type: str


@cache
def asset(relative: str) -> Asset:
    """A file under app/static (never outside it), read and compressed once."""
    path = (STATIC / relative).resolve()
    if not path.is_relative_to(STATIC) or not path.is_file():
        raise not_found("file", relative)
    body = path.read_bytes()
    media = MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    gzipped = gzip.compress(body, 9, mtime=0) if path.suffix in COMPRESSIBLE else None
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return Asset(body, gzipped, etag, media or "application/octet-stream")


def security_headers(csp: str = CSP) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def serve(
    request: Request,
    relative: str,
    cache_control: str = PAGE_CACHE,
    extra: dict[str, str] | None = None,
) -> Response:
    """The file, gzipped when the client takes it; 304 when its ETag matches."""
    found = asset(relative)
    headers = {
        "ETag": found.etag,
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
        **security_headers(),
        **(extra or {}),
    }
    if found.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    body = found.body
    if found.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = found.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, headers=headers, media_type=found.media_type)


def html_page(request: Request, text: str, csp: str = CSP) -> Response:
    """A page made per request (the public page, /docs): gzipped when taken, never stored
    by shared caches beyond a minute."""
    body = text.encode()
    headers = {"Cache-Control": "public, max-age=60", "Vary": "Accept-Encoding"}
    headers.update(security_headers(csp))
    if "gzip" in request.headers.get("accept-encoding", "") and len(body) > 1024:
        body = gzip.compress(body, 6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, headers=headers, media_type="text/html; charset=utf-8")
