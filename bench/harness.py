"""Shared pieces of the read benchmarks (`bench.indices`, `bench.export`): fresh databases,
the real service in a uvicorn subprocess (one worker, no access log), its resident memory
and CPU time from /proc, and percentiles. Not a benchmark itself.
"""

import hashlib
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import psycopg
from alembic import command
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from app.cli import alembic_config
from app.db import sync_url

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "SKM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# The service as deployed, except for rate limits high enough not to refuse a benchmark
# (the limiter still runs on every request) and quiet logs.
SERVICE_ENV = {
    "SKM_LOG_LEVEL": "WARNING",
    "SKM_RATE_LIMIT_KEY": "1000000/minute",
    "SKM_RATE_LIMIT_PUBLIC": "1000000/minute",
}
# Seconds for the service to answer /health: a loaded machine took 22 s to import it.
START_TIMEOUT = 90.0
MB = 1_000_000


class BenchError(Exception):
    """The benchmark could not run as set up, or a check failed."""


def fresh_database(backend: str, name: str, directory: Path) -> str:
    """The URL of a new, empty database `name`: on PostgreSQL dropped (with its sessions)
    and created through ADMIN_URL; on SQLite a file in `directory`, removed first."""
    if backend == "sqlite":
        path = directory / f"{name}.db"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def read_rss(pid: int) -> int:
    """VmRSS of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rpartition(")")[2].split()  # fields 3 onwards; utime and stime: 14, 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Service:
    """`uvicorn app.main:create_app --factory --workers 1`: the process is the worker."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        return read_rss(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_healthy(service: Service) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx2.Client(base_url=service.base_url, timeout=5.0) as client:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise BenchError(f"the service exited at start:\n{service.log_tail()}")
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.2)
    raise BenchError(f"the service did not answer /health in {START_TIMEOUT:g} s")


def migrate(url: str) -> None:
    """Apply the migrations to the database at `url`."""
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["configure_logging"] = False
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def launch(
    app: str,
    database_url: str,
    directory: Path,
    name: str,
    root: Path = ROOT,
    settings: Mapping[str, str] | None = None,
) -> Service:
    """`uvicorn APP --factory --workers 1` on a free loopback port, with the service's
    benchmark settings (and `settings`, SKM_* variables), its output in
    `directory`/NAME-PORT.log (not yet healthy). `root`: the checkout whose code it runs
    (another one's `app` package comes first on the path)."""
    path = {} if root == ROOT else {"PYTHONPATH": str(root)}
    port = free_port()
    log = directory / f"{name}-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", app, "--factory"),
                *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
                *("--log-level", "warning", "--no-access-log"),
            ],
            cwd=root,
            env={
                **os.environ,
                **SERVICE_ENV,
                **path,
                "SKM_DATABASE_URL": database_url,
                **(settings or {}),
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Service(process, port, log)


@contextmanager
def serving(database_url: str, directory: Path) -> Iterator[Service]:
    """The real service on a free loopback port, healthy; stopped on the way out."""
    service = launch("app.main:create_app", database_url, directory, "service")
    try:
        wait_until_healthy(service)
        yield service
    finally:
        service.stop()


def code_version() -> str:
    """A fingerprint of the service's code (app/ and migrations/): tells apart runs made
    while the code changes between them."""
    digest = hashlib.sha256()
    for path in sorted([*ROOT.glob("app/**/*.py"), *ROOT.glob("migrations/**/*.py")]):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def code_note(at_start: str) -> str:
    """'service code <fingerprint>', saying so if the code changed since `at_start`."""
    now = code_version()
    changed = f" (changed to {now} during the run)" if now != at_start else ""
    return f"service code {at_start}{changed}"


def percentile(samples: Sequence[float], quantile: float) -> float:
    """Nearest-rank percentile (quantile in 0..1) of a non-empty sample."""
    ordered = sorted(samples)
    rank = min(len(ordered), max(1, math.ceil(quantile * len(ordered))))
    return ordered[rank - 1]
