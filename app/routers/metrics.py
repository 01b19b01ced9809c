"""/metrics: the service's Prometheus metrics, for the operator's scraper only.

Volumes by channel, batch sizes and error rates are not for the public, and an API key is
not the right credential either (a scraper's secret sits in monitoring configuration, and an
administrator's key would let it change everything). So /metrics takes a token of its own,
SKM_METRICS_TOKEN, as `Authorization: Bearer …` (Prometheus' `authorization` setting);
without that setting it is off (404), and a wrong or missing token is a 401.
"""

import hmac

from fastapi import APIRouter, Request, Response

from app.auth import bearer_token
from app.dependencies import SettingsDep
from app.errors import ProblemError, not_found, problem_responses
from app.observability import exposition

router = APIRouter(tags=["operations"])

# Prometheus' text exposition format, version 0.0.4.
METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get(
    "/metrics",
    summary="Prometheus metrics (skm_*), for the operator's scraper",
    response_class=Response,
    responses={
        200: {
            "description": "The metrics in Prometheus' text format",
            "content": {METRICS_MEDIA_TYPE: {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 404),
    },
)
async def metrics(request: Request, settings: SettingsDep) -> Response:
    """Every worker's metrics (requests and latency by route and status, responses by channel
    and outcome, batch sizes, flags raised, the pool, 503s). Needs SKM_METRICS_TOKEN."""
    if not settings.metrics_token:
        raise not_found("resource", "/metrics")
    given = bearer_token(request) or ""
    if not hmac.compare_digest(given.encode(), settings.metrics_token.encode()):
        error = ProblemError(
            401, "unauthorized", "Unauthorized", "The metrics token is missing or wrong."
        )
        error.headers = {"WWW-Authenticate": 'Bearer realm="skm-metrics"'}
        raise error
    return Response(exposition(), media_type=METRICS_MEDIA_TYPE)
