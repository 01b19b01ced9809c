"""A transcription error in one stored paper response, corrected or withdrawn by a manager
(never by importing again): the aggregates adjusted in the same transaction, the change
audit-logged (which fields changed, never their free text)."""

import uuid
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.aggregates import add_to_aggregates
from app.audit import record as audit
from app.auth import Principal
from app.config import Settings
from app.db import utcnow
from app.errors import conflict, invalid, not_found
from app.imports.jobs import IMPORT_MAX_AGE_DAYS
from app.imports.schemas import PaperCorrection
from app.ingest import content_hash
from app.method import ELEMENTS
from app.models import Unit, WithdrawnResponse
from app.response_checks import check_item, references_found, references_params, references_query
from app.schemas import ResponseIn, ResponseOut
from app.statements import fetch_all
from app.stored_responses import REGISTRY, RESPONSES, response_out, stored_in_scope, with_codes
from app.surveys import VersionCache


async def _stored_paper(session: AsyncSession, caller: Principal, response_id: uuid.UUID) -> Any:
    query = with_codes().add_columns(Unit.path.label("unit_path"), Unit.time_zone.label("zone"))
    row = (
        await session.execute(
            query.where(RESPONSES.c.id == response_id).with_for_update(of=RESPONSES)
        )
    ).first()
    if row is None:
        known = await stored_in_scope(await session.connection(), [response_id], caller.scope_path)
        if response_id in known.archived:
            raise conflict(
                "response-archived",
                "This response is in a month since archived: it is counted, and its row is no "
                "longer here to correct or withdraw (bring the month back first).",
            )
    if row is None or not caller.covers(row.unit_path):
        raise not_found("response", response_id)
    if row.channel != "paper":
        raise conflict(
            "not-paper",
            "Only a paper response is corrected or withdrawn; other channels' responses are "
            "as their device sent them.",
        )
    return row


async def correct(
    session: AsyncSession,
    caller: Principal,
    response_id: uuid.UUID,
    body: PaperCorrection,
    versions: VersionCache,
    settings: Settings,
) -> ResponseOut:
    row = await _stored_paper(session, caller, response_id)
    zone = ZoneInfo(row.zone)
    item = ResponseIn(
        id=response_id,
        unit=row.unit_code,
        service=body.service,
        survey_version_id=row.survey_version_id,
        channel="paper",
        collected_at=datetime.combine(body.date, time(0), zone),
        answers=body.answers,
        profile=body.profile,
        suggestion=body.suggestion,
    )
    conn = await session.connection()
    found = await fetch_all(conn, references_query(conn.dialect.name), references_params([item]))
    units, services = references_found(found)
    rules = await versions.rules(conn, row.survey_version_id)
    lenient = settings.model_copy(update={"max_collected_age_days": IMPORT_MAX_AGE_DAYS})
    problems = check_item(item, units, services, rules, utcnow(), lenient, row.unit_path)
    if problems:
        raise invalid(
            [
                p.model_copy(
                    update={"pointer": "/date" if p.pointer == "/collected_at" else p.pointer}
                )
                for p in problems
            ]
        )
    old = dict(row._mapping)
    service_id = services[(units[row.unit_code].id, body.service)].id
    new_values = {
        "service_id": service_id,
        "collected_at": item.collected_at.astimezone(ZoneInfo("UTC")),
        "local_date": body.date,
        **body.answers.model_dump(),
        **body.profile.model_dump(),
        "suggestion": body.suggestion or None,
        "content_hash": content_hash(item),
    }
    changed = sorted(
        k
        for k in ("service_id", "local_date", *ELEMENTS, *body.profile.model_dump(), "suggestion")
        if old.get(k) != new_values.get(k)
    )
    now = utcnow()
    await add_to_aggregates(conn, [{**old, **new_values}], now, removed=[old])
    await conn.execute(update(RESPONSES).where(RESPONSES.c.id == response_id).values(**new_values))
    await conn.execute(
        update(REGISTRY)
        .where(REGISTRY.c.id == response_id)
        .values(local_date=body.date, content_hash=new_values["content_hash"])
    )
    await audit(
        session,
        caller,
        "correct-paper-response",
        str(response_id),
        {"unit": row.unit_code, "changed": [c.removesuffix("_id") for c in changed]},
    )
    updated = (await session.execute(with_codes().where(RESPONSES.c.id == response_id))).first()
    assert updated is not None
    return response_out(updated, updated.unit_code, updated.service_code)


async def withdraw(session: AsyncSession, caller: Principal, response_id: uuid.UUID) -> None:
    row = await _stored_paper(session, caller, response_id)
    conn = await session.connection()
    now = utcnow()
    await add_to_aggregates(conn, [], now, removed=[dict(row._mapping)])
    await conn.execute(delete(RESPONSES).where(RESPONSES.c.id == response_id))
    # Out of the registry too: its id is then what it was before it was stored (a paper
    # import refuses it by `withdrawn_responses`).
    await conn.execute(delete(REGISTRY).where(REGISTRY.c.id == response_id))
    await conn.execute(
        insert(WithdrawnResponse).values(
            response_id=response_id,
            unit_id=row.unit_id,
            import_id=None,
            withdrawn_at=now,
            api_key_id=caller.key_id,
        )
    )
    await audit(
        session, caller, "withdraw-paper-response", str(response_id), {"unit": row.unit_code}
    )
