"""Issuing, listing and revoking API keys."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal, forbidden, new_token, token_hash
from app.db import utcnow
from app.errors import FieldProblem, conflict, invalid, not_found
from app.models import ApiKey, Unit
from app.schemas import KeyCreate, KeyCreated, KeyOut
from app.units import get_unit

PREFIX_LENGTH = 10


def key_out(key: ApiKey, scope_code: str | None) -> KeyOut:
    return KeyOut(
        id=key.id,
        name=key.name,
        role=key.role,
        scope=scope_code,
        read_responses=key.read_responses,
        prefix=key.prefix,
        created_at=key.created_at,
        created_by=key.created_by_id,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
        active=key.revoked_at is None and (key.expires_at is None or key.expires_at > utcnow()),
    )


async def create_key(
    session: AsyncSession, body: KeyCreate, caller: Principal | None
) -> KeyCreated:
    """A new key; its token is returned here once and never again. `caller` None: the
    command line, bootstrapping the first administrator."""
    if caller is not None and caller.role != "admin":
        if body.role not in MANAGED_ROLES:
            raise forbidden("A manager can create collector and reader keys only.")
        if body.scope is None:
            raise forbidden("A manager's keys must have a scope inside its own.")
    scope: Unit | None = None
    if body.scope is not None:
        scope = await get_unit(session, body.scope)
        if caller is not None:
            caller.check(scope)
    elif body.role != "admin":
        raise invalid(
            [FieldProblem(pointer="/scope", detail="required for this role", code="missing")]
        )
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise invalid(
            [FieldProblem(pointer="/expires_at", detail="must be in the future", code="past")]
        )
    token = new_token()
    key = ApiKey(
        name=body.name,
        role=body.role,
        scope_unit_id=scope.id if scope else None,
        read_responses=body.read_responses,
        token_hash=token_hash(token),
        prefix=token[:PREFIX_LENGTH],
        created_at=utcnow(),
        created_by_id=caller.key_id if caller else None,
        expires_at=body.expires_at,
    )
    session.add(key)
    await session.flush()
    return KeyCreated(**key_out(key, body.scope).model_dump(), token=token)


MANAGED_ROLES = ("collector", "reader")


def _visible(caller: Principal, key: ApiKey, scope_path: str | None) -> bool:
    """An administrator sees every key; a manager only the keys it could have created
    (collector and reader keys scoped inside its own scope): not its peers', not its own,
    not an administrator's."""
    if caller.role == "admin":
        return True
    return key.role in MANAGED_ROLES and scope_path is not None and caller.covers(scope_path)


async def list_keys(session: AsyncSession, caller: Principal) -> list[KeyOut]:
    rows = await session.execute(
        select(ApiKey, Unit.path, Unit.code)
        .outerjoin(Unit, Unit.id == ApiKey.scope_unit_id)
        .order_by(ApiKey.id)
    )
    return [key_out(key, code) for key, path, code in rows if _visible(caller, key, path)]


async def _get(session: AsyncSession, caller: Principal, key_id: int) -> tuple[ApiKey, str | None]:
    row = (
        await session.execute(
            select(ApiKey, Unit.path, Unit.code)
            .outerjoin(Unit, Unit.id == ApiKey.scope_unit_id)
            .where(ApiKey.id == key_id)
        )
    ).first()
    if row is None or not _visible(caller, row[0], row[1]):
        raise not_found("key", key_id)
    return row[0], row[2]


async def get_key(session: AsyncSession, caller: Principal, key_id: int) -> KeyOut:
    key, code = await _get(session, caller, key_id)
    return key_out(key, code)


async def _keep_an_admin(session: AsyncSession, key: ApiKey) -> None:
    """Refuse to revoke the last active administrator key: nobody could then manage keys.

    The active administrator keys are locked (SELECT … FOR UPDATE, in id order) before they
    are counted, so two administrators revoking each other at once on PostgreSQL take turns,
    and the second counts after the first has committed. SQLite write transactions already
    take turns (BEGIN IMMEDIATE)."""
    now = utcnow()
    active = await session.scalars(
        select(ApiKey.id)
        .where(
            ApiKey.role == "admin",
            ApiKey.revoked_at.is_(None),
            ApiKey.expires_at.is_(None) | (ApiKey.expires_at > now),
        )
        .order_by(ApiKey.id)
        .with_for_update()
    )
    if list(active) == [key.id]:
        raise conflict(
            "last-admin",
            "This is the last active administrator key; create another one before revoking it.",
        )
    # What another transaction committed while this one waited for the locks.
    await session.refresh(key)


async def revoke_key(session: AsyncSession, caller: Principal, key_id: int) -> KeyOut:
    """Revoked keys stop working at once (every request looks the key up). The last active
    administrator key is never revoked (409)."""
    key, code = await _get(session, caller, key_id)
    if key.role == "admin" and key.revoked_at is None:
        await _keep_an_admin(session, key)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    return key_out(key, code)
