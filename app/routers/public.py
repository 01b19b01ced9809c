"""Public access, for units that opted in: the form, submission from citizens' apps (rate
limited per client address; with a one-time ticket where the unit requires one), and the
published indices — no free text, groups too small to stay anonymous suppressed."""

import hashlib
import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app import indices, tickets
from app.auth import client_address
from app.config import Settings, SettingsDep
from app.db import DatabaseDep, ReadConnection, ReadSession, WriteSession
from app.errors import FieldProblem, invalid, not_found, problem_responses
from app.forms import unit_form
from app.http_cache import NOT_MODIFIED, cached_json
from app.ingest import Submitter
from app.models import Unit
from app.ratelimit import RateLimiter, get_limiter
from app.routers.collection import VersionsDep, store_one
from app.routers.indices import CACHE_CONTROL, WindowDep
from app.schemas import (
    FormOut,
    IndexValue,
    PublicBreakdown,
    PublicGroup,
    PublicIndex,
    PublicResponseIn,
    ResponseIn,
    ResponseOut,
    UnitRef,
)

router = APIRouter(prefix="/v1/public", tags=["public"])


async def public_client(
    request: Request,
    limiter: Annotated[RateLimiter, Depends(get_limiter)],
    settings: SettingsDep,
) -> str:
    """The client's address, counted against the public rate limit."""
    address = client_address(request)
    await limiter.hit(settings.rate_limit_public, "address", address)
    return address


Client = Annotated[str, Depends(public_client)]


async def _open_unit(session: AsyncSession, code: str) -> Unit | None:
    unit = await session.scalar(select(Unit).where(Unit.code == code))
    if unit is None or not unit.public or unit.deactivated_at is not None:
        return None
    return unit


async def _published_unit(conn: AsyncConnection, code: str) -> indices.Node:
    """A unit whose indices are public: opted in and not deactivated (404 otherwise)."""
    unit = await indices.find_unit(conn, code)
    if unit is None or not unit.public or not unit.active:
        raise not_found("unit", code)
    return unit


def _device(address: str, settings: Settings, request: Request) -> str:
    """A keyed hash of the address: lets bursts be spotted without storing the address."""
    secret = settings.device_secret.encode() or request.app.state.device_secret
    return "ip:" + hmac.new(secret, address.encode(), hashlib.sha256).hexdigest()[:24]


@router.get(
    "/units/{code}/form",
    response_model=FormOut,
    responses={**NOT_MODIFIED, **problem_responses(404, 429)},
)
async def public_form(
    code: str, request: Request, session: ReadSession, settings: SettingsDep, _client: Client
) -> Response:
    if await _open_unit(session, code) is None:
        raise not_found("unit", code)
    return cached_json(request, await unit_form(session, code, settings), "no-cache")


@router.post(
    "/responses",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ResponseOut, "description": "A retry: the response as first stored"},
        **problem_responses(400, 409, 413, 422, 429),
    },
)
async def public_submit(
    body: PublicResponseIn,
    request: Request,
    response: Response,
    session: WriteSession,
    database: DatabaseDep,
    versions: VersionsDep,
    settings: SettingsDep,
    client: Client,
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
    ticket = (
        await tickets.claim(session, unit, body.ticket, body.id) if unit.requires_ticket else None
    )
    item = ResponseIn.model_validate(body.model_dump(exclude={"ticket"}))
    submitter = Submitter(None, _device(client, settings, request), unit.path)
    stored = await store_one(
        await session.connection(), database, versions, settings, item, submitter
    )
    if ticket is not None:
        tickets.mark_used(ticket, body.id)
    if stored.status == "duplicate":
        response.status_code = status.HTTP_200_OK
    assert stored.response is not None
    return stored.response.model_copy(update={"suggestion": None, "submitted_by_key": None})


def _published(value: IndexValue, settings: Settings) -> IndexValue | None:
    return value if value.responses >= settings.public_min_group else None


@router.get(
    "/indices/{code}",
    response_model=PublicIndex,
    responses={**NOT_MODIFIED, **problem_responses(404, 422, 429)},
)
async def public_index(
    code: str,
    request: Request,
    _client: Client,  # counted before a connection is taken
    conn: ReadConnection,
    period: WindowDep,
    settings: SettingsDep,
) -> Response:
    """The unit's pooled index, if at least SKM_PUBLIC_MIN_GROUP responses back it."""
    unit = await _published_unit(conn, code)
    report = await indices.index_report(conn, unit, period, None, "pooled", False)
    value = _published(report.pooled, settings)
    published = PublicIndex(
        unit=UnitRef(code=unit.code, name=unit.name),
        period=report.period,
        suppressed=value is None,
        min_group=settings.public_min_group,
        value=value,
        method=report.method,
    )
    return cached_json(request, published, CACHE_CONTROL)


@router.get(
    "/indices/{code}/breakdown",
    response_model=PublicBreakdown,
    responses={**NOT_MODIFIED, **problem_responses(404, 422, 429)},
)
async def public_breakdown(
    code: str,
    request: Request,
    _client: Client,  # counted before a connection is taken
    conn: ReadConnection,
    period: WindowDep,
    by: Literal["service", "channel", "gender", "age_band", "education", "occupation"],
    settings: SettingsDep,
) -> Response:
    """Per group, each suppressed below SKM_PUBLIC_MIN_GROUP responses."""
    unit = await _published_unit(conn, code)
    full = await indices.breakdown(conn, unit, period, by)
    groups = []
    for group in full.groups:
        value = _published(group.value, settings)
        groups.append(
            PublicGroup(
                key=group.key if value else None,
                label=group.label if value else None,
                suppressed=value is None,
                value=value,
            )
        )
    published = PublicBreakdown(
        unit=UnitRef(code=unit.code, name=unit.name),
        period=full.period,
        by=by,
        min_group=settings.public_min_group,
        groups=groups,
        method=full.method,
    )
    return cached_json(request, published, CACHE_CONTROL)
