"""Health probes: liveness (the process) apart from readiness (what a request needs).

An orchestrator restarts an instance whose liveness fails and stops sending it traffic while
its readiness fails: a database blip must not fail liveness, or every instance would be
restarted at once for nothing.
"""

import asyncio
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from app.dependencies import DatabaseDep, LimiterDep, SettingsDep
from app.errors import problem_responses, service_unavailable

router = APIRouter(tags=["health"])
READY = "Readiness: the database (and Redis when configured) answer"


class Liveness(BaseModel):
    status: Literal["ok"]


class Health(BaseModel):
    status: Literal["ok"]
    database: str
    redis: Literal["ok", "not configured"]


@router.get("/health/live", summary="Liveness: the process answers (no database)")
async def live() -> Liveness:
    return Liveness(status="ok")


async def _ready(database: DatabaseDep, limiter: LimiterDep, settings: SettingsDep) -> Health:
    async with database.deadline(), database.read_only_engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    redis = "not configured"
    if settings.redis_url:
        try:
            async with asyncio.timeout(settings.db_timeout_seconds):
                healthy = await limiter.healthy()
        except TimeoutError:
            healthy = False
        if not healthy:
            raise service_unavailable("redis")
        redis = "ok"
    return Health(status="ok", database=database.dialect, redis=redis)


@router.get("/health/ready", summary=READY, responses=problem_responses(503))
async def ready(database: DatabaseDep, limiter: LimiterDep, settings: SettingsDep) -> Health:
    """503 problem+json (with Retry-After) while the instance cannot serve requests."""
    return await _ready(database, limiter, settings)


@router.get("/health", summary=READY, responses=problem_responses(503))
async def health(database: DatabaseDep, limiter: LimiterDep, settings: SettingsDep) -> Health:
    """The readiness probe, under its first name."""
    return await _ready(database, limiter, settings)
