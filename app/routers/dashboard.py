"""The dashboard (/dashboard/): a static page and its ES modules from app/static/dashboard/,
which read the API with a reader key kept in the browser. Not part of the API (not in the
OpenAPI document); the numbers it shows are the API's."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse

from app.static_files import serve

router = APIRouter(include_in_schema=False)
FileName = Annotated[str, Path(pattern=r"^[a-z0-9_-]+\.(js|css|svg)$", max_length=64)]


@router.get("/dashboard")
async def dashboard_root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=308)


@router.get("/dashboard/")
async def dashboard_page(request: Request) -> Response:
    return serve(request, "dashboard/index.html")


@router.get("/dashboard/{name}")
async def dashboard_file(name: FileName, request: Request) -> Response:
    return serve(request, f"dashboard/{name}")
