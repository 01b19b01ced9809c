"""The service behind PgBouncer in transaction pooling mode (Debian's pgbouncer, 1.18: no
prepared statements in that mode), as the README's setup: SKM_DB_PREPARE=false.

A pgbouncer of the test's own is started on a free port, as an unprivileged user, in front
of the test server; the service runs through it: single and batch submissions, their
retries, flags and their review, index reads, every statement many times over on few server
connections (more than psycopg's threshold for preparing one). Skipped, with the reason,
when pgbouncer is not installed; SKM_TEST_REQUIRE_PGBOUNCER=1 (as in CI) fails instead.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from app.main import create_app
from tests.conftest import Seed, app_settings, bearer, connect, reset
from tests.factories import YEAR, all_answers, hierarchy, post_at, response_item

pytestmark = pytest.mark.postgresql_only

REQUIRE_PGBOUNCER = os.environ.get("SKM_TEST_REQUIRE_PGBOUNCER") == "1"
SEARCHED = ("/usr/sbin", "/usr/local/sbin", "/usr/bin")


def pgbouncer_program() -> str:
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path=os.pathsep.join(SEARCHED))
    if found is None:
        message = (
            "PgBouncer tests not run: no pgbouncer installed (Debian: apt-get install pgbouncer)"
        )
        if REQUIRE_PGBOUNCER:
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/userlist.txt
admin_users = {user}
pool_mode = transaction
default_pool_size = 3
server_round_robin = 1
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits
"""


@pytest.fixture(scope="module")
def pgbouncer(database_url: str) -> Iterator[str]:
    """A pgbouncer in transaction mode in front of the test database; the URL through it."""
    program = pgbouncer_program()
    target = make_url(database_url)
    listen = free_port()
    directory = Path(tempfile.mkdtemp(prefix="skm-pgbouncer-"))
    directory.chmod(0o755)
    (directory / "pgbouncer.ini").write_text(
        CONFIG.format(
            host=target.host or "127.0.0.1",
            port=target.port or 5432,
            listen=listen,
            directory=directory,
            user=target.username,
        )
    )
    (directory / "userlist.txt").write_text(f'"{target.username}" ""\n')
    for made in directory.iterdir():
        made.chmod(0o644)
    command = [program, str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        user = "nobody"
        pwd.getpwnam(user)
        command = ["runuser", "-u", user, "--", *command]
    log = (directory / "pgbouncer.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = target.set(host="127.0.0.1", port=listen).render_as_string(hide_password=False)
    try:
        for _ in range(500):
            if process.poll() is not None:
                pytest.fail(f"pgbouncer exited: {(directory / 'pgbouncer.log').read_text()}")
            try:
                with connect(url) as conn:
                    conn.execute("SELECT 1")
                break
            except Exception:  # not listening yet
                time.sleep(0.02)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def bounced(
    pgbouncer: str, admin_token: str, reset_engine: Engine, seed: Seed
) -> Iterator[TestClient]:
    """The app through pgbouncer (its own pool larger than pgbouncer's 3 server
    connections, so that statements travel between server connections), calling as the
    administrator; the database emptied afterwards (directly)."""
    settings = app_settings(pgbouncer, db_pool_size=6, db_prepare=False)
    with TestClient(create_app(settings), headers=bearer(admin_token)) as client:
        yield client
        reset(client, reset_engine, seed)


def minutes_ago(n: int) -> datetime:
    """Submissions a minute apart: identical answers from one key are not a burst."""
    return datetime.now(UTC) - timedelta(minutes=5 + n)


def test_pgbouncer_serves_submissions_flags_and_indices(bounced: TestClient) -> None:
    hierarchy(bounced)
    kiosk = bounced.post("/v1/keys", json={"name": "k", "role": "collector", "scope": "capil"})
    assert kiosk.status_code == 201, kiosk.text
    token = kiosk.json()["token"]

    # Single submissions, each statement run far more often than psycopg's threshold for
    # preparing it (5), and their retries.
    created = []
    for n in range(30):
        item = response_item("capil", "ktp", all_answers(1 + n % 4), collected_at=minutes_ago(n))
        answer = bounced.post("/v1/responses", json=item)
        assert answer.status_code == 201, answer.text
        created.append(item)
    for item in created[:10]:
        assert bounced.post("/v1/responses", json=item).status_code == 200

    # Concurrent submissions: the app's pool opens several client connections, pgbouncer
    # several server connections, and a statement's transactions go from one to another
    # (with statements prepared, this is where they fail: "prepared statement … does not
    # exist" or "already exists").
    def submit(n: int) -> int:
        item = response_item("capil", "ktp", all_answers(4), collected_at=minutes_ago(200 + n))
        return bounced.post("/v1/responses", json=item).status_code

    with ThreadPoolExecutor(6) as threads:
        assert list(threads.map(submit, range(60))) == [201] * 60

    # Batches: a fresh one, then its replay.
    items = [
        response_item("capil", "ktp", all_answers(1 + n % 4), collected_at=minutes_ago(100 + n))
        for n in range(40)
    ]
    for expected in ("created", "duplicate"):
        answer = bounced.post("/v1/responses/batch", json={"items": items})
        assert answer.status_code == 200, answer.text
        assert answer.json()[expected] == 40

    # A burst from one kiosk is flagged, listed and reviewed.
    post_at(bounced, token, 0)
    second = post_at(bounced, token, 10)
    assert second["flag"] == "suspected"
    flags = bounced.get("/v1/flags", params={"unit": "capil"})
    assert flags.status_code == 200, flags.text
    assert [f["response"]["id"] for f in flags.json()["items"]] == [second["id"]]
    review = bounced.post(f"/v1/responses/{second['id']}/review", json={"decision": "confirm"})
    assert review.status_code == 200, review.text

    # Index reads (REPEATABLE READ, READ ONLY transactions), many times over.
    for _ in range(8):
        index = bounced.get("/v1/indices/capil", params={"period": YEAR})
        assert index.status_code == 200, index.text
    # By hand: 30 singles scoring 1,2,3,4 in turn (8+8+7+7: 73 per element), 60 concurrent
    # ones scoring 4 (240), 40 in the batch (10 each: 100), and the burst's first (3; its
    # second is confirmed, left out): 416 over 131 responses, IKM 416/131 × 25 = 79.39.
    pooled = index.json()["pooled"]
    assert (pooled["responses"], pooled["index_exact"], pooled["ikm"]) == (131, "416/131", 79.39)
    listed = bounced.get("/v1/responses", params={"unit": "capil", "limit": 500})
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["items"]) == 132


def test_the_service_went_through_pgbouncer(pgbouncer: str, bounced: TestClient) -> None:
    """pgbouncer's admin console counts the clients it served for the test database."""
    assert bounced.get("/v1/units").status_code == 200
    target = make_url(pgbouncer)
    with connect(target.set(database="pgbouncer").render_as_string(hide_password=False)) as admin:
        rows = admin.execute("SHOW STATS").fetchall()
    served = {row[0]: row for row in rows}
    assert target.database in served
