"""Administration: survey definitions and their versions."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import surveys
from app.audit import record
from app.auth import Principal, body_unit, forbidden
from app.dependencies import Caller, ReadSession, WriteSession
from app.errors import problem_responses
from app.models import Unit
from app.schemas import ParamId, SurveyCreate, SurveyOut, SurveyVersionCreate, SurveyVersionOut

router = APIRouter(tags=["surveys"], responses=problem_responses(401, 404, 422, 429))
WRITE = problem_responses(400, 403, 409, 413)  # besides the router's


async def _owned(session: AsyncSession, caller: Principal, code: str) -> None:
    """Writing a survey's versions: administrators, or managers whose scope holds its owner."""
    caller.require("admin", "manager")
    survey = await surveys.get_survey(session, code, caller.scope_path)
    if caller.scope_path is not None:
        owner = await session.scalar(select(Unit).where(Unit.id == survey.owner_unit_id))
        if owner is None or not caller.covers(owner.path):
            raise forbidden("Only the owner's managers change a survey.")


@router.get("/v1/surveys")
async def list_surveys(
    session: ReadSession,
    caller: Caller,
    owner_unit: Annotated[str | None, Query(max_length=64)] = None,
) -> list[SurveyOut]:
    return await surveys.list_surveys(session, owner_unit, caller.scope_path)


@router.post(
    "/v1/surveys",
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
async def create_survey(
    body: SurveyCreate, session: WriteSession, response: Response, caller: Caller
) -> SurveyOut:
    """A local variant, owned by a unit; the unit and its subtree may use its versions."""
    caller.require("admin", "manager")
    await body_unit(session, caller, body.owner_unit, "/owner_unit")
    created = await surveys.create_survey(session, body)
    await record(session, caller, "survey.create", f"survey:{created.code}", body.model_dump())
    response.headers["Location"] = f"/v1/surveys/{created.code}"
    return created


@router.get("/v1/surveys/{code}")
async def get_survey(code: str, session: ReadSession, caller: Caller) -> SurveyOut:
    return await surveys.read_survey(session, code, caller.scope_path)


@router.post(
    "/v1/surveys/{code}/versions",
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
async def create_version(
    code: str,
    body: SurveyVersionCreate,
    session: WriteSession,
    response: Response,
    caller: Caller,
) -> SurveyVersionOut:
    """A new draft version; checked against the method (nine elements, scores 1–4, biaya
    scored toward 'Gratis' = 4)."""
    await _owned(session, caller, code)
    created = await surveys.create_version(session, code, body.definition)
    await record(session, caller, "survey.version.create", f"survey:{code}/{created.version}")
    response.headers["Location"] = f"/v1/surveys/{code}/versions/{created.version}"
    return created


@router.get("/v1/surveys/{code}/versions/{version}")
async def get_version(
    code: str, version: ParamId, session: ReadSession, caller: Caller
) -> SurveyVersionOut:
    found = await surveys.get_version(session, code, version, caller.scope_path)
    return surveys.version_out(found, code)


@router.put(
    "/v1/surveys/{code}/versions/{version}",
    responses=WRITE,
)
async def update_draft(
    code: str, version: ParamId, body: SurveyVersionCreate, session: WriteSession, caller: Caller
) -> SurveyVersionOut:
    """Replace a draft's definition; a published version is immutable (409)."""
    await _owned(session, caller, code)
    updated = await surveys.update_draft(session, code, version, body.definition)
    await record(session, caller, "survey.version.update", f"survey:{code}/{version}")
    return updated


@router.post("/v1/surveys/{code}/versions/{version}/publish", responses=WRITE)
async def publish_version(
    code: str, version: ParamId, session: WriteSession, caller: Caller
) -> SurveyVersionOut:
    await _owned(session, caller, code)
    published = await surveys.publish(session, code, version)
    await record(session, caller, "survey.version.publish", f"survey:{code}/{version}")
    return published


@router.get("/v1/survey-versions/{version_id}")
async def get_version_by_id(
    version_id: ParamId, session: ReadSession, caller: Caller
) -> SurveyVersionOut:
    """The exact version a response points at."""
    return await surveys.version_by_id(session, version_id, caller.scope_path)
