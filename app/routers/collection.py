"""Collection: what kiosks and apps call — fetch a unit's form, post responses — and the
counter tickets that admit citizens' own submissions."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response, status

from app import tickets
from app.auth import Principal, read_key, token_hash, unit_for
from app.db import utcnow
from app.dependencies import (
    Admission,
    Caller,
    DirectRoute,
    ReadSession,
    SettingsDep,
    WriteAdmission,
    WriteConnection,
    WriteSession,
    app_parts,
    prepared_before,
)
from app.errors import (
    FieldProblem,
    Problem,
    ProblemError,
    invalid,
    json_pointer,
    problem_responses,
    validation_problem,
)
from app.forms import unit_form
from app.http_cache import NOT_MODIFIED, cached_json
from app.ingest import ByToken, Outcome, Prepared, Submitter, ingest, prepare, store_one
from app.observability import BATCH_ITEMS, count_refused, count_submission, count_submissions
from app.schemas import (
    BatchIn,
    BatchItemResult,
    BatchOut,
    FormOut,
    ResponseIn,
    ResponseOut,
    TicketRequest,
    TicketsOut,
)
from app.vocabulary import Role

router = APIRouter(tags=["collection"], responses=problem_responses(401, 422, 429))
Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])


@router.get(
    "/v1/units/{code}/form",
    response_model=FormOut,
    responses={**NOT_MODIFIED, **problem_responses(404, 410)},
)
async def get_form(
    code: str, request: Request, session: ReadSession, settings: SettingsDep, caller: Caller
) -> Response:
    """Everything a kiosk or app needs for one unit, with an ETag for cheap revalidation."""
    await unit_for(session, caller, code)
    return cached_json(request, await unit_form(session, code, settings), "no-cache")


def _direct_post(
    path: str, route: type[DirectRoute] = DirectRoute, **options: Any
) -> Callable[[Endpoint], Endpoint]:
    """`router.post`, the route being a `DirectRoute` (see `app.dependencies`)."""

    def register(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(
            path, endpoint, methods=["POST"], route_class_override=route, **options
        )
        return endpoint

    return register


@_direct_post(
    "/v1/responses",
    status_code=status.HTTP_201_CREATED,
    response_model=ResponseOut,
    responses={
        200: {"model": ResponseOut, "description": "A retry: the response as first stored"},
        **problem_responses(403, 409),
    },
)
async def submit_response(
    body: ResponseIn, admission: WriteAdmission, conn: WriteConnection, request: Request
) -> Response:
    """Store one response. Retrying with the same id and content answers 200 with the
    stored response; the same id with other content is a conflict (409), and so is a retry
    of a response whose month was archived (409 `response-archived`: counted, no longer
    served)."""
    # The busiest endpoint (a `DirectRoute`): the app's parts are read directly rather than
    # through one dependency each, the key is read with the submission's first statement,
    # and the answer is serialized once (not validated again).
    parts = app_parts(request)
    submitter: Submitter | ByToken
    if admission.principal is not None:
        admission.principal.require(*SUBMITTING_ROLES)
        submitter = submitter_of(admission.principal)
    else:
        submitter = _by_token(admission)
    try:
        stored = await store_one(conn, parts.versions, parts.settings, body, submitter)
    except ProblemError as error:
        count_refused(body.channel, error.problem.status)
        raise
    assert stored.response is not None
    flagged = stored.status == "created" and stored.response.flag is not None
    count_submission(body.channel, stored.status, flagged)
    return Response(
        stored.response.model_dump_json(),
        status.HTTP_200_OK if stored.status == "duplicate" else status.HTTP_201_CREATED,
        headers={"Location": f"/v1/responses/{stored.id}"},
        media_type="application/json",
    )


SUBMITTING_ROLES: tuple[Role, ...] = ("admin", "manager", "collector")


def submitter_of(caller: Principal) -> Submitter:
    return Submitter(caller.key_id, caller.device, caller.scope_path, caller.services)


def _prefixed(problem: Problem, index: int) -> Problem:
    """Point an item's problem into the batch body: /unit → /items/3/unit."""
    if not problem.errors:
        return problem
    errors = [
        e.model_copy(update={"pointer": json_pointer(["items", index]) + (e.pointer or "")})
        for e in problem.errors
    ]
    return problem.model_copy(update={"errors": errors})


def _check_batch_size(items: list[Any], max_items: int) -> None:
    """The configured bound (SKM_MAX_BATCH_ITEMS); the schema holds the hard ceiling."""
    if len(items) > max_items:
        raise invalid(
            [
                FieldProblem(
                    pointer="/items",
                    detail=f"between 1 and {max_items} items per batch (got {len(items)})",
                    code="batch_size",
                )
            ]
        )


@dataclass
class _Batch:
    """A batch's items sorted before its connection is taken (`_batch`): the outcomes of
    those the schema refused, the valid ones with their index, when it was received and
    what ingest works out from them alone (None: no valid item, or too many items)."""

    results: dict[int, Outcome]
    valid: list[tuple[int, ResponseIn]]
    now: datetime
    prepared: Prepared | None


def _batch(body: BatchIn, request: Request) -> _Batch:
    settings = app_parts(request).settings
    results: dict[int, Outcome] = {}
    valid: list[tuple[int, ResponseIn]] = []
    for index, (raw_item, checked) in enumerate(zip(body.items, body.responses, strict=True)):
        if isinstance(checked, ResponseIn):
            valid.append((index, checked))
            continue
        item_id = raw_item.get("id") if isinstance(raw_item, dict) else None
        results[index] = Outcome(
            index,
            None if not isinstance(item_id, str) else _uuid_or_none(item_id),
            "invalid",
            problem=validation_problem(checked, ("items", index)),
        )
    now = utcnow()
    within = len(body.items) <= settings.max_batch_items
    prepared = prepare(valid, settings, now) if valid and within else None
    return _Batch(results, valid, now, prepared)


@_direct_post(
    "/v1/responses/batch",
    route=prepared_before(_batch, bounded=True),
    response_model=BatchOut,
    responses=problem_responses(403),
)
async def submit_batch(
    body: BatchIn, admission: WriteAdmission, conn: WriteConnection, request: Request
) -> Response:
    """Store a backlog from an offline kiosk (at most `SKM_MAX_BATCH_ITEMS`, 500 by default).

    Answers item by item — created, duplicate, conflict or invalid with its problem — and
    keeps the valid items when others are refused. Replaying a batch is safe: every item it
    stored comes back as a duplicate with the response as first stored."""
    # A `DirectRoute`: its items are sorted, hashed and checked for what needs no database
    # before the connection (and SQLite's write turn) is taken; the key is read with the
    # first statement; the turn is given up once the writes are committed, before the
    # answer is built.
    parts = app_parts(request)
    database, versions, settings = parts.database, parts.versions, parts.settings
    batch: _Batch = getattr(request.state, "prepared", None) or _batch(body, request)
    raw_items = body.items
    submitter: Submitter | ByToken
    if admission.principal is not None:
        admission.principal.require(*SUBMITTING_ROLES)
        submitter = submitter_of(admission.principal)
    elif batch.prepared is None:
        # Nothing to store, or too many items: the key read alone, so that the caller is
        # refused (401, 429, 403) before its body's problems are told.
        caller = await admission.admit(await read_key(database, admission.token, conn))
        caller.require(*SUBMITTING_ROLES)
        submitter = submitter_of(caller)
    else:
        submitter = _by_token(admission)
    _check_batch_size(raw_items, settings.max_batch_items)
    results = batch.results
    if batch.valid:
        outcomes = await ingest(
            conn,
            batch.valid,
            versions,
            settings,
            batch.now,
            submitter,
            prepared=batch.prepared,
            written=lambda committed: database.written(conn, committed),
        )
        for outcome in outcomes:
            if outcome.problem is not None:
                outcome.problem = _prefixed(outcome.problem, outcome.index)
            results[outcome.index] = outcome
    else:
        await database.written(conn)
    ordered = [results[i] for i in range(len(raw_items))]
    BATCH_ITEMS.observe(len(raw_items))
    count_submissions(
        (
            o.response.channel if o.response is not None else _raw_channel(raw_items[o.index]),
            o.status,
            o.status == "created" and o.response is not None and o.response.flag is not None,
        )
        for o in ordered
    )
    counts = {
        s: sum(1 for o in ordered if o.status == s)
        for s in ("created", "duplicate", "conflict", "invalid")
    }
    # Built from values already checked (not validated again), serialized once, straight to
    # JSON (not dumped to dicts, then encoded).
    answer = BatchOut.model_construct(
        created=counts["created"],
        duplicate=counts["duplicate"],
        conflict=counts["conflict"],
        invalid=counts["invalid"],
        items=[
            BatchItemResult.model_construct(
                index=o.index, id=o.id, status=o.status, response=o.response, problem=o.problem
            )
            for o in ordered
        ],
    )
    return Response(answer.model_dump_json(), media_type="application/json")


def _raw_channel(raw_item: Any) -> object:
    return raw_item.get("channel") if isinstance(raw_item, dict) else None


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _by_token(admission: Admission) -> ByToken:
    """The submitter of a key read with the submission's first statement: admitted (401,
    429, the role's 403) when its row comes back."""

    async def admit(key: Any) -> Submitter:
        caller = await admission.admit(key)
        caller.require(*SUBMITTING_ROLES)
        return submitter_of(caller)

    return ByToken(token_hash(admission.token), admit)


@router.post("/v1/units/{code}/tickets", responses=problem_responses(403, 404, 409))
async def issue_tickets(
    code: str,
    body: TicketRequest,
    session: WriteSession,
    caller: Caller,
    settings: SettingsDep,
) -> TicketsOut:
    """One-time codes for a unit's public submission (e.g. printed as a QR code on the queue
    slip); each admits exactly one response, until it expires (SKM_TICKET_HOURS)."""
    caller.require(*SUBMITTING_ROLES)
    unit = await unit_for(session, caller, code)
    if not unit.public:
        raise ProblemError(
            409, "unit-not-public", "Conflict", "The unit is not open to the public."
        )
    return await tickets.issue(session, caller, unit, body.count, settings.ticket_hours)
