"""The form a kiosk or app fetches for a unit: survey version, services, profile options."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.errors import ProblemError
from app.models import Service
from app.schemas import (
    MAX_SUGGESTION_LENGTH,
    FormLimits,
    FormOut,
    FormProfileField,
    FormService,
    FormUnit,
    LocalizedText,
    ProfileOption,
)
from app.standard_survey import PROFILE_LABELS, PROFILE_OPTIONS
from app.surveys import effective_version_id, version_by_id
from app.units import get_unit
from app.vocabulary import CHANNELS


async def unit_form(session: AsyncSession, code: str, settings: Settings) -> FormOut:
    unit = await get_unit(session, code)
    if unit.deactivated_at is not None:
        raise ProblemError(410, "unit-inactive", "Gone", f"Unit '{code}' is deactivated.")
    version = await version_by_id(session, await effective_version_id(session, unit))
    services = await session.scalars(
        select(Service)
        .where(Service.unit_id == unit.id, Service.deactivated_at.is_(None))
        .order_by(Service.code)
    )
    return FormOut(
        unit=FormUnit(
            code=unit.code,
            name=unit.name,
            time_zone=unit.time_zone,
            requires_ticket=unit.public and unit.requires_ticket,
        ),
        survey_version=version,
        services=[FormService(code=s.code, name=s.name) for s in services],
        profile_fields=[
            FormProfileField(
                field=field,
                label=LocalizedText(id=PROFILE_LABELS[field][0], en=PROFILE_LABELS[field][1]),
                options=[
                    ProfileOption(code=option, label=LocalizedText(id=label_id, en=label_en))
                    for option, (label_id, label_en) in PROFILE_OPTIONS[field].items()
                ],
            )
            for field in version.definition.profile_fields
        ],
        channels=list(CHANNELS),
        limits=FormLimits(
            max_batch_items=settings.max_batch_items,
            max_suggestion_length=MAX_SUGGESTION_LENGTH,
            max_clock_skew_seconds=settings.max_clock_skew_seconds,
            max_collected_age_days=settings.max_collected_age_days,
        ),
    )
