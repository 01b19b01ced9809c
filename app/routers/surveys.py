"""Administration: survey definitions and their versions."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app import surveys
from app.db import ReadSession, WriteSession
from app.errors import problem_responses
from app.schemas import SurveyCreate, SurveyOut, SurveyVersionCreate, SurveyVersionOut

router = APIRouter(tags=["surveys"])


@router.get("/v1/surveys", responses=problem_responses(422))
async def list_surveys(
    session: ReadSession,
    owner_unit: Annotated[str | None, Query(max_length=64)] = None,
) -> list[SurveyOut]:
    return await surveys.list_surveys(session, owner_unit)


@router.post(
    "/v1/surveys",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 409, 413, 422),
)
async def create_survey(body: SurveyCreate, session: WriteSession, response: Response) -> SurveyOut:
    """A local variant, owned by a unit; the unit and its subtree may use its versions."""
    created = await surveys.create_survey(session, body)
    response.headers["Location"] = f"/v1/surveys/{created.code}"
    return created


@router.get("/v1/surveys/{code}", responses=problem_responses(404))
async def get_survey(code: str, session: ReadSession) -> SurveyOut:
    return await surveys.read_survey(session, code)


@router.post(
    "/v1/surveys/{code}/versions",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 404, 409, 413, 422),
)
async def create_version(
    code: str, body: SurveyVersionCreate, session: WriteSession, response: Response
) -> SurveyVersionOut:
    """A new draft version; checked against the method (nine elements, scores 1–4, biaya
    scored toward 'Gratis' = 4)."""
    created = await surveys.create_version(session, code, body.definition)
    response.headers["Location"] = f"/v1/surveys/{code}/versions/{created.version}"
    return created


@router.get("/v1/surveys/{code}/versions/{version}", responses=problem_responses(404))
async def get_version(code: str, version: int, session: ReadSession) -> SurveyVersionOut:
    return surveys.version_out(await surveys.get_version(session, code, version), code)


@router.put(
    "/v1/surveys/{code}/versions/{version}",
    responses=problem_responses(400, 404, 409, 413, 422),
)
async def update_draft(
    code: str, version: int, body: SurveyVersionCreate, session: WriteSession
) -> SurveyVersionOut:
    """Replace a draft's definition; a published version is immutable (409)."""
    return await surveys.update_draft(session, code, version, body.definition)


@router.post("/v1/surveys/{code}/versions/{version}/publish", responses=problem_responses(404, 409))
async def publish_version(code: str, version: int, session: WriteSession) -> SurveyVersionOut:
    return await surveys.publish(session, code, version)


@router.get("/v1/survey-versions/{version_id}", responses=problem_responses(404))
async def get_version_by_id(version_id: int, session: ReadSession) -> SurveyVersionOut:
    """The exact version a response points at."""
    return await surveys.version_by_id(session, version_id)
