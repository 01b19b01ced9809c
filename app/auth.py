"""API keys: bearer tokens with a role and a scope (a subtree of units).

Roles:
- admin: everything.
- manager: administers units, services, surveys and populations in its scope; reads
  responses and indices there; creates collector and reader keys for its scope.
- collector: a kiosk or an app; fetches forms and posts responses for units in its scope
  (each kiosk has its own key, recorded on what it posts).
- reader: a dashboard; indices in its scope, response rows only when granted.

A unit outside a key's scope answers as if it did not exist (404). A role that may not use
an endpoint at all gets 403.

Here: keys, and the admission of a request (`key_given`, `count_address`, `authenticate`);
`app.dependencies` gives them to endpoints, before the request's session or connection.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from fastapi import BackgroundTasks, Request
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.config import Settings
from app.db import Database, utcnow
from app.errors import FieldProblem, ProblemError, invalid, not_found
from app.models import ApiKey, Unit
from app.ratelimit import RateLimiter
from app.statements import fetch_all
from app.units import find_unit, get_unit
from app.vocabulary import Role


class Placed(Protocol):
    """A unit, or a row standing for one: where it is in the hierarchy."""

    @property
    def code(self) -> str: ...

    @property
    def path(self) -> str: ...


PlacedUnit = TypeVar("PlacedUnit", bound=Placed)
TOKEN_PREFIX = "skm_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
NEEDS_KEY = "This endpoint needs an API key."


DEVICE_PREFIX = "key:"  # a key's device label for burst detection: key:<id>


def device_of(key_id: int) -> str:
    return f"{DEVICE_PREFIX}{key_id}"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    key_id: int
    name: str
    role: Role
    scope_unit_id: int | None
    scope_path: str | None  # None: the whole hierarchy
    scope_code: str | None
    read_responses: bool
    # The ids of the services its submissions may name; None: any (`pairing`).
    services: frozenset[int] | None = None

    @property
    def device(self) -> str:
        return device_of(self.key_id)

    def covers(self, unit_path: str) -> bool:
        return self.scope_path is None or unit_path.startswith(self.scope_path)

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise forbidden(f"A {self.role} key cannot do this.")

    def require_responses(self) -> None:
        """Response rows: administrators, managers, and readers granted them."""
        self.require("admin", "manager", "reader")
        if self.role == "reader" and not self.read_responses:
            raise forbidden("This reader key is not granted response rows.")

    def check(self, unit: PlacedUnit) -> PlacedUnit:
        """The unit, if in scope; otherwise it does not exist for this key."""
        if not self.covers(unit.path):
            raise not_found("unit", unit.code)
        return unit


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "forbidden", "Forbidden", detail)


def _unauthorized(detail: str) -> ProblemError:
    error = ProblemError(401, "unauthorized", "Unauthorized", detail)
    error.headers = {"WWW-Authenticate": 'Bearer realm="skm"'}
    return error


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Use 'Authorization: Bearer <key>'.")
    return token.strip()


# A key by its token's hash (`token_hash`), with its scope unit's path and code.
KEY = (
    select(
        ApiKey.id,
        ApiKey.name,
        ApiKey.role,
        ApiKey.scope_unit_id,
        ApiKey.read_responses,
        ApiKey.expires_at,
        ApiKey.revoked_at,
        ApiKey.last_used_at,
        ApiKey.services,
        Unit.path,
        Unit.code,
    )
    .outerjoin(Unit, Unit.id == ApiKey.scope_unit_id)
    .where(ApiKey.token_hash == bindparam("token_hash"))
)
KEY_COLUMNS = tuple(c.name for c in KEY.selected_columns)


async def read_key(database: Database, token: str, conn: AsyncConnection | None) -> Any:
    """The row of this token's key (None: unknown), read on `conn` (the request's own
    connection) if it has one, otherwise on a connection of its own."""
    params = {"token_hash": token_hash(token)}
    if conn is not None:
        found = await fetch_all(conn, KEY, params)
    else:
        # Under the request's database deadline too: a stalled server answers 503 here,
        # where the read waited for the whole stall (it was only ever cut short by a new
        # connection's timeout, when the pool held none alive).
        engine = database.autocommit_engine or database.read_only_engine
        async with database.deadline(), engine.connect() as own:
            found = await fetch_all(own, KEY, params)
    return found[0] if found else None


def _principal(key: Any, database: Database, background: BackgroundTasks) -> Principal:
    """The caller of a key row read by `KEY` (None: unknown), if the key is valid; its last
    use is recorded after the response."""
    now = utcnow()
    if key is None:
        raise _unauthorized("Unknown key.")
    if key.revoked_at is not None:
        raise _unauthorized("This key was revoked.")
    if key.expires_at is not None and key.expires_at <= now:
        raise _unauthorized("This key has expired.")
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        background.add_task(_record_use, database, key.id, now)
    return Principal(
        key_id=key.id,
        name=key.name,
        role=key.role,
        scope_unit_id=key.scope_unit_id,
        scope_path=key.path,
        scope_code=key.code,
        read_responses=key.read_responses,
        services=frozenset(key.services) if key.services is not None else None,
    )


async def _record_use(database: Database, key_id: int, now: datetime) -> None:
    """Set a key's last_used_at (to the minute). It runs once the response is sent, when
    the request's own connection is back in the pool: a request never holds two, which
    under load could leave every request waiting for a second one. A request that ends in
    an error response does not record its use."""
    stale = ApiKey.last_used_at.is_(None) | (ApiKey.last_used_at < now - LAST_USED_RESOLUTION)
    async with database.write_turn(), database.writer() as session, session.begin():
        await session.execute(
            update(ApiKey).where(ApiKey.id == key_id, stale).values(last_used_at=now)
        )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def count_address(request: Request, limiter: RateLimiter, settings: Settings) -> str:
    """Count a request that comes without a valid key against its client address's public
    allowance (429 once over it); the address."""
    address = client_address(request)
    await limiter.hit(settings.rate_limit_public, "address", address)
    return address


async def key_given(request: Request, limiter: RateLimiter, settings: Settings) -> str:
    """The request's bearer token. Without one the request is counted against its address
    and refused (401): it needs no database to say so."""
    token = bearer_token(request)
    if token is None:
        await count_address(request, limiter, settings)
        raise _unauthorized(NEEDS_KEY)
    return token


async def authenticate(
    request: Request,
    token: str,
    conn: AsyncConnection | None,
    database: Database,
    limiter: RateLimiter,
    settings: Settings,
    background: BackgroundTasks,
) -> Principal:
    """The key of a token, read on `conn` (the request's connection) when given, and
    rate-limited per key."""
    key = await read_key(database, token, conn)
    return await admit(key, request, database, limiter, settings, background)


async def admit(
    key: Any,
    request: Request,
    database: Database,
    limiter: RateLimiter,
    settings: Settings,
    background: BackgroundTasks,
) -> Principal:
    """The caller of a key row read by `KEY` (None: unknown key) — refused when the key is
    not valid (401) — rate-limited per key (429)."""
    try:
        principal = _principal(key, database, background)
    except ProblemError:
        # Guessing keys costs the guesser's address its public allowance.
        await count_address(request, limiter, settings)
        raise
    await limiter.hit(settings.rate_limit_key, "key", str(principal.key_id))
    return principal


async def unit_for(session: AsyncSession, caller: Principal, code: str) -> Unit:
    """The unit with this code, if it exists in the caller's scope (404 otherwise)."""
    return caller.check(await get_unit(session, code))


async def body_unit(session: AsyncSession, caller: Principal, code: str, pointer: str) -> Unit:
    """A unit named in a request body: unknown or out of scope is the same invalid field."""
    unit = await find_unit(session, code)
    if unit is None or not caller.covers(unit.path):
        raise invalid([FieldProblem(pointer=pointer, detail="unknown unit", code="unknown_unit")])
    return unit
