"""/publik/{unit}: a public unit's published results as a page that needs no JavaScript
(app/public_page.py), Indonesian by default, `?lang=en`. Counted against the public rate
limit like the keyless API; not part of the API (not in the OpenAPI document)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from app import public_page
from app.dependencies import PublicReadSession, public_client
from app.static_files import html_page, serve
from app.vocabulary import Language

router = APIRouter(include_in_schema=False)


@router.get("/publik/style.css")
async def public_style(request: Request) -> Response:
    return serve(request, "publik/style.css")


@router.get("/publik/{code}", dependencies=[Depends(public_client)])
async def public_unit_page(
    code: Annotated[str, Path(max_length=64)],
    request: Request,
    session: PublicReadSession,
    lang: Annotated[Language, Query(description="id (default) or en")] = "id",
    period: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    page = await public_page.gather(session, code, period)
    return html_page(request, public_page.render(page, lang))
