"""What an operator sees: a request id on every log line and problem answer, log lines as
text or JSON, and Prometheus metrics under `skm_` names (served by `routers.metrics`).

Metrics live in this module's registry, created once per process. With several worker
processes (`skm serve --workers N`) each worker writes its values to files in
PROMETHEUS_MULTIPROC_DIR (set by `skm serve`), and a scrape of any worker reads them all:
counters and histograms are summed over workers, the pool gauges over live workers.
Per request the cost is one histogram observation, in `Observe` (see bench/observability.py
for the figures).
"""

import itertools
import json
import logging
import os
import re
import secrets
import sys
import time
from collections import Counter as Tally
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.vocabulary import CHANNELS

# Fixed when the process imports this module, as prometheus_client fixes its own mode.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

# --- request ids -------------------------------------------------------------------------------

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER = REQUEST_ID_HEADER.lower().encode()
# An incoming id is kept when it is short and plain (a proxy's UUID, a trace id); anything
# else (too long, spaces, quotes, control characters) is replaced by one of ours, so that
# a client cannot write into the logs through it.
_SANE_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
_request_id: ContextVar[str | None] = ContextVar("skm_request_id", default=None)
# Our ids: 16 random hex digits drawn once per process, then a counter (16 hex digits), so
# that ids are unique across workers and instances, and one costs no system call (a
# uuid4 per request cost more than the rest of the middleware).
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    return _request_id.get()


def _incoming_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == _HEADER:
            return value.decode("ascii") if _SANE_ID.fullmatch(value) else None
    return None


# --- metrics -----------------------------------------------------------------------------------

REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
OUTCOMES = ("created", "duplicate", "conflict", "invalid")
UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404)

REQUESTS = Histogram(
    "skm_http_request_duration_seconds",
    "Time from a request's arrival to its last byte sent, by method, route template and "
    "status; its _count is the number of requests",
    ("method", "route", "status"),
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
RESPONSES = Counter(
    "skm_responses",
    "Survey responses submitted, by channel and outcome (created, duplicate, conflict, "
    "invalid); a body refused whole by its schema counts only as a 422 request",
    ("channel", "outcome"),
    registry=REGISTRY,
)
BATCH_ITEMS = Histogram(
    "skm_batch_items",
    "Items per batch submission",
    buckets=BATCH_BUCKETS,
    registry=REGISTRY,
)
FLAGS = Counter(
    "skm_flags_raised",
    "Responses stored flagged as a suspected burst, by channel",
    ("channel",),
    registry=REGISTRY,
)
UNAVAILABLE = Counter(
    "skm_unavailable",
    "Requests answered 503 because the database or Redis could not serve them, by reason",
    ("reason",),
    registry=REGISTRY,
)
POOL_SIZE = Gauge(
    "skm_db_pool_size",
    "Connections the database pools may hold (summed over live workers)",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_IN_USE = Gauge(
    "skm_db_pool_in_use",
    "Pooled database connections checked out by requests (summed over live workers)",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "skm_db_pool_waiting",
    "Requests waiting for a pooled connection, or for one to be opened (summed over live workers)",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
REPLICA_USABLE = Gauge(
    "skm_db_replica_usable",
    "1 while the read replica (SKM_DATABASE_READ_URL) serves reads, 0 while they fall back to "
    "the primary (replica down or further behind than SKM_REPLICA_MAX_LAG_SECONDS)",
    registry=REGISTRY,
    multiprocess_mode="liveall",
)
WORKER_STARTED = Gauge(
    "skm_worker_start_time_seconds",
    "When each live worker process started serving (Unix time; one series per worker pid "
    "when there are several)",
    registry=REGISTRY,
    multiprocess_mode="liveall",
)

_CHANNELS = frozenset(CHANNELS)


def _channel(value: object) -> str:
    """A channel's label; any other value (a refused body's) is 'other', so that clients
    cannot grow the number of series."""
    return value if isinstance(value, str) and value in _CHANNELS else "other"


# RESPONSES' series by (channel, outcome): looked up once (`labels` takes a lock each time).
_RESPONSES_BY_LABELS: dict[tuple[str, str], Any] = {}


def _responses(channel: str, outcome: str) -> Any:
    child = _RESPONSES_BY_LABELS.get((channel, outcome))
    if child is None:
        child = _RESPONSES_BY_LABELS[(channel, outcome)] = RESPONSES.labels(channel, outcome)
    return child


def count_submission(channel: object, outcome: str, flagged: bool) -> None:
    """Count one submitted response (a single submission's `count_submissions`)."""
    label = _channel(channel)
    _responses(label, outcome).inc()
    if flagged:
        FLAGS.labels(label).inc()


def count_submissions(outcomes: Iterable[tuple[object, str, bool]]) -> None:
    """Count submitted responses: (channel, outcome, flagged) each. A batch's items are
    tallied first, so that a batch costs a few counter updates, not one per item."""
    tally = Tally((_channel(channel), outcome, flagged) for channel, outcome, flagged in outcomes)
    flagged_by_channel: Tally[str] = Tally()
    for (channel, outcome, flagged), n in tally.items():
        _responses(channel, outcome).inc(n)
        if flagged:
            flagged_by_channel[channel] += n
    for channel, n in flagged_by_channel.items():
        FLAGS.labels(channel).inc(n)


def count_refused(channel: object, status: int) -> None:
    """A single submission refused with a problem: 409 is a conflict, 422 invalid."""
    outcome = {409: "conflict", 422: "invalid"}.get(status)
    if outcome is not None:
        _responses(_channel(channel), outcome).inc()


def count_unavailable(reason: str) -> None:
    UNAVAILABLE.labels(reason).inc()


def worker_started() -> None:
    WORKER_STARTED.set(time.time())


def worker_stopped() -> None:
    """A worker shutting down takes its live gauges out of the sums."""
    if MULTIPROCESS_DIR is not None:
        multiprocess.mark_process_dead(os.getpid(), MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]


def exposition() -> bytes:
    """The metrics in Prometheus' text format: this process's, or with several workers
    every worker's, read from PROMETHEUS_MULTIPROC_DIR."""
    if MULTIPROCESS_DIR is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, MULTIPROCESS_DIR)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


# --- the middleware ----------------------------------------------------------------------------


class Observe:
    """Outermost ASGI middleware: gives each request its id (the client's X-Request-ID when
    sane, else a new one), sends it back as a header, and observes the request's duration by
    method, route template and status (a 500 included: it wraps Starlette's error handler).
    Plain ASGI, no per-request objects beyond a closure."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = _incoming_id(scope["headers"])
        rid = given if given is not None else new_request_id()
        # Not reset afterwards: the server runs each request in a task of its own, whose
        # context dies with it; error handlers outside this middleware still see the id.
        _request_id.set(rid)
        header = (_HEADER, rid.encode("ascii"))
        status = 500
        observed = False

        def observe() -> None:
            nonlocal observed
            observed = True
            route = scope.get("route")
            template = getattr(route, "path_format", None) or UNMATCHED
            key = (scope["method"], template, status)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = REQUESTS.labels(*key)
            child.observe(time.perf_counter() - started)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Counted before the last of the answer leaves: a client that has its answer
                # finds it counted (a scrape right after it, answered by another worker).
                observe()
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if not observed:
                observe()


# --- logs --------------------------------------------------------------------------------------


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id,
    and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The service's own handler on the root logger (replaced, never doubled, when another
    app is created in the same process). It writes to whatever `sys.stderr` is when a line
    is emitted, not when the handler was made (a test's captured stream may be closed)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        return None


def configure_logging(level: str, log_format: str) -> None:
    """Every log line through one handler on the root logger, with the request id: the
    service's (`app.*`) and uvicorn's (its error and access logs), as text or as JSON
    lines (SKM_LOG_FORMAT)."""
    handler = _Handler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    logging.getLogger("app").setLevel(level)
    logging.getLogger("alembic").setLevel(level)  # `skm serve`'s migrations at start-up
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
