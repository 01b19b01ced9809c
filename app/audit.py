"""The audit log of administrative changes: who (which key), what, when."""

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db import utcnow
from app.models import AuditEntry
from app.schemas import AuditOut


async def record(
    session: AsyncSession,
    caller: Principal,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an entry in the request's transaction: it exists exactly when the change does."""
    session.add(
        AuditEntry(
            at=utcnow(),
            api_key_id=caller.key_id,
            key_name=caller.name,
            action=action,
            target=target,
            details=details or None,
        )
    )
    await session.flush()


async def list_entries(
    session: AsyncSession,
    action: str | None,
    target: str | None,
    before_id: int | None,
    since: datetime | None,
    limit: int,
) -> tuple[list[AuditOut], int | None]:
    """Newest first; `before_id` pages backwards."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    rows = list(await session.scalars(query))
    entries = [
        AuditOut(
            id=r.id,
            at=r.at,
            key_id=r.api_key_id,
            key_name=r.key_name,
            action=r.action,
            target=r.target,
            details=r.details,
        )
        for r in rows[:limit]
    ]
    return entries, rows[limit - 1].id if len(rows) > limit else None
