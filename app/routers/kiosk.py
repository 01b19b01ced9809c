"""The kiosk (/kiosk/) and the citizen's form (/s/{unit}): static pages and ES modules from
app/static/, served compressed, with ETags, under a Content-Security-Policy that allows
nothing from elsewhere (no CDN: malls are often offline), by app/static_files.py. No build
step: the files are the app. Not part of the API (not in the OpenAPI document)."""

from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse

from app.static_files import PAGE_CACHE, serve

router = APIRouter(include_in_schema=False)


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
    return serve(request, "kiosk/sw.js", PAGE_CACHE, {"Service-Worker-Allowed": "/kiosk/"})


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
