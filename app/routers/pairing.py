"""/v1/pairing-codes: a manager creates a short code; a kiosk or dashboard exchanges it,
without a key, for its own."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app import audit, pairing
from app.dependencies import Caller, Client, PublicWriteSession, ReadSession, WriteSession
from app.errors import problem_responses
from app.models import INT32_MAX
from app.schemas import (
    Code,
    KeyCreated,
    PairingCodeCreate,
    PairingCodeCreated,
    PairingCodeOut,
    PairingExchange,
)

router = APIRouter(tags=["access"], responses=problem_responses(422, 429))


@router.post(
    "/v1/pairing-codes",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 401, 403, 404, 413),
)
async def create_pairing_code(
    body: PairingCodeCreate, session: WriteSession, caller: Caller
) -> PairingCodeCreated:
    """A code for a kiosk (collector) or a dashboard (reader) of a unit, valid for
    `expires_in_minutes` (10 by default, at most 60) and for one exchange. Administrators,
    or managers for a unit in their scope. The code is in this answer only."""
    created = await pairing.create(session, caller, body)
    details = body.model_dump(mode="json", exclude={"name"}) | {"pairing_code": created.id}
    await audit.record(session, caller, "pairing.create", f"unit:{created.unit}", details)
    return created


@router.get("/v1/pairing-codes", responses=problem_responses(401, 403, 404))
async def list_pairing_codes(
    session: ReadSession, caller: Caller, unit: Annotated[Code, Query()]
) -> list[PairingCodeOut]:
    """The unit's pending codes (not used, not expired); never the codes themselves."""
    return await pairing.pending(session, caller, unit)


@router.delete(
    "/v1/pairing-codes/{code_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
async def withdraw_pairing_code(
    code_id: Annotated[int, Path(ge=1, le=INT32_MAX)], session: WriteSession, caller: Caller
) -> Response:
    """Withdraw a code before it is exchanged (a key already paired is revoked as a key)."""
    await pairing.withdraw(session, caller, code_id)
    await audit.record(session, caller, "pairing.withdraw", f"pairing_code:{code_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/pairing-codes/exchange",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 413),
)
async def exchange_pairing_code(
    body: PairingExchange, session: PublicWriteSession, client: Client
) -> KeyCreated:
    """No key: the code is the credential. Gives the paired key (its token shown once,
    scoped to the code's unit), and uses the code up. An unknown, used or expired code is
    one and the same answer (400 `invalid-pairing-code`). Counted against the client
    address's public rate limit (SKM_RATE_LIMIT_PUBLIC), which bounds guessing: see the
    README."""
    created, key = await pairing.exchange(session, body.code)
    await audit.record(
        session,
        key,
        "key.pair",
        f"key:{created.id}",
        {"role": created.role, "scope": created.scope, "name": created.name},
    )
    return created
