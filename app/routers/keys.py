"""Administration: API keys and the audit log."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app import audit, keys
from app.dependencies import Caller, ReadSession, WriteSession
from app.errors import problem_responses
from app.models import INT32_MAX
from app.pagination import Cursor, Limit, bad_cursor, decode_cursor, encode_cursor
from app.schemas import AuditOut, Instant, KeyCreate, KeyCreated, KeyOut, Page, ParamId

router = APIRouter(tags=["access"], responses=problem_responses(401, 403, 404, 422, 429))


@router.post("/v1/keys", status_code=status.HTTP_201_CREATED, responses=problem_responses(400, 413))
async def create_key(
    body: KeyCreate, session: WriteSession, caller: Caller, response: Response
) -> KeyCreated:
    """Administrators create any key; unit managers create collector and reader keys inside
    their scope. The token is in this answer only: store it now."""
    caller.require("admin", "manager")
    created = await keys.create_key(session, body, caller)
    await audit.record(
        session,
        caller,
        "key.create",
        f"key:{created.id}",
        body.model_dump(mode="json", exclude={"name"}) | {"name": created.name},
    )
    response.headers["Location"] = f"/v1/keys/{created.id}"
    return created


@router.get("/v1/keys")
async def list_keys(session: ReadSession, caller: Caller) -> list[KeyOut]:
    """Keys this caller may manage, with when each was last used: all of them for an
    administrator, the collector and reader keys of its scope for a manager. Tokens are
    never shown."""
    caller.require("admin", "manager")
    return await keys.list_keys(session, caller)


@router.get("/v1/keys/{key_id}")
async def get_key(key_id: ParamId, session: ReadSession, caller: Caller) -> KeyOut:
    caller.require("admin", "manager")
    return await keys.get_key(session, caller, key_id)


@router.post("/v1/keys/{key_id}/revoke", responses=problem_responses(409))
async def revoke_key(key_id: ParamId, session: WriteSession, caller: Caller) -> KeyOut:
    """Effective immediately, on every instance. Administrators revoke any key but the last
    active administrator key (409); managers the collector and reader keys of their scope."""
    caller.require("admin", "manager")
    revoked = await keys.revoke_key(session, caller, key_id)
    await audit.record(session, caller, "key.revoke", f"key:{key_id}")
    return revoked


@router.get("/v1/audit")
async def audit_log(
    session: ReadSession,
    caller: Caller,
    limit: Limit,
    cursor: Cursor = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[Instant | None, Query(description="Changes at or after")] = None,
) -> Page[AuditOut]:
    """Administrative changes, newest first: who (key), what, when. Administrators only."""
    caller.require("admin")
    before = decode_cursor(cursor, 1)[0] if cursor else None
    if before is not None and not (isinstance(before, int) and 1 <= before <= INT32_MAX):
        raise bad_cursor()
    entries, last = await audit.list_entries(session, action, target, before, since, limit)
    return Page(items=entries, next_cursor=encode_cursor(last) if last is not None else None)
