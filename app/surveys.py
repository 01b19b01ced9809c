"""Survey definitions: the built-in standard questionnaire and units' versioned variants."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import utcnow
from app.errors import FieldProblem, ProblemError, conflict, invalid, not_found
from app.models import Survey, SurveyVersion, Unit
from app.schemas import (
    SurveyCreate,
    SurveyDefinition,
    SurveyOut,
    SurveyVersionOut,
    SurveyVersionSummary,
)


@dataclass(frozen=True)
class VersionRules:
    """What a response to a published version must satisfy. Published versions never change,
    so these are cached for the life of the process."""

    owner_unit_id: int | None
    required_elements: frozenset[str]
    extra_options: dict[str, frozenset[str]]
    required_extra: frozenset[str]


def rules_from(owner_unit_id: int | None, definition: dict[str, Any]) -> VersionRules:
    parsed = SurveyDefinition.model_validate(definition)
    return VersionRules(
        owner_unit_id=owner_unit_id,
        required_elements=frozenset(q.element for q in parsed.questions if q.required),
        extra_options={
            q.key: frozenset(o.value for o in q.options) for q in parsed.extra_questions
        },
        required_extra=frozenset(q.key for q in parsed.extra_questions if q.required),
    )


class VersionCache:
    def __init__(self) -> None:
        self._rules: dict[int, VersionRules] = {}

    async def rules(self, conn: AsyncConnection, version_id: int) -> VersionRules | None:
        """Rules of a published version, or None when there is no such published version."""
        cached = self._rules.get(version_id)
        if cached is not None:
            return cached
        row = (
            await conn.execute(
                select(SurveyVersion.definition, SurveyVersion.status, Survey.owner_unit_id)
                .join(Survey, Survey.id == SurveyVersion.survey_id)
                .where(SurveyVersion.id == version_id)
            )
        ).first()
        if row is None or row.status != "published":
            return None
        rules = rules_from(row.owner_unit_id, row.definition)
        self._rules[version_id] = rules
        return rules


def _summary(version: SurveyVersion) -> SurveyVersionSummary:
    return SurveyVersionSummary(
        id=version.id,
        version=version.version,
        status=version.status,
        created_at=version.created_at,
        published_at=version.published_at,
    )


def version_out(version: SurveyVersion, survey_code: str) -> SurveyVersionOut:
    return SurveyVersionOut(
        **_summary(version).model_dump(),
        survey=survey_code,
        definition=SurveyDefinition.model_validate(version.definition),
    )


async def _survey_out(
    session: AsyncSession, survey: Survey, scope_path: str | None = None
) -> SurveyOut:
    """The survey as a caller scoped to `scope_path` sees it: a variant of a unit above the
    scope (which the scope's units may use) is shown without naming that unit."""
    versions = await session.scalars(
        select(SurveyVersion)
        .where(SurveyVersion.survey_id == survey.id)
        .order_by(SurveyVersion.version)
    )
    owner = (
        await session.scalar(
            select(Unit.code).where(Unit.id == survey.owner_unit_id, _within(scope_path))
        )
        if survey.owner_unit_id is not None
        else None
    )
    return SurveyOut(
        code=survey.code,
        title=survey.title,
        owner_unit=owner,
        builtin=survey.owner_unit_id is None,
        versions=[_summary(v) for v in versions],
    )


def _within(scope_path: str | None) -> ColumnElement[bool]:
    return true() if scope_path is None else Unit.path.startswith(scope_path, autoescape=True)


def visible_to(scope_path: str | None) -> ColumnElement[bool]:
    """Surveys a key with this scope may see: the standard, variants owned inside its scope,
    and variants of its ancestors (which its units may use)."""
    if scope_path is None:
        return true()
    ancestors = [int(p) for p in scope_path.strip("/").split("/")]
    inside = select(Unit.id).where(Unit.path.startswith(scope_path, autoescape=True))
    return or_(
        Survey.owner_unit_id.is_(None),
        Survey.owner_unit_id.in_(ancestors),
        Survey.owner_unit_id.in_(inside),
    )


async def get_survey(session: AsyncSession, code: str, scope_path: str | None = None) -> Survey:
    survey = await session.scalar(select(Survey).where(Survey.code == code, visible_to(scope_path)))
    if survey is None:
        raise not_found("survey", code)
    return survey


async def list_surveys(
    session: AsyncSession, owner_unit: str | None, scope_path: str | None
) -> list[SurveyOut]:
    query = select(Survey).where(visible_to(scope_path)).order_by(Survey.code)
    if owner_unit is not None:
        # Only an owner inside the scope: a unit above it is not named, nor found by its code.
        query = query.join(Unit, Unit.id == Survey.owner_unit_id).where(
            Unit.code == owner_unit, _within(scope_path)
        )
    return [await _survey_out(session, s, scope_path) for s in await session.scalars(query)]


async def read_survey(session: AsyncSession, code: str, scope_path: str | None) -> SurveyOut:
    return await _survey_out(session, await get_survey(session, code, scope_path), scope_path)


async def create_survey(session: AsyncSession, body: SurveyCreate) -> SurveyOut:
    owner = await session.scalar(select(Unit).where(Unit.code == body.owner_unit))
    if owner is None:
        raise invalid(
            [FieldProblem(pointer="/owner_unit", detail="unknown unit", code="unknown_unit")]
        )
    if await session.scalar(select(Survey.id).where(Survey.code == body.code)) is not None:
        raise conflict("code-taken", f"A survey with code '{body.code}' already exists.")
    survey = Survey(code=body.code, title=body.title, owner_unit_id=owner.id)
    session.add(survey)
    await session.flush()
    return await _survey_out(session, survey)


async def create_version(
    session: AsyncSession, code: str, definition: SurveyDefinition
) -> SurveyVersionOut:
    survey = await get_survey(session, code)
    if survey.owner_unit_id is None:
        raise conflict("builtin-survey", "The standard questionnaire cannot be changed.")
    latest = await session.scalar(
        select(func.max(SurveyVersion.version)).where(SurveyVersion.survey_id == survey.id)
    )
    version = SurveyVersion(
        survey_id=survey.id,
        version=(latest or 0) + 1,
        status="draft",
        definition=definition.model_dump(mode="json"),
    )
    session.add(version)
    await session.flush()
    return version_out(version, survey.code)


async def get_version(
    session: AsyncSession, code: str, number: int, scope_path: str | None = None
) -> SurveyVersion:
    survey = await get_survey(session, code, scope_path)
    version = await session.scalar(
        select(SurveyVersion).where(
            SurveyVersion.survey_id == survey.id, SurveyVersion.version == number
        )
    )
    if version is None:
        raise not_found("version", f"{code}/{number}")
    return version


async def update_draft(
    session: AsyncSession, code: str, number: int, definition: SurveyDefinition
) -> SurveyVersionOut:
    version = await get_version(session, code, number)
    if version.status != "draft":
        raise conflict("version-published", "A published version is immutable; create a new one.")
    version.definition = definition.model_dump(mode="json")
    await session.flush()
    return version_out(version, code)


async def publish(session: AsyncSession, code: str, number: int) -> SurveyVersionOut:
    version = await get_version(session, code, number)
    if version.status != "draft":
        raise conflict("version-published", "This version is already published.")
    version.status = "published"
    version.published_at = utcnow()
    await session.flush()
    return version_out(version, code)


async def version_by_id(
    session: AsyncSession, version_id: int, scope_path: str | None = None
) -> SurveyVersionOut:
    row = (
        await session.execute(
            select(SurveyVersion, Survey.code)
            .join(Survey, Survey.id == SurveyVersion.survey_id)
            .where(SurveyVersion.id == version_id, visible_to(scope_path))
        )
    ).first()
    if row is None:
        raise not_found("survey version", version_id)
    return version_out(row[0], row[1])


async def check_assignable(session: AsyncSession, version_id: int, unit_path: str) -> None:
    """A unit may be assigned a published version of the standard or of a variant owned by
    itself or one of its ancestors."""
    row = (
        await session.execute(
            select(SurveyVersion.status, Survey.owner_unit_id)
            .join(Survey, Survey.id == SurveyVersion.survey_id)
            .where(SurveyVersion.id == version_id)
        )
    ).first()
    reason = None
    if row is None:
        reason, code = "no such survey version", "unknown_survey_version"
    elif row.status != "published":
        reason, code = "only a published version can be assigned", "survey_version_not_published"
    elif row.owner_unit_id is not None and f"/{row.owner_unit_id}/" not in unit_path:
        reason, code = "the version belongs to another unit's variant", "survey_version_not_allowed"
    if reason is not None:
        raise invalid([FieldProblem(pointer="/survey_version_id", detail=reason, code=code)])


async def effective_version_id(session: AsyncSession, unit: Unit) -> int:
    """The unit's own assignment, else the nearest ancestor's, else the standard's latest."""
    ancestor_ids = [int(p) for p in unit.path.strip("/").split("/")]
    rows = await session.execute(
        select(Unit.id, Unit.survey_version_id).where(Unit.id.in_(ancestor_ids))
    )
    assigned: dict[int, int | None] = {r.id: r.survey_version_id for r in rows}
    for unit_id in reversed(ancestor_ids):
        version_id = assigned.get(unit_id)
        if version_id is not None:
            return version_id
    standard = await session.scalar(
        select(SurveyVersion.id)
        .join(Survey, Survey.id == SurveyVersion.survey_id)
        .where(Survey.owner_unit_id.is_(None), SurveyVersion.status == "published")
        .order_by(SurveyVersion.published_at.desc(), SurveyVersion.id.desc())
        .limit(1)
    )
    if standard is None:
        raise ProblemError(500, "no-standard-survey", "Standard questionnaire missing")
    return standard
