"""Application factory: `uvicorn --factory app.main:create_app`."""

import asyncio
import gc
import logging
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp

from app.config import Settings, get_settings
from app.db import Database
from app.errors import (
    PROBLEM_BASE,
    PROBLEM_MEDIA_TYPE,
    BodySizeLimit,
    Problem,
    install_error_handlers,
    problem_response,
    refuse_nul,
)
from app.imports.jobs import Runner
from app.lane import SubmissionLane
from app.method import METHOD_ID
from app.observability import Observe, configure_logging, worker_started, worker_stopped
from app.ratelimit import RateLimiter
from app.routers import (
    collection,
    compliance,
    dashboard,
    docs,
    documents,
    flags,
    health,
    indices,
    keys,
    kiosk,
    metrics,
    pairing,
    paper,
    plans,
    populations,
    public,
    public_page,
    publications,
    responses,
    surveys,
    units,
)
from app.schemas import document_batch_limit
from app.surveys import VersionCache

DESCRIPTION = f"""
Survei Kepuasan Masyarakat (SKM) service — method `{METHOD_ID}` (PermenPAN-RB 14/2017).

* **Administration**: service units (a hierarchy with time zones), their services, survey
  definitions (the built-in standard questionnaire and versioned local variants).
* **Collection**: a unit's form for kiosks and apps (with ETag); single and batch submission,
  idempotent on the client-chosen response id.
* **Reading**: stored responses, filtered and paged, and a streaming CSV export.

Every error is an RFC 9457 `application/problem+json` document whose `errors` name each
invalid field (a JSON Pointer into the body, or a parameter) and the reason.
"""


class ObservedApp(FastAPI):
    """FastAPI with `Observe` outside everything, Starlette's error handler included, so that
    a 500 carries the request id and is counted like any other answer; inside it, the
    submissions' own lane (`app.lane`) beside the whole stack."""

    def build_middleware_stack(self) -> ASGIApp:
        settings: Settings = self.state.settings
        stack = super().build_middleware_stack()
        lane = SubmissionLane(self, stack, settings.max_body_bytes, bool(settings.cors_origins))
        return Observe(lane)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_garbage_collector()
        app.state.database = Database(
            settings.database_url,
            settings.db_pool_size,
            settings.db_connect_timeout_seconds,
            settings.db_timeout_seconds,
            settings.db_prepare,
            read_url=settings.database_read_url,
            replica_max_lag=settings.replica_max_lag_seconds,
        )
        app.state.versions = VersionCache()
        app.state.batches_in_flight = asyncio.Semaphore(settings.max_batches_in_flight)
        app.state.limiter = RateLimiter(settings.redis_url)
        app.state.device_secret = secrets.token_bytes(32)
        worker_started()
        app.state.imports = Runner(app.state, settings)
        await app.state.imports.resume_stale()  # before serving: the jobs left unfinished
        try:
            yield
        finally:
            await app.state.imports.close()
            await app.state.limiter.close()
            await app.state.database.dispose()
            worker_stopped()

    configure_logging(settings.log_level, settings.log_format)
    # aiosqlite logs every statement with its parameters (free text) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    app = ObservedApp(
        title="SKM service",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by app/routers/docs.py from the service's own files
        redoc_url=None,
        dependencies=[Depends(refuse_nul)],
        generate_unique_id_function=operation_id,
        # FastAPI's own OpenTelemetry off: the service reports through /metrics and its
        # logs (`app.observability`), and FastAPI's logs, once a provider is set, would
        # export a refused request's input and an exception's message (free text). Left on,
        # it looked for providers on every request (10 µs of a submission's Python).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        upload_bytes=settings.max_upload_bytes,
        upload_paths=paper.UPLOAD_PATHS,
    )
    if settings.cors_origins:
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Location", "Retry-After"],
            max_age=600,
        )
    app.state.settings = settings
    for router in (
        units.router,
        surveys.router,
        collection.router,
        responses.router,
        populations.router,
        plans.router,
        compliance.router,
        indices.router,
        publications.router,
        keys.router,
        pairing.router,
        flags.router,
        documents.router,
        documents.public_router,
        paper.router,
        public.router,
        health.router,
        metrics.router,
        kiosk.router,
        docs.router,
        dashboard.router,
        public_page.router,
    ):
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = security_openapi(
                problem_openapi(
                    get_openapi(
                        title=app.title,
                        version=app.version,
                        description=app.description,
                        routes=app.routes,
                    )
                )
            )
            document_batch_limit(app.openapi_schema, settings.max_batch_items)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


GC_THRESHOLDS = (50_000, 20, 20)


def tune_garbage_collector() -> None:
    """Once per process, before the app's resources exist: the imported code (SQLAlchemy,
    pydantic and FastAPI build large object graphs) is frozen out of the collector's
    scans, and young objects are collected every 50,000 allocations instead of 700 (a
    request allocates thousands, nearly all freed by reference counting). Worth about a
    fifth of a single submission's CPU time."""
    if gc.get_threshold() != GC_THRESHOLDS:
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)


class ProblemCORSMiddleware(CORSMiddleware):
    """CORS, with a refused preflight answered as problem+json like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code < 400:
            return answer
        return problem_response(
            Problem(
                type=PROBLEM_BASE + "cors-refused",
                title="Bad Request",
                status=answer.status_code,
                detail=bytes(answer.body).decode(),
            ),
            headers={"Vary": "Origin"},
        )


def problem_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    """Declare every error as problem+json, and the statuses any operation can give: 500
    and 503 (the database unavailable) anywhere, 422 where there are parameters or a body,
    400 and 413 where there is a body."""
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    descriptions = {
        "400": "Malformed JSON",
        "413": "Request body too large",
        "422": "Invalid request: `errors` names each field and the reason",
        "500": "Unexpected error",
        "503": "The database is unavailable or did not answer in time: see Retry-After",
    }
    for path_item in spec["paths"].values():
        for operation in path_item.values():
            answers = operation["responses"]
            needed = ["500", "503"]
            if operation.get("parameters") or "requestBody" in operation:
                needed.append("422")
            if "requestBody" in operation:
                needed += ["400", "413"]
            for status in needed:
                answers.setdefault(status, {"description": descriptions[status]})
            for status, answer in answers.items():
                if status[0] in "45":
                    if status in descriptions:
                        answer["description"] = descriptions[status]
                    answer["content"] = {PROBLEM_MEDIA_TYPE: problem}
            operation["responses"] = dict(sorted(answers.items()))
    schemas = spec["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    # Added to every problem answer by `errors.problem_response` (not to a batch item's).
    schemas["Problem"]["properties"]["request_id"] = {
        "type": "string",
        "title": "Request Id",
        "description": "The request's id, as in the X-Request-ID header of every answer: "
        "the client's own when it sent a plain one (1-128 of A-Z a-z 0-9 . _ : -), else "
        "the service's. Quote it to the operator: every log line of the request carries it.",
    }
    return spec


# The operation ids of the OpenAPI document, by method and path: the names of a generated
# client's methods (a kiosk's `submitResponse`, a dashboard's `getUnitIndex`). Written out
# rather than derived from the endpoint functions, so that renaming a function in the code
# does not rename a method in every client; a test checks that every route has one.
OPERATION_IDS: dict[tuple[str, str], str] = {
    ("GET", "/health"): "getHealth",
    ("GET", "/health/live"): "getLiveness",
    ("GET", "/health/ready"): "getReadiness",
    ("GET", "/metrics"): "getMetrics",
    ("GET", "/v1/audit"): "listAuditEvents",
    ("GET", "/v1/flags"): "listFlaggedResponses",
    ("GET", "/v1/imports/{import_id}"): "getImport",
    ("GET", "/v1/imports/{import_id}/refused.xlsx"): "getImportRefusals",
    ("POST", "/v1/imports/{import_id}/withdraw"): "withdrawImport",
    ("GET", "/v1/indices/{code}"): "getUnitIndex",
    ("GET", "/v1/indices/{code}/breakdown"): "getUnitBreakdown",
    ("GET", "/v1/indices/{code}/ranking"): "getUnitRanking",
    ("GET", "/v1/indices/{code}/series"): "getUnitSeries",
    ("GET", "/v1/keys"): "listKeys",
    ("POST", "/v1/keys"): "createKey",
    ("GET", "/v1/keys/{key_id}"): "getKey",
    ("POST", "/v1/keys/{key_id}/revoke"): "revokeKey",
    ("POST", "/v1/pairing-codes"): "createPairingCode",
    ("GET", "/v1/pairing-codes"): "listPairingCodes",
    ("DELETE", "/v1/pairing-codes/{code_id}"): "withdrawPairingCode",
    ("POST", "/v1/pairing-codes/exchange"): "exchangePairingCode",
    ("GET", "/v1/public/indices/{code}"): "getPublicIndex",
    ("GET", "/v1/public/indices/{code}/breakdown"): "getPublicBreakdown",
    ("GET", "/v1/public/publications/{publication_id}"): "getPublicPublication",
    ("GET", "/v1/public/units/{code}/publications"): "listPublicPublications",
    ("GET", "/v1/publications/{publication_id}"): "getPublication",
    ("POST", "/v1/public/responses"): "submitPublicResponse",
    ("GET", "/v1/public/units/{code}/form"): "getPublicForm",
    ("GET", "/v1/responses"): "listResponses",
    ("POST", "/v1/responses"): "submitResponse",
    ("POST", "/v1/responses/batch"): "submitBatch",
    ("GET", "/v1/responses/export.csv"): "exportResponsesCsv",
    ("GET", "/v1/responses/{response_id}"): "getResponse",
    ("PATCH", "/v1/responses/{response_id}"): "correctPaperResponse",
    ("DELETE", "/v1/responses/{response_id}"): "withdrawPaperResponse",
    ("POST", "/v1/responses/{response_id}/review"): "reviewResponse",
    ("GET", "/v1/survey-versions/{version_id}"): "getSurveyVersionById",
    ("GET", "/v1/surveys"): "listSurveys",
    ("POST", "/v1/surveys"): "createSurvey",
    ("GET", "/v1/surveys/{code}"): "getSurvey",
    ("POST", "/v1/surveys/{code}/versions"): "createSurveyVersion",
    ("GET", "/v1/surveys/{code}/versions/{version}"): "getSurveyVersion",
    ("PUT", "/v1/surveys/{code}/versions/{version}"): "updateSurveyDraft",
    ("POST", "/v1/surveys/{code}/versions/{version}/publish"): "publishSurveyVersion",
    ("GET", "/v1/units"): "listUnits",
    ("POST", "/v1/units"): "createUnit",
    ("GET", "/v1/units/{code}"): "getUnit",
    ("PATCH", "/v1/units/{code}"): "updateUnit",
    ("DELETE", "/v1/units/{code}"): "deleteUnit",
    ("GET", "/v1/units/{code}/documents/workbook.xlsx"): "getUnitWorkbook",
    ("GET", "/v1/units/{code}/form"): "getUnitForm",
    ("GET", "/v1/units/{code}/import-template"): "getImportTemplate",
    ("POST", "/v1/units/{code}/imports"): "createImport",
    ("GET", "/v1/units/{code}/populations"): "listPopulations",
    ("GET", "/v1/units/{code}/populations/{period}"): "getUnitPopulation",
    ("PUT", "/v1/units/{code}/populations/{period}"): "setUnitPopulation",
    ("DELETE", "/v1/units/{code}/populations/{period}"): "deleteUnitPopulation",
    ("GET", "/v1/units/{code}/services"): "listServices",
    ("POST", "/v1/units/{code}/services"): "createService",
    ("GET", "/v1/units/{code}/services/{service}"): "getService",
    ("PATCH", "/v1/units/{code}/services/{service}"): "updateService",
    ("DELETE", "/v1/units/{code}/services/{service}"): "deleteService",
    ("GET", "/v1/units/{code}/services/{service}/populations/{period}"): "getServicePopulation",
    ("PUT", "/v1/units/{code}/services/{service}/populations/{period}"): "setServicePopulation",
    (
        "DELETE",
        "/v1/units/{code}/services/{service}/populations/{period}",
    ): "deleteServicePopulation",
    ("GET", "/v1/units/{code}/publications"): "listPublications",
    ("POST", "/v1/units/{code}/publications"): "publishResult",
    ("POST", "/v1/units/{code}/sheets"): "printSheets",
    ("POST", "/v1/units/{code}/tickets"): "issueTickets",
    ("GET", "/v1/units/{code}/report-settings"): "getReportSettings",
    ("PUT", "/v1/units/{code}/report-settings"): "setReportSettings",
    ("GET", "/v1/units/{code}/documents/report.pdf"): "getReportPdf",
    ("GET", "/v1/units/{code}/documents/poster.pdf"): "getPosterPdf",
    ("GET", "/v1/units/{code}/documents/poster.png"): "getPosterPng",
    ("GET", "/v1/public/units/{code}/documents/report.pdf"): "getPublicReportPdf",
    ("GET", "/v1/public/units/{code}/documents/poster.pdf"): "getPublicPosterPdf",
    ("GET", "/v1/public/units/{code}/documents/poster.png"): "getPublicPosterPng",
    ("GET", "/v1/units/{code}/tree"): "getUnitTree",
    ("GET", "/v1/units/{code}/plans"): "listPlans",
    ("POST", "/v1/units/{code}/plans"): "createPlan",
    ("GET", "/v1/units/{code}/plans/{period}"): "getPlan",
    ("POST", "/v1/units/{code}/plans/{period}/close"): "closePlan",
    ("GET", "/v1/units/{code}/plans/{period}/evaluation"): "evaluatePlan",
    ("POST", "/v1/units/{code}/plans/{period}/items"): "addPlanItem",
    ("PATCH", "/v1/units/{code}/plans/{period}/items/{item_id}"): "updatePlanItem",
    ("DELETE", "/v1/units/{code}/plans/{period}/items/{item_id}"): "deletePlanItem",
    ("GET", "/v1/units/{code}/required-periods"): "getRequiredPeriods",
    ("PUT", "/v1/units/{code}/required-periods"): "setRequiredPeriods",
    ("GET", "/v1/compliance/{code}"): "getComplianceOverview",
    ("GET", "/v1/compliance/{code}/overview.xlsx"): "getComplianceWorkbook",
    ("GET", "/v1/compliance/{code}/overview.pdf"): "getComplianceTable",
    ("GET", "/v1/reminders/{code}"): "getReminders",
}


def operation_id(route: APIRoute) -> str:
    """The route's operation id from `OPERATION_IDS`; a route not listed there falls back
    on its endpoint function's name in camelCase (`list_units` → `listUnits`), and the
    OpenAPI test names it so that it gets a name of its own."""
    for method in sorted(route.methods or ()):
        named = OPERATION_IDS.get((method, route.path_format))
        if named is not None:
            return named
    head, *rest = route.name.strip("_").split("_")
    return head + "".join(word.capitalize() for word in rest)


# The operations that take no key: health probes, what a citizen's phone calls, and the
# exchange of a pairing code (the code is the credential).
KEYLESS_PATHS = re.compile(r"^/(health|v1/public/|v1/pairing-codes/exchange$)")
BEARER_SCHEME = "apiKey"
METRICS_SCHEME = "metricsToken"


def security_openapi(spec: dict[str, Any]) -> dict[str, Any]:
    """Declare the API key (`Authorization: Bearer …`) as the document's one security
    scheme, required by every operation but the keyless ones, so that `/docs` can send a
    key and a generated client knows which calls carry it."""
    spec["components"]["securitySchemes"] = {
        BEARER_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key, created by `skm create-key` or `POST /v1/keys`.",
        },
        METRICS_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "The metrics token (SKM_METRICS_TOKEN): /metrics only.",
        },
    }
    for path, path_item in spec["paths"].items():
        keyless = KEYLESS_PATHS.match(path) is not None
        scheme = METRICS_SCHEME if path == "/metrics" else BEARER_SCHEME
        for operation in path_item.values():
            operation["security"] = [] if keyless else [{scheme: []}]
    return spec
