"""RFC 9457 problem details (application/problem+json) for every error the API returns."""

import logging
import re
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

import psycopg
import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import UNAVAILABLE_REASONS, DatabaseTimeout, unavailable
from app.observability import count_unavailable, request_id

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "urn:skm:problem:"


class FieldProblem(BaseModel):
    """One invalid field: where it is and why it was refused."""

    pointer: str | None = Field(
        default=None, description="JSON Pointer (RFC 6901) into the request body"
    )
    parameter: str | None = Field(default=None, description="Query, path or header parameter")
    detail: str
    code: str = Field(description="Machine-readable reason, e.g. 'missing', 'unknown_service'")


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldProblem] | None = None


class ProblemError(Exception):
    """Raised anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str | None = None,
        errors: Sequence[FieldProblem] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.headers: dict[str, str] | None = None
        self.problem = Problem(
            type=PROBLEM_BASE + kind,
            title=title,
            status=status,
            detail=detail,
            errors=list(errors) if errors else None,
        )

    @classmethod
    def of(cls, problem: Problem) -> "ProblemError":
        """The error answering `problem` as it was built (e.g. a batch item's problem, raised
        when the item came alone)."""
        error = cls(problem.status, "", problem.title, problem.detail)
        error.problem = problem
        return error


def not_found(what: str, key: object) -> ProblemError:
    return ProblemError(404, "not-found", "Not found", f"No {what} '{key}'.")


def conflict(kind: str, detail: str) -> ProblemError:
    return ProblemError(409, kind, "Conflict", detail)


def invalid(errors: Sequence[FieldProblem], detail: str | None = None) -> ProblemError:
    return ProblemError(
        422,
        "validation",
        "Invalid request",
        detail
        or "; ".join(
            f"{e.pointer if e.pointer is not None else e.parameter}: {e.detail}" for e in errors
        ),
        errors,
    )


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    """The problem as an answer, with the request's id (also in the X-Request-ID header) for
    the client to quote to an operator, who finds it on every log line of the request."""
    body = problem.model_dump(exclude_none=True)
    rid = request_id()
    if rid is not None:
        body["request_id"] = rid
    return JSONResponse(
        body,
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def json_pointer(parts: Iterable[int | str]) -> str:
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "".join("/" + p for p in escaped)


def field_problems(errors: Iterable[Any], prefix: Sequence[int | str] = ()) -> list[FieldProblem]:
    """Pydantic/FastAPI error dicts to field problems. The input value is never echoed:
    it may be free text or a secret."""
    result = []
    for error in errors:
        loc = list(error.get("loc", ()))
        where = loc[0] if loc else "body"
        message = str(error.get("msg", "invalid"))
        code = str(error.get("type", "invalid"))
        if where in ("query", "path", "header", "cookie"):
            name = ".".join(str(p) for p in loc[1:])
            result.append(FieldProblem(parameter=name, detail=message, code=code))
        else:
            parts = loc[1:] if where == "body" else loc
            result.append(
                FieldProblem(pointer=json_pointer([*prefix, *parts]), detail=message, code=code)
            )
    return result


def validation_problem(error: ValidationError, prefix: Sequence[int | str] = ()) -> Problem:
    """A Pydantic model error (raised outside FastAPI's own validation) as a problem."""
    errors = field_problems(
        ({**e, "loc": ("body", *e["loc"])} for e in error.errors(include_input=False)), prefix
    )
    return invalid(errors).problem


async def _problem_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.problem, exc.headers)


def _malformed_json() -> JSONResponse:
    return problem_response(
        Problem(
            type=PROBLEM_BASE + "malformed-json",
            title="Malformed JSON",
            status=400,
            detail="The request body is not valid JSON.",
            errors=[FieldProblem(pointer="", detail="not valid JSON", code="json_invalid")],
        )
    )


async def _validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        return _malformed_json()
    return problem_response(invalid(field_problems(raw)).problem)


async def _http_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError | ValueError):
        # FastAPI's body parsing failed other than by a syntax error: nested too deep for
        # the parser, or not UTF-8. For the client it is the same: not JSON we can read.
        return _malformed_json()
    return problem_response(
        Problem(
            title=HTTPStatus(exc.status_code).phrase,
            status=exc.status_code,
            detail=exc.detail if isinstance(exc.detail, str) else None,
        ),
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _unhandled_handler(_request: Request, _exc: Exception) -> JSONResponse:
    return problem_response(
        Problem(title="Internal Server Error", status=500, detail="An unexpected error occurred.")
    )


async def refuse_nul(request: Request) -> None:
    """Applied to every route before its other dependencies: a NUL character in a path or
    query parameter is refused here, naming the parameter, because PostgreSQL's text cannot
    hold one (a lookup would fail with a 500). Bodies are covered by their schemas."""
    bad = [
        FieldProblem(parameter=name, detail="NUL characters are not allowed", code="nul_character")
        for name, value in (*request.path_params.items(), *request.query_params.multi_items())
        if "\x00" in str(value)
    ]
    if bad:
        raise invalid(bad)


RETRY_AFTER_SECONDS = 5


def service_unavailable(reason: str) -> ProblemError:
    """503 with Retry-After: what the service needs (the database, Redis) cannot serve now;
    the same request may be sent again (submissions are idempotent by id). `reason` is a key
    of `db.UNAVAILABLE_REASONS`, counted in `skm_unavailable_total`."""
    count_unavailable(reason)
    error = ProblemError(
        503,
        "unavailable",
        "Service Unavailable",
        f"{UNAVAILABLE_REASONS[reason]} Retry after {RETRY_AFTER_SECONDS} s.",
    )
    error.headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return error


async def _unavailable_handler(_request: Request, exc: Exception) -> JSONResponse:
    """503 with Retry-After when the database (or Redis) could not serve the request: the
    client should try again, the same request (submissions are idempotent by id). Any
    other error of these classes is re-raised, to be answered 500 and logged."""
    reason = unavailable(exc)
    if reason is None:
        raise exc
    # The error's class only: a driver's message may quote the statement's data.
    logger.warning("503: %s (%s)", UNAVAILABLE_REASONS[reason], type(exc.__cause__ or exc).__name__)
    error = service_unavailable(reason)
    return problem_response(error.problem, headers=error.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    for kind in (
        DatabaseTimeout,
        sa_exc.DBAPIError,
        sa_exc.TimeoutError,
        psycopg.Error,
        redis.exceptions.RedisError,
    ):
        app.add_exception_handler(kind, _unavailable_handler)
    app.add_exception_handler(Exception, _unhandled_handler)


class _BodyTooLarge(StarletteHTTPException):
    """Raised while the body streams in; as an HTTPException it passes through FastAPI's body
    parsing and reaches the problem handler as a 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body exceeds {max_bytes} bytes.")


class BodySizeLimit:
    """Refuses request bodies over `max_bytes` with 413, whether or not Content-Length is sent."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        upload_bytes: int | None = None,
        upload_paths: "re.Pattern[str] | None" = None,
    ) -> None:
        self.app = app
        self.default_bytes = self.max_bytes = max_bytes
        # File uploads (paper imports) have their own, larger limit.
        self.upload_bytes = upload_bytes or max_bytes
        self.upload_paths = upload_paths

    def _limit(self, scope: Scope) -> "BodySizeLimit":
        if self.upload_paths is not None and self.upload_paths.match(scope.get("path", "")):
            limited = BodySizeLimit(self.app, self.upload_bytes)
            return limited
        return self

    def _too_large(self) -> JSONResponse:
        return problem_response(
            Problem(
                type=PROBLEM_BASE + "body-too-large",
                title="Content Too Large",
                status=413,
                detail=f"The request body exceeds {self.max_bytes} bytes.",
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        if limit is not self:
            await limit(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._too_large()(scope, receive, send)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._too_large()(scope, receive, send)


# Responses every endpoint may give, for the OpenAPI document.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "Malformed JSON",
        404: "Not found",
        401: "No valid API key (missing, unknown, revoked or expired)",
        403: "The key's role may not do this",
        409: "Conflict with the current state",
        412: "Precondition failed",
        413: "Request body too large",
        422: "Invalid request: `errors` names each field and the reason",
        429: "Rate limit reached: see Retry-After",
    }
    return {
        status: {
            "model": Problem,
            "description": described.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for status in statuses
    }
