"""The submission lane: the busiest requests served without the framework's layers.

A kiosk's usual submission (POST /v1/responses or /v1/responses/batch, a JSON body within
the size limit, no query string, no cross-origin check to make) is read here, just inside
`observability.Observe` (so it has its request id, its metrics and its log lines like any
request), and handed to its `DirectRoute`'s endpoint with the app's own exception handlers
answering what it raises. Everything else, and any submission whose body turns out
unusual (too large, not JSON), goes through the whole stack — routing, the body limit,
CORS, Starlette's and FastAPI's middleware — with the body already read given back to it.
What is skipped — ten layers of ASGI callables and the match against every route — was
about a tenth of a single submission's Python (py-spy, PostgreSQL, 8 connections).
"""

from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, cast

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.dependencies import AppParts, Direct, DirectRoute, json_body, usual_request

Handler = Callable[[Request, Exception], Awaitable[Response]]


class SubmissionLane:
    def __init__(self, app: FastAPI, stack: ASGIApp, max_bytes: int, cors: bool) -> None:
        self.app = app
        self.stack = stack
        self.max_bytes = max_bytes
        self.cors = cors  # with CORS configured, a request with an Origin takes the stack
        self._routes: dict[str, tuple[DirectRoute, Direct]] | None = None

    def _route(self, scope: Scope) -> tuple[DirectRoute, Direct] | None:
        if self._routes is None:  # the routes are all added once the app serves
            self._routes = {
                r.path: (r, r.direct)
                for r in _direct_routes(self.app.routes)
                if "POST" in (r.methods or ()) and self.app.url_path_for(r.name) == r.path
            }
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        found = self._routes.get(scope["path"])
        if found is None or not usual_request(scope):
            return None
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                return None  # the stack answers 413 (or 400) before reading it
            if name == b"origin" and self.cors:
                return None
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._route(scope)
        if found is None:
            await self.stack(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        complete = False
        ended: Message | None = None  # a message other than the body's (the client left)
        while size <= self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                ended = message
                break
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                complete = True
                break
        body = b"".join(chunks)
        replayed = _replay(body, complete, ended, receive)
        if not complete or size > self.max_bytes:  # the stack answers it, as it would have
            await self.stack(scope, replayed, send)
            return
        route, direct = found
        if route.bounded:  # see `DirectRoute.bounded`: the body is read, not yet parsed
            async with cast(AppParts, self.app.state).batches_in_flight:
                answered = await self._answer(scope, route, direct, replayed, body)
        else:
            answered = await self._answer(scope, route, direct, replayed, body)
        if answered is None:  # not JSON: the stack answers it, as it would have
            await self.stack(scope, replayed, send)
            return
        # The body parsed, validated and worked on is gone with `_answer`: a batch's is 13
        # times its size in objects (263 KB for 50 responses), and its answer's sending and
        # background tasks (on SQLite, the key's last use waits for the write turn) are
        # outside the bound.
        response, unexpected = answered
        await response(scope, replayed, send)
        if unexpected is not None:  # as Starlette's ServerErrorMiddleware: answered, raised
            raise unexpected

    async def _answer(
        self, scope: Scope, route: DirectRoute, direct: Direct, receive: Receive, body: bytes
    ) -> tuple[Response, Exception | None] | None:
        """The endpoint's answer to the body read, or the app's handlers' to what it raised,
        with the error to raise once it is sent when that was unexpected (handled as
        Exception); None when the body is not JSON."""
        data = json_body(body)
        if data is None:
            return None
        scope["app"] = self.app
        scope["route"] = route
        request = Request(scope, receive)
        request._body = body  # read already
        try:
            return await direct(request, data), None
        except Exception as error:
            handler, unexpected = self._handler(error)
            try:
                response = await handler(request, error)
            except Exception as unhandled:  # a handler that does not answer it raises it
                fallback = cast(Handler, self.app.exception_handlers[Exception])
                return await fallback(request, unhandled), error
            return response, error if unexpected else None

    def _handler(self, error: Exception) -> tuple[Handler, bool]:
        """The app's handler for `error`, as Starlette's middleware would find it (an HTTP
        exception's status first, then the nearest class); whether it is the handler of the
        unexpected (registered for Exception)."""
        handlers = self.app.exception_handlers
        found: Any = None
        if isinstance(error, HTTPException):
            found = handlers.get(error.status_code)
        unexpected = False
        for kind in type(error).__mro__ if found is None else ():
            if kind in handlers:
                found, unexpected = handlers[kind], kind is Exception
                break
        if found is not None:
            return found, unexpected
        raise error  # not reached: the app handles Exception


def _direct_routes(routes: Iterable[BaseRoute]) -> Iterator[DirectRoute]:
    """The app's `DirectRoute`s, in the routers it includes too (those served at the path
    they declare are the lane's: an included router's prefix would move them)."""
    for route in routes:
        if isinstance(route, DirectRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI's included router
        if included is not None:
            yield from _direct_routes(included.routes)


def _replay(body: bytes, complete: bool, ended: Message | None, receive: Receive) -> Receive:
    """`receive` with the body read so far given first (and the message that ended the
    reading, a disconnect, after it)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": not complete}]
    if ended is not None:
        pending.append(ended)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
