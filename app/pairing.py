"""Pairing codes: a manager creates a short code for a unit; a kiosk (collector) or a
dashboard (reader) exchanges it once, within minutes, for a key of its own, so that nobody
types a 43-character token on a touch screen.

A code is 8 symbols of Crockford's base 32 (`0-9 A-Z` without I, L, O, U), written
`XXXX-XXXX`: 32^8 = 2^40 ≈ 1.1e12 codes. Typed back, case, dashes and spaces do not matter,
and O, I and L are read as 0, 1 and 1. Only its hash is stored. The exchange is one
conditional UPDATE (`used_at IS NULL AND expires_at > now`), so of two exchanges at once
exactly one gets the key; an unknown, used or expired code gets one and the same answer.
"""

import secrets
from datetime import timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal, new_token, token_hash
from app.db import utcnow
from app.errors import FieldProblem, ProblemError, invalid, not_found
from app.keys import PREFIX_LENGTH, key_out
from app.models import ApiKey, PairingCode, Service, Unit
from app.schemas import KeyCreated, PairingCodeCreate, PairingCodeCreated, PairingCodeOut
from app.units import get_unit

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32
CODE_SYMBOLS = 8
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(CODE_SYMBOLS))
    return f"{symbols[:4]}-{symbols[4:]}"


def normalized(typed: str) -> str:
    """The code as typed, in its one written form (`ab12-cd3o` → `AB12-CD30`); anything that
    is not 8 symbols of the alphabet gives a string no code hashes to."""
    plain = "".join(typed.split()).replace("-", "").upper().translate(_READ_AS)
    if len(plain) != CODE_SYMBOLS or any(c not in ALPHABET for c in plain):
        return ""
    return f"{plain[:4]}-{plain[4:]}"


def invalid_code() -> ProblemError:
    """The one answer to an unknown, used or expired code: it never says which."""
    return ProblemError(
        400,
        "invalid-pairing-code",
        "Bad Request",
        "This pairing code is not valid (unknown, already used or expired).",
        [
            FieldProblem(
                pointer="/code", detail="not a valid pairing code", code="invalid_pairing_code"
            )
        ],
    )


async def _service_ids(session: AsyncSession, unit: Unit, codes: list[str]) -> list[int]:
    rows = await session.execute(
        select(Service.code, Service.id).where(
            Service.unit_id == unit.id,
            Service.code.in_(codes),
            Service.deactivated_at.is_(None),
        )
    )
    found: dict[str, int] = {row.code: row.id for row in rows}
    missing = [
        FieldProblem(
            pointer=f"/services/{i}", detail="the unit offers no such service", code="unknown"
        )
        for i, code in enumerate(codes)
        if code not in found
    ]
    if missing:
        raise invalid(missing)
    return sorted({found[code] for code in codes})


async def _service_codes(session: AsyncSession, ids: list[int] | None) -> list[str] | None:
    if ids is None:
        return None
    codes = await session.scalars(
        select(Service.code).where(Service.id.in_(ids)).order_by(Service.code)
    )
    return list(codes)


def _out(row: PairingCode, unit: str, services: list[str] | None) -> PairingCodeOut:
    return PairingCodeOut(
        id=row.id,
        unit=unit,
        role=row.role,
        services=services,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


async def create(
    session: AsyncSession, caller: Principal, body: PairingCodeCreate
) -> PairingCodeCreated:
    caller.require("admin", "manager")
    unit = caller.check(await get_unit(session, body.unit))
    if body.services is not None and body.role != "collector":
        raise invalid(
            [FieldProblem(pointer="/services", detail="only collector keys", code="not_allowed")]
        )
    services = (
        await _service_ids(session, unit, body.services) if body.services is not None else None
    )
    code = new_code()
    now = utcnow()
    row = PairingCode(
        unit_id=unit.id,
        role=body.role,
        name=body.name,
        services=services,
        code_hash=token_hash(code),
        created_at=now,
        created_by_id=caller.key_id,
        expires_at=now + timedelta(minutes=body.expires_in_minutes),
    )
    session.add(row)
    await session.flush()
    codes = sorted(set(body.services)) if body.services is not None else None
    return PairingCodeCreated(**_out(row, unit.code, codes).model_dump(), code=code)


async def pending(session: AsyncSession, caller: Principal, unit_code: str) -> list[PairingCodeOut]:
    """The unit's codes not used yet and not expired, oldest first (never the codes)."""
    caller.require("admin", "manager")
    unit = caller.check(await get_unit(session, unit_code))
    rows = await session.scalars(
        select(PairingCode)
        .where(
            PairingCode.unit_id == unit.id,
            PairingCode.used_at.is_(None),
            PairingCode.expires_at > utcnow(),
        )
        .order_by(PairingCode.id)
    )
    return [_out(r, unit.code, await _service_codes(session, r.services)) for r in rows]


async def withdraw(session: AsyncSession, caller: Principal, code_id: int) -> None:
    """Withdraw a code (pending or not): it can no longer be exchanged."""
    caller.require("admin", "manager")
    found = (
        await session.execute(
            select(PairingCode, Unit.path)
            .join(Unit, Unit.id == PairingCode.unit_id)
            .where(PairingCode.id == code_id)
        )
    ).first()
    if found is None or not caller.covers(found[1]):
        raise not_found("pairing code", code_id)
    await session.delete(found[0])
    await session.flush()


async def exchange(session: AsyncSession, typed: str) -> tuple[KeyCreated, Principal]:
    """The key for a valid code, which is used up by this call; the key as a caller, for
    the audit log. One conditional UPDATE claims the code: of two concurrent exchanges
    exactly one matches a row."""
    written = normalized(typed)
    if not written:
        raise invalid_code()
    now = utcnow()
    claimed = (
        await session.execute(
            update(PairingCode)
            .where(
                PairingCode.code_hash == token_hash(written),
                PairingCode.used_at.is_(None),
                PairingCode.expires_at > now,
                # A code dies with the key that made it (revoked or expired) and with its
                # unit (deactivated): it cannot outlive what vouched for it.
                or_(
                    PairingCode.created_by_id.is_(None),
                    exists().where(
                        ApiKey.id == PairingCode.created_by_id,
                        ApiKey.revoked_at.is_(None),
                        or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
                    ),
                ),
                exists().where(Unit.id == PairingCode.unit_id, Unit.deactivated_at.is_(None)),
            )
            .values(used_at=now)
            .returning(
                PairingCode.id,
                PairingCode.unit_id,
                PairingCode.role,
                PairingCode.name,
                PairingCode.services,
                PairingCode.created_by_id,
            )
        )
    ).first()
    if claimed is None:
        raise invalid_code()
    unit = await session.get_one(Unit, claimed.unit_id)
    token = new_token()
    key = ApiKey(
        name=claimed.name,
        role=claimed.role,
        scope_unit_id=unit.id,
        read_responses=False,
        token_hash=token_hash(token),
        prefix=token[:PREFIX_LENGTH],
        created_at=now,
        created_by_id=claimed.created_by_id,
        services=claimed.services,
    )
    session.add(key)
    await session.flush()
    await session.execute(
        update(PairingCode).where(PairingCode.id == claimed.id).values(key_id=key.id)
    )
    principal = Principal(
        key_id=key.id,
        name=key.name,
        role=claimed.role,
        scope_unit_id=unit.id,
        scope_path=unit.path,
        scope_code=unit.code,
        read_responses=False,
        services=frozenset(claimed.services) if claimed.services is not None else None,
    )
    services = await _service_codes(session, claimed.services)
    created = KeyCreated(**key_out(key, unit.code).model_dump(), token=token, services=services)
    return created, principal
