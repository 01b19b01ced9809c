"""One-time tickets handed out at the counter: each admits exactly one public response."""

import secrets
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal, token_hash
from app.db import utcnow
from app.errors import FieldProblem, ProblemError, invalid
from app.models import ApiKey, Ticket, Unit
from app.schemas import TicketsOut


async def issue(
    session: AsyncSession, caller: Principal, unit: Unit, count: int, hours: int
) -> TicketsOut:
    now = utcnow()
    expires = now + timedelta(hours=hours)
    codes = [secrets.token_urlsafe(12) for _ in range(count)]
    session.add_all(
        Ticket(
            unit_id=unit.id,
            code_hash=token_hash(code),
            issued_by_id=caller.key_id,
            issued_at=now,
            expires_at=expires,
        )
        for code in codes
    )
    await session.flush()
    return TicketsOut(unit=unit.code, expires_at=expires, tickets=codes)


async def claim(
    session: AsyncSession, unit: Unit, code: str | None, response_id: uuid.UUID
) -> tuple[Ticket, frozenset[int] | None]:
    """Lock the unit's ticket for this response. A ticket already used by the same response
    id lets a retry through (it will answer as a duplicate); any other use is refused.

    Also gives the services the ticket admits: those of the key that issued it when that key
    is restricted to some (a counter's kiosk paired for its own services), else None (any)."""
    if code is None:
        raise invalid(
            [FieldProblem(pointer="/ticket", detail="this unit needs a ticket", code="missing")]
        )
    found = (
        await session.execute(
            select(Ticket, ApiKey.services)
            .join(ApiKey, ApiKey.id == Ticket.issued_by_id)
            .where(Ticket.code_hash == token_hash(code), Ticket.unit_id == unit.id)
            .with_for_update(of=Ticket)
        )
    ).first()
    ticket, services = found if found is not None else (None, None)
    if ticket is None or ticket.expires_at <= utcnow():
        raise invalid(
            [FieldProblem(pointer="/ticket", detail="unknown or expired ticket", code="bad_ticket")]
        )
    if ticket.used_at is not None and ticket.response_id != response_id:
        raise ProblemError(409, "ticket-used", "Conflict", "This ticket was already used.")
    return ticket, frozenset(services) if services is not None else None


def mark_used(ticket: Ticket, response_id: uuid.UUID) -> None:
    if ticket.used_at is None:
        ticket.used_at = utcnow()
        ticket.response_id = response_id
