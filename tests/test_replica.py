"""Reads from a streaming replica (SKM_DATABASE_READ_URL), on throwaway clusters.

A primary is made with `initdb` and a replica of it with `pg_basebackup -R`, each on a free
port in a temporary directory (as the `postgres` system user when the tests run as root:
both tools refuse root), never the machine's shared server: bench/clusters.py, shared with
the replica benchmark. Without PostgreSQL's server binaries the module is skipped, and the
summary says so; SKM_TEST_REQUIRE_REPLICA=1 (as in CI) fails instead. SKM_TEST_PG_BIN
names the binaries' directory.

A replica's replay is paused (`pg_wal_replay_pause()`) to make it fall behind at will: what
the index answers then shows which server it read.
"""

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.config import Settings
from app.main import create_app
from bench.clusters import Cluster, MissingBinaries, binaries, caught_up
from bench.clusters import clusters as throwaway_clusters
from tests.browser import free_port
from tests.conftest import app_settings, bearer, insert_key, migrated
from tests.factories import create_key, make_unit, response_item

REQUIRE_REPLICA = os.environ.get("SKM_TEST_REQUIRE_REPLICA") == "1"


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[Cluster, Cluster]]:
    """A primary with the service's schema (database `skm`) and a streaming replica of it."""
    try:
        binaries()
    except MissingBinaries as missing:
        message = f"replica tests not run: {missing}"
        if REQUIRE_REPLICA:
            pytest.fail(message + " and SKM_TEST_REQUIRE_REPLICA=1")
        pytest.skip(message)
    with throwaway_clusters(prepare=migrated) as pair:
        yield pair


@pytest.fixture
def paired(clusters: tuple[Cluster, Cluster]) -> Iterator[tuple[TestClient, Cluster, Cluster]]:
    """An app on the primary reading indices from the replica (at most an hour behind), its
    replica state probed on every request; a unit with one service; replay running again
    at the end."""
    primary, replica = clusters
    token = insert_key(primary.url("skm"))
    settings = app_settings(
        primary.url("skm"),
        database_read_url=replica.url("skm"),
        replica_max_lag_seconds=3600,
        max_collected_age_days=100_000,
        burst_seconds=0,  # identical answers from one key: counted, not flagged
    )
    with TestClient(create_app(settings), headers=bearer(token)) as client:
        replica_state = client.app.state.database.replica  # type: ignore[attr-defined]
        replica_state.check_seconds = replica_state.retry_seconds = 0
        code = f"u{free_port()}"
        make_unit(client, code, services=("ktp",))
        client.code = code  # type: ignore[attr-defined]
        caught_up(primary, replica)
        try:
            yield client, primary, replica
        finally:
            if not (replica.data / "postmaster.pid").exists():
                replica.start()
            replica.scalar("SELECT pg_wal_replay_resume()")


def post(client: TestClient, code: str, n: int, when: datetime | None = None) -> None:
    items = [response_item(code, "ktp", collected_at=when) for _ in range(n)]
    answer = client.post("/v1/responses/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    assert {item["status"] for item in answer.json()["items"]} == {"created"}


def index(client: TestClient, code: str, period: str, **headers: str) -> Any:
    answer = client.get(f"/v1/indices/{code}", params={"period": period}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def this_year() -> str:
    return str(datetime.now(UTC).year)


def test_indices_are_read_on_the_replica_with_its_own_update_time(
    paired: tuple[TestClient, Cluster, Cluster],
) -> None:
    """With replay paused, responses stored on the primary are not in the index (read on the
    replica), and `data_updated_at` is the replica's, matching the figures it serves; once
    the replica replays them, both move."""
    client, primary, replica = paired
    code, year = client.code, this_year()  # type: ignore[attr-defined]
    post(client, code, 3)
    caught_up(primary, replica)
    before = index(client, code, year)
    assert before["pooled"]["responses"] == 3
    replica.scalar("SELECT pg_wal_replay_pause()")
    post(client, code, 2)
    behind = index(client, code, year)
    assert behind["pooled"]["responses"] == 3  # the replica's figures, not the primary's 5
    assert behind["data_updated_at"] == before["data_updated_at"]
    replica.scalar("SELECT pg_wal_replay_resume()")
    caught_up(primary, replica)
    after = index(client, code, year)
    assert after["pooled"]["responses"] == 5
    assert after["data_updated_at"] > before["data_updated_at"]


def test_a_replica_too_far_behind_or_down_is_left_for_the_primary(
    paired: tuple[TestClient, Cluster, Cluster],
) -> None:
    """Further behind than SKM_REPLICA_MAX_LAG_SECONDS: the primary's figures; down: the
    primary's figures too (200, not 503); back and caught up: the replica again."""
    client, primary, replica = paired
    code, year = client.code, this_year()  # type: ignore[attr-defined]
    database = client.app.state.database  # type: ignore[attr-defined]
    post(client, code, 2)
    caught_up(primary, replica)
    replica.scalar("SELECT pg_wal_replay_pause()")
    post(client, code, 1)
    assert index(client, code, year)["pooled"]["responses"] == 2  # within the hour allowed
    database.replica.max_lag = 0.5
    time.sleep(1.0)  # the last commit the replica replayed is now over 0.5 s old
    assert index(client, code, year)["pooled"]["responses"] == 3
    assert database.replica.usable is False
    assert database.replica.lag is not None
    assert database.replica.lag > 0.5
    replica.stop()
    assert index(client, code, year)["pooled"]["responses"] == 3
    assert database.replica.lag is None
    replica.start()
    replica.scalar("SELECT pg_wal_replay_resume()")
    caught_up(primary, replica)
    database.replica.max_lag = 3600
    assert index(client, code, year)["pooled"]["responses"] == 3
    assert database.replica.usable is True


def test_a_revoked_key_stops_at_once_whatever_the_replicas_lag(
    paired: tuple[TestClient, Cluster, Cluster],
) -> None:
    """Keys are read on the primary: a key revoked there is refused by an index endpoint at
    once, though the paused replica still holds it unrevoked."""
    client, primary, replica = paired
    code, year = client.code, this_year()  # type: ignore[attr-defined]
    reader = create_key(client, "Dasbor", "reader", code)
    caught_up(primary, replica)
    replica.scalar("SELECT pg_wal_replay_pause()")
    authorised = {"Authorization": f"Bearer {reader['token']}"}
    assert index(client, code, year, **authorised)["unit"]["code"] == code
    revoked = client.post(f"/v1/keys/{reader['id']}/revoke")
    assert revoked.status_code == 200, revoked.text
    refused = client.get(f"/v1/indices/{code}", params={"period": year}, headers=authorised)
    assert refused.status_code == 401
    assert replica.scalar(
        f"SELECT revoked_at IS NULL FROM api_keys WHERE id = {reader['id']}"
    ) is True  # fmt: skip


def test_publication_records_are_read_on_the_primary(
    paired: tuple[TestClient, Cluster, Cluster],
) -> None:
    """A period published while the replica is paused: the index (read on the replica)
    already names the record, read on the primary, and says its figures agree."""
    client, primary, replica = paired
    code = client.code  # type: ignore[attr-defined]
    post(client, code, 4, datetime(2025, 2, 10, 3, tzinfo=UTC))
    caught_up(primary, replica)
    replica.scalar("SELECT pg_wal_replay_pause()")
    record = client.post(f"/v1/units/{code}/publications", json={"period": "2025-Q1"})
    assert record.status_code == 201, record.text
    on_replica = "SELECT count(*) FROM publications p JOIN units u ON u.id = p.unit_id"
    assert replica.scalar(f"{on_replica} WHERE u.code = '{code}'") == 0
    report = index(client, code, "2025-Q1")
    assert report["pooled"]["responses"] == 4
    assert report["publication"]["id"] == record.json()["id"]
    assert report["publication"]["differs"] is False


@pytest.mark.parametrize(
    ("primary", "replica"),
    [
        ("sqlite:///./skm.db", "postgresql://postgres@127.0.0.1:5432/skm"),
        ("postgresql://postgres@127.0.0.1:5432/skm", "sqlite:///./replica.db"),
    ],
)
def test_a_replica_needs_postgresql_on_both_sides(primary: str, replica: str) -> None:
    with pytest.raises(ValidationError, match="a read replica needs PostgreSQL on both sides"):
        Settings(database_url=primary, database_read_url=replica)


def test_a_unit_moved_out_of_a_scope_leaves_it_at_once_whatever_the_replicas_lag(
    paired: tuple[TestClient, Cluster, Cluster],
) -> None:
    """Units are found on the primary, like keys: a unit moved to another agency is refused
    to the first agency's reader at once (404), though the paused replica still has it there."""
    client, primary, replica = paired
    code = client.code  # type: ignore[attr-defined]
    first, second = f"{code}a", f"{code}b"
    make_unit(client, first, kind="agency")
    make_unit(client, second, kind="agency")
    moved = client.patch(f"/v1/units/{code}", json={"parent": first})
    assert moved.status_code == 200, moved.text
    reader = create_key(client, "Dasbor dinas", "reader", first)
    authorised = {"Authorization": f"Bearer {reader['token']}"}
    assert index(client, code, this_year(), **authorised)["unit"]["code"] == code
    caught_up(primary, replica)
    replica.scalar("SELECT pg_wal_replay_pause()")
    moved = client.patch(f"/v1/units/{code}", json={"parent": second})
    assert moved.status_code == 200, moved.text
    refused = client.get(f"/v1/indices/{code}", params={"period": this_year()}, headers=authorised)
    assert refused.status_code == 404, refused.text
    assert replica.scalar(
        f"SELECT path LIKE (SELECT path FROM units WHERE code = '{first}') || '%' "
        f"FROM units WHERE code = '{code}'"
    ) is True  # fmt: skip


def test_the_csv_export_streams_from_the_replica_and_falls_back_with_it(
    paired: tuple[TestClient, Cluster, Cluster],
) -> None:
    """The export's rows come from the replica while it is in use (a response stored on the
    primary during a paused replay is not in it yet) and from the primary once the replica
    is left behind."""
    client, primary, replica = paired
    code = client.code  # type: ignore[attr-defined]
    database = client.app.state.database  # type: ignore[attr-defined]

    def exported() -> int:
        answer = client.get("/v1/responses/export.csv", params={"unit": code})
        assert answer.status_code == 200, answer.text
        return len(answer.text.strip().splitlines()) - 1  # the header aside

    post(client, code, 2)
    caught_up(primary, replica)
    replica.scalar("SELECT pg_wal_replay_pause()")
    post(client, code, 1)
    assert exported() == 2  # the replica's rows
    database.replica.max_lag = 0.5
    time.sleep(1.0)
    assert exported() == 3  # left behind: the primary's
    assert database.replica.usable is False


def test_the_export_names_the_scopes_units_as_the_primary_has_them(
    paired: tuple[TestClient, Cluster, Cluster],
) -> None:
    """The export's rows stream from the replica, but the caller's subtree is read on the
    primary: a unit moved out of an agency is left out of that agency's export at once,
    though the paused replica still has it under the agency."""
    client, primary, replica = paired
    code = client.code  # type: ignore[attr-defined]
    first, second = f"{code}x", f"{code}y"
    make_unit(client, first, kind="agency")
    make_unit(client, second, kind="agency")
    assert client.patch(f"/v1/units/{code}", json={"parent": first}).status_code == 200
    post(client, code, 2)
    reader = create_key(client, "Ekspor dinas", "reader", first, read_responses=True)
    authorised = {"Authorization": f"Bearer {reader['token']}"}

    def exported() -> int:
        answer = client.get("/v1/responses/export.csv", params={"unit": first}, headers=authorised)
        assert answer.status_code == 200, answer.text
        return len(answer.text.strip().splitlines()) - 1  # the header aside

    caught_up(primary, replica)
    assert exported() == 2
    replica.scalar("SELECT pg_wal_replay_pause()")
    assert client.patch(f"/v1/units/{code}", json={"parent": second}).status_code == 200
    assert exported() == 0
    assert client.app.state.database.replica.usable is True  # type: ignore[attr-defined]
