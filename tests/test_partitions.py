"""Monthly partitions of responses (PostgreSQL) and the registry of response ids (both
databases): the conversion migration keeps every row both ways; the same id in another month
is a conflict, as it was with one table; `skm partitions maintain` creates the months ahead
and moves nothing out of DEFAULT unless asked; `skm partitions archive` writes a month with
its manifest, detaches it and keeps its ids, so that a replay (single, batch, paper) is
recognised and the indices stay exact. The conversion and the archive tests run on a
throwaway cluster of their own (initdb; they rewrite and drop tables), the others on the
session's database. Expected figures are worked out by hand."""

import csv
import gzip
import hashlib
import io
import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from psycopg import RawCursor, sql
from sqlalchemy import Engine, create_engine, insert, select, text

from app.bursts import compared_months
from app.cli import alembic_config
from app.db import sync_url
from app.ingest import _key_and_references
from app.main import create_app
from app.models import AuditEntry, ResponseId, Service, Unit
from app.partitions import (
    DEFAULT_PARTITION,
    archive_command,
    ensure_months,
    maintain_command,
    months,
    partition_name,
    partitions,
)
from app.statements import _compiled
from app.stored_responses import RESPONSES
from bench.clusters import Cluster, MissingBinaries, cluster, connect
from tests.conftest import (
    app_settings,
    bearer,
    drop_postgres_database,
    insert_key,
    migrated,
    postgres_database,
)
from tests.factories import all_answers, hierarchy, response_item, scores

MARCH, APRIL = date(2025, 3, 1), date(2025, 4, 1)
# As for tests/test_replica.py: CI requires the server binaries the throwaway cluster needs.
REQUIRE_CLUSTERS = os.environ.get("SKM_TEST_REQUIRE_REPLICA") == "1"


def _at(day: date, hour: int = 10) -> str:
    """An instant of `day` in Makassar (WITA, +08:00): the units' zone."""
    return f"{day.isoformat()}T{hour:02d}:00:00+08:00"


def _run(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.begin() as conn:
        return conn.execute(text(sql), params).all()


# --- the conversion migration ------------------------------------------------------------


@pytest.fixture(scope="module")
def throwaway() -> Iterator[Cluster]:
    """A PostgreSQL cluster of this module's own (initdb on a free port, removed at the end):
    the conversion and the archive rewrite and drop tables, never on the shared server."""
    try:
        with cluster() as made:
            yield made
    except MissingBinaries as missing:
        message = f"partition tests on a throwaway cluster not run: {missing}"
        if REQUIRE_CLUSTERS:
            pytest.fail(message + " and SKM_TEST_REQUIRE_REPLICA=1")
        pytest.skip(message)


def _database(where: Cluster, name: str) -> str:
    with connect(where.url("postgres")) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return where.url(name)


@pytest.fixture
def scratch(throwaway: Cluster) -> Iterator[str]:
    yield _database(throwaway, "partition_migration")
    with connect(throwaway.url("postgres")) as conn:
        conn.execute("DROP DATABASE partition_migration WITH (FORCE)")


def _migrate(url: str, target: str, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["configure_logging"] = False
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(config, target)
    finally:
        engine.dispose()  # a refused migration too: its connection is not left to the GC


def test_the_conversion_keeps_every_row_both_ways(scratch: str) -> None:
    _migrate(scratch, "0009")
    engine = create_engine(sync_url(scratch))
    now = datetime.now(UTC)
    days = [date(2025, 11, 30), date(2026, 1, 2), date(2026, 1, 31)]
    ids = [uuid.uuid4() for _ in days]
    with engine.begin() as conn:
        conn.execute(
            insert(Unit).values(
                id=1,
                code="u",
                name="U",
                kind="agency",
                path="/1/",
                time_zone="Asia/Makassar",
                time_zone_inherited=False,
            )
        )
        conn.execute(insert(Service).values(id=1, unit_id=1, code="s", name="S"))
        for response_id, day in zip(ids, days, strict=True):
            conn.execute(
                insert(RESPONSES).values(
                    id=response_id,
                    unit_id=1,
                    service_id=1,
                    survey_version_id=1,
                    channel="kiosk",
                    collected_at=now,
                    received_at=now,
                    local_date=day,
                    content_hash=f"hash of {day}",
                    **all_answers(3),
                )
            )
    _migrate(scratch, "head")
    [(kind,)] = _run(engine, "SELECT relkind FROM pg_class WHERE relname = 'responses'")
    assert kind == "p"
    with engine.connect() as conn:
        found = [(p.name, p.start) for p in partitions(conn)]
    # From the oldest month stored (2025-11) to three months after this one, and DEFAULT.
    today = now.date().replace(day=1)
    expected = months(date(2025, 11, 1), (today + timedelta(days=31 * 3 + 5)).replace(day=1))
    assert found == [(f"responses_y{m:%Y}m{m:%m}", m) for m in expected] + [
        (DEFAULT_PARTITION, None)
    ]
    rows = _run(engine, "SELECT tableoid::regclass::text, id, local_date FROM responses")
    assert sorted(rows) == sorted(
        [
            ("responses_y2025m11", ids[0], days[0]),
            ("responses_y2026m01", ids[1], days[1]),
            ("responses_y2026m01", ids[2], days[2]),
        ]
    )
    registered = _run(engine, "SELECT id, unit_id, local_date, content_hash FROM response_ids")
    assert sorted(registered) == sorted(
        (i, 1, d, f"hash of {d}") for i, d in zip(ids, days, strict=True)
    )
    key = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pk_responses'"
    assert _run(engine, key) == [("PRIMARY KEY (id, local_date)",)]
    indexes = (
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'responses' AND indexname LIKE 'ix_%'"
    )
    assert _run(engine, indexes) == [(5,)]
    foreign = (
        "SELECT count(*) FROM pg_constraint "
        "WHERE conrelid = 'responses'::regclass AND contype = 'f'"
    )
    assert _run(engine, foreign) == [(5,)]
    options = "SELECT reloptions FROM pg_class WHERE relname = 'daily_aggregates'"
    assert _run(engine, options) == [
        (
            [
                "fillfactor=70",
                "autovacuum_vacuum_scale_factor=0.01",
                "autovacuum_analyze_scale_factor=0.02",
            ],
        )
    ]

    _migrate(scratch, "0009", down=True)
    [(kind,)] = _run(engine, "SELECT relkind FROM pg_class WHERE relname = 'responses'")
    assert kind == "r"
    assert sorted(_run(engine, "SELECT id, local_date FROM responses")) == sorted(
        zip(ids, days, strict=True)
    )
    assert _run(engine, key) == [("PRIMARY KEY (id)",)]
    assert _run(engine, indexes) == [(5,)]
    assert _run(engine, foreign) == [(5,)]
    assert _run(engine, "SELECT count(*) FROM pg_class WHERE relname LIKE 'responses_y%'") == [(0,)]
    engine.dispose()


# --- the same id in another month --------------------------------------------------------


def test_the_same_id_in_another_month_is_a_conflict(history: TestClient) -> None:
    hierarchy(history)
    first = response_item("capil", "ktp", collected_at=_at(date(2025, 3, 10)))
    assert history.post("/v1/responses", json=first).status_code == 201
    moved = {**first, "collected_at": _at(date(2025, 4, 10))}
    single = history.post("/v1/responses", json=moved)
    assert (single.status_code, single.json()["type"]) == (409, "urn:skm:problem:id-conflict")
    batch = history.post("/v1/responses/batch", json={"items": [moved]})
    assert [r["status"] for r in batch.json()["items"]] == ["conflict"]
    listed = history.get("/v1/responses", params={"unit": "capil"}).json()["items"]
    assert [(r["id"], r["local_date"]) for r in listed] == [(first["id"], "2025-03-10")]


def test_maintain_and_archive_say_so_on_sqlite(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite: one table, nothing to partition")
    out = io.StringIO()
    settings = app_settings(database_url)
    assert maintain_command(settings, 3, False, out) == 0
    assert archive_command(settings, MARCH, tmp_path, out, today=date(2026, 1, 1)) == 2
    assert out.getvalue() == (
        "responses is not partitioned on this database: nothing to do\n"
        "responses is not partitioned on this database: nothing to archive\n"
    )


# --- maintain and archive, on a database of their own ------------------------------------


@pytest.fixture(scope="module")
def own_database(throwaway: Cluster) -> str:
    url = _database(throwaway, "partitions")
    _migrate(url, "head")
    return url


@pytest.fixture(scope="module")
def archived(
    own_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Responses in March and April 2025 (one a paper sheet imported in March), their
    index and breakdowns read, then March archived to a directory of its own."""
    tmp_path = tmp_path_factory.mktemp("archive")
    engine = create_engine(sync_url(own_database))
    with engine.begin() as conn:
        assert ensure_months(conn, months(MARCH, APRIL)).blocked == {}
    settings = app_settings(own_database, max_collected_age_days=100_000)
    token = insert_key(own_database)
    client = TestClient(create_app(settings), headers=bearer(token))
    with client:
        hierarchy(client)
        march = [
            response_item("capil", "ktp", scores(4, 3, 3, 4, 3, 4, 4, 3, 3), _at(MARCH)),
            response_item(
                "capil",
                "ktp",
                all_answers(2),
                _at(date(2025, 3, 31), 23),
                suggestion='Antre lama,\n"ruang tunggu" panas',
                profile={"gender": "P"},
            ),
        ]
        april = response_item("capil", "ktp", all_answers(4), _at(APRIL))
        for item in [*march, april]:
            assert client.post("/v1/responses", json=item).status_code == 201, item
        elements = ";".join(all_answers(1))
        paper = f"date;service;{elements}\n2025-03-15;ktp;{';'.join(['1'] * 9)}\n"
        imported = client.post("/v1/units/capil/imports", content=paper.encode())
        assert imported.status_code == 202, imported.text
        assert _wait(client, imported.json()["id"])["stored"] == 1
        import_id = imported.json()["id"]
        period = {"period": "2025-03"}
        before = {
            "index": client.get("/v1/indices/capil", params=period).json(),
            "by_gender": client.get(
                "/v1/indices/capil/breakdown", params={**period, "by": "gender"}
            ).json(),
            "by_service": client.get(
                "/v1/indices/capil/breakdown", params={**period, "by": "service"}
            ).json(),
        }
        out = io.StringIO()
        status = archive_command(
            app_settings(own_database), APRIL, tmp_path, out, today=date(2025, 12, 1)
        )
        yield {
            "client": client,
            "engine": engine,
            "march": march,
            "april": april,
            "paper": paper,
            "import_id": import_id,
            "before": before,
            "status": status,
            "out": out.getvalue(),
            "dir": tmp_path,
        }
    engine.dispose()


def _wait(client: TestClient, import_id: int) -> dict[str, Any]:
    for _ in range(2400):  # a bound, not a timing
        status: dict[str, Any] = client.get(f"/v1/imports/{import_id}").json()
        if status["state"] in ("done", "failed"):
            return status
    raise AssertionError(f"import {import_id} did not end")


def test_archive_writes_the_month_with_its_manifest_and_detaches_it(
    archived: dict[str, Any],
) -> None:
    assert archived["status"] == 0, archived["out"]
    folder: Path = archived["dir"]
    data = folder / "responses-2025-03.csv.gz"
    manifest = json.loads((folder / "responses-2025-03.manifest.json").read_text())
    assert manifest["rows"] == 3
    assert manifest["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    with gzip.open(data, "rt", encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header == manifest["columns"]
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    march = archived["march"]
    assert set(by_id) >= {march[0]["id"], march[1]["id"]}
    assert by_id[march[1]["id"]]["suggestion"] == 'Antre lama,\n"ruang tunggu" panas'
    assert by_id[march[1]["id"]]["local_date"] == "2025-03-31"
    assert archived["out"].startswith("archived responses_y2025m03: 3 rows to ")
    engine: Engine = archived["engine"]
    with engine.connect() as conn:
        names = [p.name for p in partitions(conn)]
        assert "responses_y2025m03" not in names
        assert "responses_y2025m04" in names
        kept = select(RESPONSES.c.id).where(RESPONSES.c.local_date < date(2030, 1, 1))
        assert conn.execute(kept).scalars().all() == [uuid.UUID(archived["april"]["id"])]
        assert len(conn.execute(select(ResponseId.id)).all()) == 4  # the ids kept
        [entry] = conn.execute(
            select(AuditEntry.target, AuditEntry.details).where(
                AuditEntry.action == "archive-responses"
            )
        ).all()
    assert entry.target == "responses 2025-03"
    assert entry.details["rows"] == 3


def test_a_replay_of_an_archived_response_is_recognised(archived: dict[str, Any]) -> None:
    client: TestClient = archived["client"]
    [first, second] = archived["march"]
    single = client.post("/v1/responses", json=first)
    assert (single.status_code, single.json()["type"]) == (409, "urn:skm:problem:response-archived")
    other = {**second, "answers": all_answers(1)}
    batch = client.post("/v1/responses/batch", json={"items": [second, other, first]})
    results = batch.json()["items"]
    assert [(r["status"], r.get("response")) for r in results] == [
        ("duplicate", None),
        ("conflict", None),
        ("duplicate", None),
    ]
    # The same id sent for April (its partition still attached): a conflict, as before.
    moved = {**first, "collected_at": _at(APRIL)}
    conflict = client.post("/v1/responses", json=moved)
    assert (conflict.status_code, conflict.json()["type"]) == (409, "urn:skm:problem:id-conflict")
    april = client.get("/v1/responses", params={"unit": "capil", "period": "2025-04"}).json()
    assert first["id"] not in [r["id"] for r in april["items"]]
    again = client.post("/v1/units/capil/imports", content=archived["paper"].encode())
    status = _wait(client, again.json()["id"])
    assert (status["stored"], status["present"], status["conflicts"]) == (0, 1, 0)
    dry = client.post(
        "/v1/units/capil/imports",
        content=archived["paper"].encode(),
        params={"dry_run": "true"},
    )
    assert _wait(client, dry.json()["id"])["present"] == 1


def test_the_indices_of_an_archived_month_stay_exact(archived: dict[str, Any]) -> None:
    client: TestClient = archived["client"]
    before = archived["before"]
    period = {"period": "2025-03"}
    index = client.get("/v1/indices/capil", params=period).json()
    assert index == before["index"]
    assert index["pooled"]["responses"] == 3
    by_service = client.get("/v1/indices/capil/breakdown", params={**period, "by": "service"})
    assert by_service.json() == before["by_service"]
    assert by_service.json()["archived_responses"] == 0
    # Before archiving, the rows: one woman's answers, two without a gender.
    assert before["by_gender"]["archived_responses"] == 0
    assert [(g["key"], g["value"]["responses"]) for g in before["by_gender"]["groups"]] == [
        ("P", 1),
        (None, 2),
    ]
    by_gender = client.get("/v1/indices/capil/breakdown", params={**period, "by": "gender"})
    assert (by_gender.json()["groups"], by_gender.json()["archived_responses"]) == ([], 3)


def test_archive_refuses_a_month_inside_the_submission_window(
    own_database: str, tmp_path: Path
) -> None:
    out = io.StringIO()
    # On 2025-06-15, 90 days back is 2025-03-17: March may still receive responses.
    status = archive_command(
        app_settings(own_database), APRIL, tmp_path, out, today=date(2025, 6, 15)
    )
    assert status == 2
    assert out.getvalue().startswith(
        "refused: a response may still be collected on a day of 2025-03 or later"
    )
    assert list(tmp_path.iterdir()) == []


def test_maintain_creates_the_months_ahead_and_moves_nothing_unasked(
    own_database: str,
) -> None:
    engine = create_engine(sync_url(own_database))
    settings = app_settings(own_database)
    today = date(2031, 11, 20)  # months no other test made
    with engine.begin() as conn:  # a row of January 2032 written before its partition
        conn.execute(
            insert(Unit).values(
                id=900,
                code="m",
                name="M",
                kind="agency",
                path="/900/",
                time_zone="Asia/Makassar",
                time_zone_inherited=False,
            )
        )
        conn.execute(insert(Service).values(id=900, unit_id=900, code="s", name="S"))
        conn.execute(
            insert(RESPONSES).values(
                id=uuid.uuid4(),
                unit_id=900,
                service_id=900,
                survey_version_id=1,
                channel="kiosk",
                collected_at=datetime(2032, 1, 5, tzinfo=UTC),
                received_at=datetime(2032, 1, 5, tzinfo=UTC),
                local_date=date(2032, 1, 5),
                content_hash="x",
            )
        )
    out = io.StringIO()
    assert maintain_command(settings, 3, False, out, today=today) == 1
    assert out.getvalue() == (
        "created responses_y2031m11\n"
        "created responses_y2031m12\n"
        "created responses_y2032m02\n"
        "not created responses_y2032m01: responses_default holds 1 rows of that month; run "
        "again with --move-default to move them into it (locks the DEFAULT partition while "
        "they move)\n"
        "responses_default: 1 rows\n"
    )
    out = io.StringIO()
    assert maintain_command(settings, 3, True, out, today=today) == 0
    assert out.getvalue() == (
        "created responses_y2032m01 with its 1 rows moved out of responses_default\n"
        "responses_default: 0 rows\n"
    )
    where = _run(engine, "SELECT tableoid::regclass::text FROM responses WHERE unit_id = 900")
    assert where == [("responses_y2032m01",)]
    out = io.StringIO()
    assert maintain_command(settings, 3, False, out, today=today) == 0
    assert out.getvalue() == "every month up to 3 ahead exists\nresponses_default: 0 rows\n"
    engine.dispose()


def test_a_correction_into_another_month_moves_the_registry_with_it(units: TestClient) -> None:
    today = datetime.now(UTC).date()
    earlier = today.replace(day=1) - timedelta(days=5)  # last month, within the window
    sheet = f"date;service;{';'.join(all_answers(1))}\n{today};ktp;{';'.join(['4'] * 9)}\n"
    answer = units.post("/v1/units/capil/imports", content=sheet.encode())
    assert _wait(units, answer.json()["id"])["stored"] == 1
    [stored] = units.get("/v1/responses", params={"unit": "capil"}).json()["items"]
    body = {"service": "ktp", "date": earlier.isoformat(), "answers": all_answers(3)}
    corrected = units.patch(f"/v1/responses/{stored['id']}", json=body)
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["local_date"] == earlier.isoformat()
    # The sheet as first transcribed: stored since with other content (not archived).
    again = units.post("/v1/units/capil/imports", content=sheet.encode())
    status = _wait(units, again.json()["id"])
    assert (status["stored"], status["present"], status["conflicts"]) == (0, 0, 1)


def test_an_archived_paper_response_is_neither_withdrawn_nor_corrected_unseen(
    archived: dict[str, Any],
) -> None:
    """Withdrawing an import whose responses are in an archived month would subtract
    nothing for them and leave them counted for good: refused, naming the month; so is
    correcting or withdrawing one such response (409, not 404: it is counted). The index
    is unchanged."""
    client: TestClient = archived["client"]
    engine: Engine = archived["engine"]
    refused = client.post(f"/v1/imports/{archived['import_id']}/withdraw")
    assert (refused.status_code, refused.json()["type"]) == (409, "urn:skm:problem:import-archived")
    assert "2025-03" in refused.json()["detail"]
    [(paper_id,)] = _run(
        engine, "SELECT id FROM response_ids WHERE local_date = :day", day=date(2025, 3, 15)
    )
    for answer in (
        client.delete(f"/v1/responses/{paper_id}"),
        client.patch(
            f"/v1/responses/{paper_id}",
            json={"date": "2025-03-16", "service": "ktp", "answers": all_answers(4)},
        ),
    ):
        assert (answer.status_code, answer.json()["type"]) == (
            409,
            "urn:skm:problem:response-archived",
        )
    index = client.get("/v1/indices/capil", params={"period": "2025-03"}).json()
    assert index["pooled"]["responses"] == archived["before"]["index"]["pooled"]["responses"]
    status = client.get(f"/v1/imports/{archived['import_id']}").json()
    assert status["withdrawn_at"] is None


def test_the_conversion_is_not_undone_while_archived_ids_depend_on_the_registry(
    archived: dict[str, Any], own_database: str
) -> None:
    """Downgrading 0010 would drop the registry, the only record of the archived responses'
    ids: refused, and nothing is changed (the yearly table 0011 dropped on the way is back)."""
    engine: Engine = archived["engine"]
    head = _run(engine, "SELECT version_num FROM alembic_version")
    with pytest.raises(RuntimeError, match="ids of archived responses"):
        _migrate(own_database, "0009", down=True)
    assert _run(engine, "SELECT version_num FROM alembic_version") == head
    assert _run(engine, "SELECT to_regclass('yearly_aggregates') IS NOT NULL") == [(True,)]


def test_an_archive_that_cannot_detach_leaves_the_month_and_no_manifest(
    archived: dict[str, Any], own_database: str, tmp_path: Path
) -> None:
    """A long read holding `responses` past the detach's lock timeout: the month stays as it
    was, the command says so and exits 1, and no manifest claims the month left."""
    engine: Engine = archived["engine"]
    out = io.StringIO()
    with engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM responses"))  # holds ACCESS SHARE till the end
        status = archive_command(
            app_settings(own_database), date(2025, 5, 1), tmp_path, out, today=date(2026, 1, 1)
        )
        reader.rollback()
    assert status == 1
    assert "responses_y2025m04: not detached" in out.getvalue()
    assert not (tmp_path / "responses-2025-04.manifest.json").exists()
    with engine.connect() as conn:
        assert "responses_y2025m04" in [p.name for p in partitions(conn)]


# --- a new database's plans --------------------------------------------------------------


def indexes_searched(plan: str, table: str) -> list[str]:
    """The indexes a plan searches `table` (a partition) by; a sequential scan of it fails."""
    found = []
    for line in plan.splitlines():
        if table not in line:
            continue
        assert "Seq Scan" not in line, plan
        if " using " in line:  # Index Scan, Index Only Scan
            found.append(line.split(" using ")[1].split()[0])
        elif "Bitmap Index Scan on " in line:
            found.append(line.split("Bitmap Index Scan on ")[1].split()[0])
    return found


def burst_read(one: bool, **given: Any) -> tuple[Any, list[Any], datetime]:
    """A submission's burst read (`ingest._key_and_references`: one submission's, or a
    batch's when not `one`) for a window of ±30 s around now, its arguments (`given` over
    defaults: a token no key has, unit capil, service ktp), and now."""
    now = datetime.now(UTC)
    window = (now - timedelta(seconds=30), now + timedelta(seconds=30))
    compiled = _compiled(_key_and_references(one, one, compared_months(window)))
    values = {
        "signature": 1,
        "signatures": [1, 2],
        "token_hash": "0" * 64,
        "first": window[0],
        "last": window[1],
        "unit_codes": ["capil"],
        "service_codes": ["ktp"],
        "unit_code": "capil",
        "service_code": "ktp",
    } | given
    return compiled, [values.get(n, compiled.literals.get(n)) for n in compiled.names], now


def literals(arguments: list[Any]) -> sql.Composable:
    """The arguments of an EXECUTE, written as SQL literals."""
    return sql.SQL(", ").join(map(sql.Literal, arguments))


# Rows in a month not yet analyzed: at 200 (three pages), the index on collected_at cost
# the same as the device's, and the burst read's generic plan took it (read every response
# of the window); the others are around it.
UNANALYZED_MONTH_ROWS = (0, 50, 100, 150, 200, 250, 300, 500, 1000, 3000)


@pytest.mark.postgresql_only
@pytest.mark.parametrize("one", [True, False], ids=["one signature", "several"])
def test_the_burst_read_searches_the_device_index_however_little_the_month_is_known(
    database_url: str, one: bool
) -> None:
    """A submission's prepared burst read (a generic plan, kept by the connection) searches
    the month on the device's index, whatever the month's rows when it was planned: never
    analyzed (a new database; analyzed empty, a month was planned as empty, and the month
    scanned whole), or filling but not yet analyzed (a month's first minute), when the index
    on collected_at cost as little and the read took it, reading every response of the
    window on each submission until autovacuum analyzed the month."""
    name = f"skm_test_new_plans_{os.getpid()}"
    url = migrated(postgres_database(name))
    try:
        compiled, arguments, now = burst_read(one)
        month = partition_name(now.date().replace(day=1))
        plans: dict[int, str] = {}
        with connect(url) as conn:
            conn.execute(f"ALTER TABLE {month} SET (autovacuum_enabled = false)")
            conn.execute("SET plan_cache_mode = force_generic_plan")
            for rows in UNANALYZED_MONTH_ROWS:
                conn.execute(f"TRUNCATE {month}")
                conn.execute("SET session_replication_role = replica")  # no references needed
                conn.execute(
                    "INSERT INTO responses (id, unit_id, service_id, survey_version_id, channel,"
                    " collected_at, received_at, local_date, content_hash, device,"
                    " answers_signature) SELECT gen_random_uuid(), 1, 1, 1, 'kiosk',"
                    " now() - g * interval '1 ms', now(), current_date, 'x', 'key:' || g %% 50,"
                    " g %% 1000 FROM generate_series(1, %s) g",
                    (rows,),
                )
                conn.execute("SET session_replication_role = DEFAULT")
                tuples = conn.execute(
                    "SELECT reltuples FROM pg_class WHERE relname = %s", (month,)
                ).fetchone()
                assert tuples == (-1,), "the month was analyzed"
                conn.execute(sql.SQL("PREPARE burst AS {}").format(sql.SQL(compiled.sql)))
                plan = conn.execute(
                    sql.SQL("EXPLAIN EXECUTE burst({})").format(literals(arguments))
                )
                plans[rows] = "\n".join(line for (line,) in plan.fetchall())
                conn.execute("DEALLOCATE burst")
        for rows, text_plan in plans.items():
            month_indexes = indexes_searched(text_plan, month)
            assert month_indexes, (rows, text_plan)
            assert all("device_answers" in index for index in month_indexes), (rows, text_plan)
            if one:  # one submission's unit and service, found by their unique indexes
                assert "Index Scan using uq_units_code" in text_plan, text_plan
                assert "Index Scan using uq_services_unit_id_code" in text_plan, text_plan
    finally:
        drop_postgres_database(name)


@pytest.mark.postgresql_only
def test_the_burst_read_keeps_one_plan_however_many_months_are_kept(database_url: str) -> None:
    """A submission's read names the months its window can touch, so that its prepared
    statement's generic plan holds those alone, whatever the months kept, and is kept: with
    the days as parameters it held every month, and with two years of months PostgreSQL
    planned every execution instead (12 custom plans of 12; see `bursts.recent_alike`)."""
    name = f"skm_test_many_months_{os.getpid()}"
    url = migrated(postgres_database(name))
    try:
        compiled, arguments, now = burst_read(True)
        engine = create_engine(sync_url(url))
        with engine.begin() as conn:
            two_years_ago = (now.date() - timedelta(days=730)).replace(day=1)
            ensure_months(conn, months(two_years_ago, now.date().replace(day=1)))
        engine.dispose()
        with connect(url) as conn:
            kept = conn.execute(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'responses'::regclass"
            ).fetchone()
            assert kept is not None
            assert kept[0] >= 25, kept
            cursor = RawCursor(conn)
            # A kept connection's submissions: the statement prepared at the first;
            # PostgreSQL plans its first five executions for their values, then keeps a
            # generic plan unless planning each costs less.
            for _ in range(12):
                cursor.execute(compiled.sql, arguments, prepare=True)
                cursor.fetchall()
            [(generic, custom)] = conn.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            ).fetchall()
        assert custom <= 5, (generic, custom)
        assert generic >= 7, (generic, custom)
    finally:
        drop_postgres_database(name)


@pytest.mark.postgresql_only
def test_a_busy_devices_burst_read_reads_only_its_alike(database_url: str) -> None:
    """A kiosk that submitted 20,000 responses with other answers in the window: its read
    for one signature visits a few pages, not the device's responses (a search positioned
    on the device alone read them all: 122 pages here; see `bursts.recent_alike`), whether
    or not the month is analyzed, on a generic plan or one made for the values."""
    name = f"skm_test_busy_device_{os.getpid()}"
    url = migrated(postgres_database(name))
    try:
        # One stored response alike in the window (signature 5000), of the key's device.
        compiled, arguments, now = burst_read(True, signature=5000, token_hash="7" * 64)
        device = "key:7"
        with connect(url) as conn:
            conn.execute("SET session_replication_role = replica")  # no references needed
            conn.execute(
                "INSERT INTO api_keys (id, name, role, read_responses, token_hash, prefix,"
                " created_at) VALUES (7, 'kiosk', 'collector', false, %s, 'skm_7', now())",
                ("7" * 64,),
            )
            conn.execute(
                "INSERT INTO responses (id, unit_id, service_id, survey_version_id, channel,"
                " collected_at, received_at, local_date, content_hash, device,"
                " answers_signature) SELECT gen_random_uuid(), 1, 1, 1, 'kiosk',"
                " now() - g * interval '1 ms', now(), current_date, 'x', %s, g"
                " FROM generate_series(1, 20000) g",
                (device,),
            )
            conn.execute("SET session_replication_role = DEFAULT")
            month = partition_name(now.date().replace(day=1))
            conn.execute(f"ALTER TABLE {month} SET (autovacuum_enabled = false)")
            conn.execute(sql.SQL("PREPARE burst AS {}").format(sql.SQL(compiled.sql)))
            reads: dict[str, tuple[int, str]] = {}
            for analyzed in ("not analyzed", "analyzed"):
                if analyzed == "analyzed":
                    conn.execute("ANALYZE responses")
                tuples = conn.execute(
                    "SELECT reltuples FROM pg_class WHERE relname = %s", (month,)
                ).fetchone()
                assert (tuples == (-1,)) == (analyzed == "not analyzed"), tuples
                for mode in ("force_generic_plan", "force_custom_plan"):
                    conn.execute(f"SET plan_cache_mode = {mode}")
                    plan = conn.execute(
                        sql.SQL("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE burst({})").format(
                            literals(arguments)
                        )
                    ).fetchall()
                    text_plan = "\n".join(line for (line,) in plan)
                    assert indexes_searched(text_plan, month), text_plan
                    # The statement's pages in all (its first node's): the key, the unit,
                    # the service and the search.
                    pages = int(re.findall(r"shared hit=(\d+)", text_plan)[0])
                    reads[f"{analyzed}, {mode}"] = (pages, text_plan)
        for case, (pages, text_plan) in reads.items():
            assert pages <= 40, (case, pages, text_plan)
    finally:
        drop_postgres_database(name)
