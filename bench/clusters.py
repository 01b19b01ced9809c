"""Throwaway PostgreSQL clusters: a primary made with `initdb` and a streaming replica of it
made with `pg_basebackup -R`, each on a free port in a temporary directory, never the
machine's shared server. Used by tests/test_replica.py and bench/replica.py.

Both tools refuse to run as root: when this process is root they run (and so do the
servers) as the `postgres` system user. SKM_TEST_PG_BIN names the server binaries'
directory; otherwise the newest /usr/lib/postgresql/*/bin is used. Everything made is
removed on the way out of `clusters()`, on an error or Ctrl-C too.
"""

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench.harness import free_port

OWNER = "postgres"  # who runs initdb, pg_basebackup and the servers when we are root
DATABASE = "skm"  # made on the primary by `clusters()`
# Server settings of the tests' clusters: nothing must survive a crash, so nothing is synced.
FAST = {"fsync": "off"}


class MissingBinaries(Exception):
    """No PostgreSQL server binaries (initdb, pg_basebackup) on this machine."""


def binaries() -> Path:
    """The directory of the newest PostgreSQL server binaries (or SKM_TEST_PG_BIN's)."""
    named = os.environ.get("SKM_TEST_PG_BIN")
    found = [Path(named)] if named else sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    usable = [path for path in found if (path / "pg_basebackup").exists()]
    if not usable:
        raise MissingBinaries("no PostgreSQL server binaries (initdb, pg_basebackup)")
    return usable[-1]  # the newest major version


def connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit psycopg connection to the database of a SQLAlchemy-style URL."""
    parts = make_url(url)
    return psycopg.connect(
        host=parts.host,
        port=parts.port or 5432,
        user=parts.username,
        dbname=parts.database,
        connect_timeout=3,
        autocommit=True,
    )


class Cluster:
    """One throwaway PostgreSQL cluster: a data directory and a port of its own."""

    def __init__(
        self, binaries: Path, root: Path, name: str, settings: Mapping[str, str] = FAST
    ) -> None:
        self.binaries = binaries
        self.root = root
        self.data = root / name
        self.port = free_port()
        self.settings = dict(settings)

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.binaries / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OWNER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        log = str(self.root / f"{self.data.name}.log")
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def scalar(self, sql: str) -> Any:
        with connect(self.url()) as conn:
            row = conn.execute(sql).fetchone()
            return row[0] if row else None

    def pids(self) -> list[int]:
        """The postmaster and every process it has started (backends, walsender, …)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        found = [postmaster]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
            if parent == postmaster:
                found.append(int(stat.parent.name))
        return found

    def pin(self, cpus: Collection[int]) -> None:
        """Run the whole cluster on `cpus` (processes it starts later inherit them)."""
        for pid in self.pids():
            pin(pid, cpus)


def pin(pid: int, cpus: Collection[int]) -> None:
    """Run every thread of process `pid` on `cpus` (threads it starts later inherit them)."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(ProcessLookupError):  # a thread or process ended meanwhile
            os.sched_setaffinity(int(task.name), cpus)


@contextmanager
def cluster(settings: Mapping[str, str] = FAST, name: str = "primary") -> Iterator[Cluster]:
    """One throwaway cluster with an empty database `skm`, started with `settings`; stopped
    and removed on the way out. Raises MissingBinaries without the server binaries."""
    tools = binaries()
    root = Path(tempfile.mkdtemp(prefix="skm-cluster-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(OWNER)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    primary = Cluster(tools, root, name, settings)
    try:
        primary.run("initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust")
        primary.start()
        with connect(primary.url("postgres")) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        yield primary
    finally:
        if primary.running:
            primary.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def clusters(
    prepare: Callable[[str], object], settings: Mapping[str, str] = FAST
) -> Iterator[tuple[Cluster, Cluster]]:
    """A primary with a database `skm` (given to `prepare` by URL before the replica is made)
    and a streaming replica of it, both started with `settings`; both stopped and removed
    on the way out (the replica first). Raises MissingBinaries without the server binaries."""
    with cluster(settings) as primary:
        prepare(primary.url())
        replica = Cluster(primary.binaries, primary.root, "replica", settings)
        try:
            replica.run(
                "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                "-D", str(replica.data), "-R", "-X", "stream", "--checkpoint=fast",
            )  # fmt: skip
            replica.start()
            yield primary, replica
        finally:
            if replica.running:
                replica.stop()


def caught_up(primary: Cluster, replica: Cluster, timeout: float = 30) -> None:
    """Wait until the replica has replayed everything the primary has written."""
    target = primary.scalar("SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replica.scalar(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
            return
        time.sleep(0.05)
    raise AssertionError("the replica did not catch up")
