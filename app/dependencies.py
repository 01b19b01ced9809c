"""What an endpoint is given (FastAPI dependencies, as `Annotated` aliases): the running app's
parts, the caller, and the database session or connection the request works in.

A session or connection is given only to an admitted request, and admission needs no
database: on a keyed endpoint the request must show a key (without one it is refused, 401,
before it takes a pooled connection or SQLite's write turn); on a public endpoint the client
is counted against its address's rate limit first (429). Each session and connection
depends on that admission, so the dependency graph keeps the order whatever the order of an
endpoint's parameters. On an ORM session the caller's key is read before the session starts
(a session connects lazily); on a Core connection it is read on that connection, saving a
checkout and a round trip (`WritingCaller`, `ReadingCaller`). Either way a request holds one
pooled connection at a time.

Dependencies that parse a request's parameters (pages, filters, periods) stay beside what
they parse.

The submission endpoints, the busiest, are `DirectRoute`s: their usual request (a JSON
body, a bearer token, no query) is admitted and given its connection here in the same order
without FastAPI's dependency resolution, which cost more than the rest of the framework.
"""

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import BackgroundTasks, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.requests import ClientDisconnect
from starlette.types import Scope

from app import auth
from app.auth import Principal
from app.config import Settings
from app.db import Database, on_replica
from app.ratelimit import RateLimiter
from app.surveys import VersionCache

# --- the running app's parts -----------------------------------------------------------------


class AppParts(Protocol):
    """The app's parts, as `main.create_app` and its lifespan set them on `app.state`."""

    settings: Settings
    database: Database
    versions: VersionCache
    limiter: RateLimiter
    device_secret: bytes  # chosen at start-up; SKM_DEVICE_SECRET takes its place when set
    # The places of the batch submissions worked on at once (SKM_MAX_BATCHES_IN_FLIGHT):
    # see `DirectRoute.bounded`.
    batches_in_flight: asyncio.Semaphore


def app_parts(request: Request) -> AppParts:
    """The app's parts, read directly: by the providers below, and by the busiest endpoint
    (`routers.collection.submit_response`), where a dependency per part costs."""
    parts: AppParts = request.app.state
    return parts


async def current_settings(request: Request) -> Settings:
    return app_parts(request).settings


async def current_database(request: Request) -> Database:
    return app_parts(request).database


async def current_versions(request: Request) -> VersionCache:
    return app_parts(request).versions


async def current_limiter(request: Request) -> RateLimiter:
    return app_parts(request).limiter


SettingsDep = Annotated[Settings, Depends(current_settings)]
DatabaseDep = Annotated[Database, Depends(current_database)]
VersionsDep = Annotated[VersionCache, Depends(current_versions)]
LimiterDep = Annotated[RateLimiter, Depends(current_limiter)]


async def device_secret(request: Request, settings: SettingsDep) -> bytes:
    """The key of the hash that stands for a public client's address (SKM_DEVICE_SECRET, the
    same on every instance; otherwise one chosen at start-up)."""
    return settings.device_secret.encode() or app_parts(request).device_secret


DeviceSecret = Annotated[bytes, Depends(device_secret)]


# --- admission: the caller -------------------------------------------------------------------


async def bearer_key(request: Request, limiter: LimiterDep, settings: SettingsDep) -> str:
    """A keyed endpoint's bearer token; a request without one is refused here."""
    return await auth.key_given(request, limiter, settings)


async def public_client(request: Request, limiter: LimiterDep, settings: SettingsDep) -> str:
    """A public endpoint's client address, counted against its public rate limit."""
    return await auth.count_address(request, limiter, settings)


BearerKey = Annotated[str, Depends(bearer_key)]
Client = Annotated[str, Depends(public_client)]


async def caller(
    request: Request,
    token: BearerKey,
    database: DatabaseDep,
    limiter: LimiterDep,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Principal:
    """The caller's key, read on a short connection of its own, given back before the
    request's session connects."""
    return await auth.authenticate(request, token, None, database, limiter, settings, background)


Caller = Annotated[Principal, Depends(caller)]


# --- the request's session or connection, once admitted --------------------------------------

Opened = TypeVar("Opened", AsyncSession, AsyncConnection)


def _admitted(
    admission: Callable[..., Awaitable[object]],
    opening: Callable[[Database], AbstractAsyncContextManager[Opened]],
) -> object:
    """A dependency giving what `opening` opens on the app's database (see `Database`) once
    `admission`, its own dependency, has admitted the request; closed before the response is
    sent (a write is committed before the client sees success)."""

    async def opened(
        _admission: Annotated[object, Depends(admission)], database: DatabaseDep
    ) -> AsyncIterator[Opened]:
        async with opening(database) as session_or_connection:
            yield session_or_connection

    return Depends(opened, scope="function")


# Keyed endpoints. A session waits for the caller's key (read first, on its own connection);
# a Core connection only for the token, the key being read on it.
WriteSession = Annotated[AsyncSession, _admitted(caller, Database.write_session)]
ReadSession = Annotated[AsyncSession, _admitted(caller, Database.read_session)]
WriteConnection = Annotated[AsyncConnection, _admitted(bearer_key, Database.write_connection)]
# The heavy reads: on the read replica when one is configured and in use.
ReadConnection = Annotated[AsyncConnection, _admitted(bearer_key, Database.analysis_connection)]

# Public endpoints: the client is counted first.
PublicWriteSession = Annotated[AsyncSession, _admitted(public_client, Database.write_session)]
PublicReadSession = Annotated[AsyncSession, _admitted(public_client, Database.read_session)]
PublicReadConnection = Annotated[
    AsyncConnection, _admitted(public_client, Database.read_connection)
]


async def writing_caller(
    request: Request,
    token: BearerKey,
    conn: WriteConnection,
    database: DatabaseDep,
    limiter: LimiterDep,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Principal:
    """The caller's key, read on the request's write connection (the submission endpoints:
    a checkout and a round trip saved on every submission)."""
    return await auth.authenticate(request, token, conn, database, limiter, settings, background)


async def reading_caller(
    request: Request,
    token: BearerKey,
    conn: ReadConnection,
    database: DatabaseDep,
    limiter: LimiterDep,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Principal:
    """The caller's key, read on the request's read connection, in its one transaction (the
    indices) — but on a short connection of the primary when that one is a replica's: a
    revoked key stops at once, whatever the replica's lag."""
    on = None if on_replica(conn) else conn
    return await auth.authenticate(request, token, on, database, limiter, settings, background)


WritingCaller = Annotated[Principal, Depends(writing_caller)]
ReadingCaller = Annotated[Principal, Depends(reading_caller)]


@dataclass
class Admission:
    """A submission's caller: admitted already (`principal`: FastAPI's path, through
    `WritingCaller`), or still to admit from its key's row, which the endpoint reads with
    its first statement (a `DirectRoute`'s usual request: a round trip saved)."""

    request: Request
    token: str = field(repr=False)  # never in a traceback's locals or a log
    parts: AppParts
    background: BackgroundTasks
    principal: Principal | None = None

    async def admit(self, key: Any) -> Principal:
        """The caller of its key's row (`auth.KEY`; None: unknown): 401 or 429 raised."""
        parts = self.parts
        return await auth.admit(
            key, self.request, parts.database, parts.limiter, parts.settings, self.background
        )


async def write_admission(
    request: Request, token: BearerKey, caller: WritingCaller, background: BackgroundTasks
) -> Admission:
    return Admission(request, token, app_parts(request), background, caller)


WriteAdmission = Annotated[Admission, Depends(write_admission)]


# --- the submission endpoints: admission without dependency resolution ----------------------


class DirectRoute(APIRoute):
    """A route of an endpoint declared as `(body: Model, caller: WritingCaller, conn:
    WriteConnection, request: Request)` — or `admission: WriteAdmission` in place of
    `caller`, the endpoint then reading the key itself — (its OpenAPI description comes
    from that), whose usual request is served without FastAPI's dependency resolution:
    what the dependencies do, in their order — the body read as JSON (malformed: 400),
    the bearer token (none: 401, before anything is taken), the write connection, the key
    read on it (unknown: 401; over its limit: 429), then the body's validation (422) — and
    the endpoint called with them. A request off the usual path (no body, another content
    type, a query string, malformed JSON) goes through FastAPI's handler, which answers it
    as before."""

    # Work on the validated body that needs no database, done before the connection is
    # taken (and with it, on SQLite, the write turn); its result is given to the endpoint
    # as `request.state.prepared` (absent when the request came another way). A route
    # class per endpoint sets it (`prepared_before`).
    prepare: Callable[[Any, Request], object] | None = None
    # Whether the requests of this route worked on at once are bounded, from their body's
    # parsing to their answer (`AppParts.batches_in_flight`, SKM_MAX_BATCHES_IN_FLIGHT): set
    # for the batch submission, whose bodies are large. Here and in `app.lane`.
    bounded: bool = False

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        declared = super().get_route_handler()
        self.direct = _direct(self.endpoint, type(self).prepare)

        async def handle(request: Request) -> Response:
            try:
                body = await request.body()  # read before taking a place (see `bounded`)
            except ClientDisconnect as gone:  # as FastAPI's body parsing answers it
                raise HTTPException(400, "There was an error parsing the body") from gone
            if not self.bounded:
                return await answer(request, body)
            async with app_parts(request).batches_in_flight:
                return await answer(request, body)

        async def answer(request: Request, body: bytes) -> Response:
            if not usual_request(request.scope):
                return await declared(request)
            data = json_body(body)
            if data is None:
                return await declared(request)  # it answers the body's problem
            return await self.direct(request, data)

        return handle


Direct = Callable[[Request, Any], Coroutine[Any, Any, Response]]


def usual_request(scope: Scope) -> bool:
    """A submission's usual request: no query string, a JSON body."""
    if scope["query_string"]:
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value == b"application/json" or value.startswith(b"application/json;"))
    return False


def json_body(raw: bytes) -> Any:
    """The body read as JSON; None when it is empty or not JSON (nor JSON `null`)."""
    try:
        return json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return None


def prepared_before(
    prepare: Callable[[Any, Request], object], bounded: bool = False
) -> type[DirectRoute]:
    """A `DirectRoute` class whose body is given to `prepare` before the connection is
    taken (see `DirectRoute.prepare`); `bounded`: see `DirectRoute.bounded`."""
    members = {"prepare": staticmethod(prepare), "bounded": bounded}
    return type("PreparedDirectRoute", (DirectRoute,), members)


def _direct(
    endpoint: Callable[..., Coroutine[Any, Any, Response]],
    prepare: Callable[[Any, Request], object] | None = None,
) -> Direct:
    """The endpoint served from a request and its JSON body: the token (none: 401, before
    anything is taken), the write connection, the key read on it (unknown: 401; over its
    limit: 429), then the body's validation (422), as FastAPI's dependencies would."""
    parameters = inspect.signature(endpoint).parameters
    model = parameters["body"].annotation
    assert issubclass(model, BaseModel), "a DirectRoute's body is a model"
    deferred = "admission" in parameters  # the endpoint reads the key with its own work

    async def direct(request: Request, data: Any) -> Response:
        parts = app_parts(request)
        token = await auth.key_given(request, parts.limiter, parts.settings)
        # Validated before the connection is taken; a problem is told after the key is
        # read, as FastAPI tells a body's problems after its dependencies.
        body: Any = None
        problems: list[Any] = []
        try:
            body = model.model_validate(data, from_attributes=True)
        except ValidationError as error:
            problems = [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        if prepare is not None and not problems:
            request.state.prepared = prepare(body, request)
        background = BackgroundTasks()
        async with parts.database.write_connection() as conn:
            response: Response
            if deferred and not problems:
                admission = Admission(request, token, parts, background)
                response = await endpoint(
                    body=body, admission=admission, conn=conn, request=request
                )
            else:
                caller = await auth.authenticate(
                    request, token, conn, parts.database, parts.limiter, parts.settings, background
                )
                if problems:
                    raise RequestValidationError(problems, body=data)
                response = await endpoint(body=body, caller=caller, conn=conn, request=request)
        if response.background is None:
            response.background = background
        return response

    return direct
