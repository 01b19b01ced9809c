"""Publications: a unit's result for a period frozen by a manager, its revisions, read back
by readers in scope."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app import publications
from app.dependencies import Caller, ReadSession, SettingsDep, WriteSession
from app.errors import problem_responses
from app.models import INT32_MAX
from app.pagination import Cursor, Limit
from app.periods import PERIOD_DESCRIPTION
from app.schemas import Page, PublicationOut, PublicationSummary, PublishIn

router = APIRouter(tags=["publications"], responses=problem_responses(401, 403, 404, 422, 429))
PublicationId = Annotated[int, Path(ge=1, le=INT32_MAX)]


@router.post(
    "/v1/units/{code}/publications",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": PublicationOut,
            "description": "The figures are those of the period's current record: that "
            "record, nothing written (a retry is safe)",
        },
        **problem_responses(400, 409, 413),
    },
)
async def publish(
    code: str,
    body: PublishIn,
    response: Response,
    session: WriteSession,
    caller: Caller,
    settings: SettingsDep,
) -> PublicationOut:
    """Freeze the unit's result (its subtree) for an ended period: the full index report,
    breakdowns by service, channel and profile, and the public figures, under a new id.
    Once the period is published and its figures have changed, `revises` (the current
    record's id) publishes a revision; without it the answer is 409."""
    record, created = await publications.publish(session, caller, settings, code, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return record


@router.get("/v1/units/{code}/publications")
async def list_publications(
    code: str,
    session: ReadSession,
    caller: Caller,
    limit: Limit,
    cursor: Cursor = None,
    period: Annotated[str | None, Query(max_length=10, description=PERIOD_DESCRIPTION)] = None,
) -> Page[PublicationSummary]:
    """The unit's published records (of one period, if given), newest first."""
    return await publications.list_publications(session, caller, code, period, limit, cursor)


@router.get("/v1/publications/{publication_id}")
async def get_publication(
    publication_id: PublicationId, session: ReadSession, caller: Caller
) -> PublicationOut:
    """One published record with its frozen report."""
    return await publications.get_publication(session, caller, publication_id)
