"""Public access, for units that opted in: the form, submission from citizens' apps (rate
limited per client address; with a one-time ticket where the unit requires one), and the
published indices — no free text, groups too small to stay anonymous suppressed."""

import hashlib
import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import RootModel
from sqlalchemy.ext.asyncio import AsyncSession

from app import publications, tickets
from app.dependencies import (
    Client,
    DeviceSecret,
    PublicReadConnection,
    PublicReadSession,
    PublicWriteSession,
    SettingsDep,
    VersionsDep,
    public_client,
)
from app.errors import FieldProblem, ProblemError, invalid, not_found, problem_responses
from app.forms import unit_form
from app.http_cache import INDICES_CACHE_CONTROL, NOT_MODIFIED, cached_json
from app.ingest import Submitter, store_one
from app.models import INT32_MAX, Unit
from app.observability import count_refused, count_submissions
from app.schemas import (
    FormOut,
    PublicBreakdown,
    PublicIndex,
    PublicPublication,
    PublicResponseIn,
    ResponseIn,
    ResponseOut,
)
from app.units import find_unit
from app.windows import PublicWindow

# Every public request is counted against its client address's rate limit before anything
# else is done for it (its session or connection depends on that count too).
router = APIRouter(
    prefix="/v1/public",
    tags=["public"],
    dependencies=[Depends(public_client)],
    responses=problem_responses(422, 429),
)


async def _open_unit(session: AsyncSession, code: str) -> Unit | None:
    unit = await find_unit(session, code)
    if unit is None or not unit.public or unit.deactivated_at is not None:
        return None
    return unit


def _device(address: str, secret: bytes) -> str:
    """A keyed hash of the address: lets bursts be spotted without storing the address."""
    return "ip:" + hmac.new(secret, address.encode(), hashlib.sha256).hexdigest()[:24]


@router.get(
    "/units/{code}/form",
    response_model=FormOut,
    responses={**NOT_MODIFIED, **problem_responses(404)},
)
async def public_form(
    code: str, request: Request, session: PublicReadSession, settings: SettingsDep
) -> Response:
    if await _open_unit(session, code) is None:
        raise not_found("unit", code)
    return cached_json(request, await unit_form(session, code, settings), "no-cache")


@router.post(
    "/responses",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ResponseOut, "description": "A retry: the response as first stored"},
        **problem_responses(409),
    },
)
async def public_submit(
    body: PublicResponseIn,
    response: Response,
    session: PublicWriteSession,
    versions: VersionsDep,
    settings: SettingsDep,
    client: Client,
    secret: DeviceSecret,
) -> ResponseOut:
    """One response from a citizen's app or the web (channel mobile or web). Units that
    require it take a one-time ticket: used once, a retry of the same response still answers
    as a duplicate, any other use is a conflict (409)."""
    unit = await _open_unit(session, body.unit)
    if unit is None:
        raise invalid([FieldProblem(pointer="/unit", detail="unknown unit", code="unknown_unit")])
    if body.channel not in ("mobile", "web"):
        raise invalid(
            [FieldProblem(pointer="/channel", detail="mobile or web", code="public_channel")]
        )
    ticket, services = (
        await tickets.claim(session, unit, body.ticket, body.id)
        if unit.requires_ticket
        else (None, None)
    )
    item = ResponseIn.model_validate(body.model_dump(exclude={"ticket"}))
    submitter = Submitter(None, _device(client, secret), unit.path, services)
    try:
        stored = await store_one(await session.connection(), versions, settings, item, submitter)
    except ProblemError as error:
        count_refused(body.channel, error.problem.status)
        raise
    assert stored.response is not None
    flagged = stored.status == "created" and stored.response.flag is not None
    count_submissions([(body.channel, stored.status, flagged)])
    if ticket is not None:
        tickets.mark_used(ticket, body.id)
    if stored.status == "duplicate":
        response.status_code = status.HTTP_200_OK
    assert stored.response is not None
    return stored.response.model_copy(update={"suggestion": None, "submitted_by_key": None})


_PublicList = RootModel[list[PublicPublication]]


@router.get(
    "/indices/{code}",
    response_model=PublicIndex,
    responses={**NOT_MODIFIED, **problem_responses(404)},
)
async def public_index(
    code: str, request: Request, window: PublicWindow, conn: PublicReadConnection
) -> Response:
    """The index of the unit's own responses (never its child units') over one whole
    period, as the period's newest public record froze it (404 `not-published` when there
    is none): shown if at least SKM_PUBLIC_MIN_GROUP respondents back it (and as many answers
    to each element answered at all). Rounded figures only."""
    published = await publications.public_index(conn, code, str(window.label))
    return cached_json(request, published, INDICES_CACHE_CONTROL)


@router.get(
    "/indices/{code}/breakdown",
    response_model=PublicBreakdown,
    responses={**NOT_MODIFIED, **problem_responses(404)},
)
async def public_breakdown(
    code: str,
    request: Request,
    window: PublicWindow,
    conn: PublicReadConnection,
    by: Annotated[
        Literal["service"],
        Query(
            description="The unit's own services (the only public partition: two "
            "partitions of the same respondents could be combined to isolate a few)"
        ),
    ],
) -> Response:
    """The index per service of the unit, as the period's newest public record froze it,
    with complementary suppression: shown groups and the rest of the total each count
    SKM_PUBLIC_MIN_GROUP respondents or none."""
    published = await publications.public_breakdown(conn, code, str(window.label))
    return cached_json(request, published, INDICES_CACHE_CONTROL)


@router.get(
    "/units/{code}/publications",
    responses={**NOT_MODIFIED, **problem_responses(404)},
    response_model=list[PublicPublication],
)
async def public_publications(code: str, request: Request, conn: PublicReadConnection) -> Response:
    """A public unit's public records, newest first: each period's public figures as
    published, and what each revises."""
    listed = await publications.public_unit_publications(conn, code)
    return cached_json(request, _PublicList(listed), INDICES_CACHE_CONTROL)


@router.get(
    "/publications/{publication_id}",
    responses={**NOT_MODIFIED, **problem_responses(404)},
    response_model=PublicPublication,
)
async def public_publication(
    publication_id: Annotated[int, Path(ge=1, le=INT32_MAX)],
    request: Request,
    conn: PublicReadConnection,
) -> Response:
    """One public record of a public unit."""
    found = await publications.public_publication(conn, publication_id)
    return cached_json(request, found, INDICES_CACHE_CONTROL)
