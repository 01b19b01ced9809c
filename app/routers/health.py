from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from app.db import ReadSession

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"]
    database: str


@router.get("/health", summary="Liveness and database reachability")
async def health(session: ReadSession) -> Health:
    await session.execute(text("SELECT 1"))
    return Health(status="ok", database=session.get_bind().dialect.name)
