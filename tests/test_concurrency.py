"""Concurrent submissions: no deadlock between the single and batch paths, deadlocks and
serialization failures retried inside the server, aggregates equal to the raw rows after
concurrent load."""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app import aggregates, flags, ingest, statements
from app.db import sync_url
from tests.factories import all_answers, make_unit, response_item, scores

ZONE = ZoneInfo("Asia/Jakarta")


@pytest.fixture
def unit(client: TestClient) -> TestClient:
    make_unit(client, "loket", time_zone="Asia/Jakarta", services=("ktp", "kk"))
    return client


@pytest.fixture
def pg(database_url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A direct connection to the test database, in autocommit."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def two_days_of_one_month() -> tuple[datetime, datetime]:
    """Noon (local) of two consecutive days of one month, both within the accepted window."""
    today = datetime.now(ZONE).date()
    first = today - timedelta(days=2 if today.day > 2 else 5)
    return tuple(  # type: ignore[return-value]
        datetime(d.year, d.month, d.day, 12, tzinfo=ZONE) for d in (first, first + timedelta(1))
    )


def waiting_on_locks(pg: psycopg.Connection[tuple[Any, ...]]) -> int:
    """How many sessions of this database wait for a lock."""
    row = pg.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def in_thread(call: Callable[[], Any], results: list[Any]) -> threading.Thread:
    """Run `call` in a thread, appending its status code (or the exception it raised)."""

    def run() -> None:
        try:
            results.append(call().status_code)
        except Exception as error:  # an unhandled server error surfaces here
            results.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def aggregate_totals(pg: psycopg.Connection[tuple[Any, ...]]) -> tuple[int, int, int, int]:
    """(raw responses, daily sum, monthly sum, sum of persyaratan scores in the raw rows)."""
    row = pg.execute(
        "SELECT (SELECT count(*) FROM responses),"
        " (SELECT coalesce(sum(responses), 0) FROM daily_aggregates),"
        " (SELECT coalesce(sum(responses), 0) FROM monthly_aggregates),"
        " (SELECT coalesce(sum(persyaratan), 0) FROM responses)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def element_sums(pg: psycopg.Connection[tuple[Any, ...]]) -> tuple[int, int]:
    """persyaratan score sums in the daily and in the monthly aggregates."""
    row = pg.execute(
        "SELECT (SELECT coalesce(sum(persyaratan_sum), 0) FROM daily_aggregates),"
        " (SELECT coalesce(sum(persyaratan_sum), 0) FROM monthly_aggregates)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def in_slot_0(item: dict[str, Any]) -> dict[str, Any]:
    """The item with an id counted in the aggregates' slot 0 (its last 3 bits clear: still a
    valid uuid4, whose version and variant bits are elsewhere), so that items share rows."""
    return {**item, "id": str(uuid.UUID(int=uuid.UUID(item["id"]).int & ~7))}


@pytest.mark.postgresql_only
def test_single_and_batch_on_the_same_rows_do_not_deadlock(
    unit: TestClient,
    database_url: str,
    pg: psycopg.Connection[tuple[Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fixed interleaving, the one seen under load: a batch holds day 1's aggregate row and
    waits (here for a third connection) for day 2's; meanwhile a single response of day 1
    comes. Were the single path to take the month's row before the day's, it would hold the
    month and wait for the batch, the batch would then wait for the month: a deadlock, every
    time. With one order everywhere (days, then months) the single waits its turn. Retries
    are switched off, so that it is the order that is tested."""
    monkeypatch.setattr(statements, "RETRY_ATTEMPTS", 1)
    day1, day2 = two_days_of_one_month()
    first = in_slot_0(response_item("loket", "ktp", all_answers(2), collected_at=day2))
    assert unit.post("/v1/responses", json=first).status_code == 201  # day 2's row exists

    results: list[Any] = []
    with psycopg.connect(database_url) as holder:
        holder.execute(
            "SELECT 1 FROM daily_aggregates WHERE local_date = %s FOR UPDATE", [day2.date()]
        )
        batch = [
            in_slot_0(response_item("loket", "ktp", all_answers(3), collected_at=day1)),
            in_slot_0(
                response_item(
                    "loket", "ktp", all_answers(4), collected_at=day2 + timedelta(hours=1)
                )
            ),
        ]
        threads = [
            in_thread(lambda: unit.post("/v1/responses/batch", json={"items": batch}), results)
        ]
        wait_until(lambda: waiting_on_locks(pg) == 1, "the batch waits for day 2's row")
        single = in_slot_0(
            response_item("loket", "ktp", all_answers(1), collected_at=day1 + timedelta(hours=1))
        )
        threads.append(in_thread(lambda: unit.post("/v1/responses", json=single), results))
        wait_until(lambda: waiting_on_locks(pg) == 2, "the single waits for the batch")
        holder.rollback()
    for thread in threads:
        thread.join()

    assert sorted(results, key=str) == [200, 201], results
    assert aggregate_totals(pg) == (4, 4, 4, 2 + 3 + 4 + 1)
    assert element_sums(pg) == (10, 10)


def raw_and_aggregated(database_url: str) -> dict[str, dict[bool, tuple[int, int]]]:
    """Per flagged or not: the count of responses and their persyaratan sum, from the raw
    rows and from each aggregate table."""
    queries = {
        "raw": "SELECT coalesce(flag IN ('suspected', 'confirmed'), false),"
        " count(*), sum(persyaratan) FROM responses GROUP BY 1",
        **{
            table: f"SELECT flagged, sum(responses), sum(persyaratan_sum) FROM {table} GROUP BY 1"
            for table in ("daily_aggregates", "monthly_aggregates")
        },
    }
    engine = create_engine(sync_url(database_url))
    with engine.connect() as conn:
        found = {
            name: {bool(f): (int(n), int(total)) for f, n, total in conn.execute(text(query))}
            for name, query in queries.items()
        }
    engine.dispose()
    return found


@pytest.mark.parametrize("before", ["the last response deleted", "the largest rowid taken"])
def test_a_sqlite_batch_counts_its_new_rows_alone_whatever_the_rowids_before(
    unit: TestClient, database_url: str, before: str
) -> None:
    """SQLite sums a batch's new rows by rowid: those above the largest rowid read before
    the insert. Whatever the rows before (the last one deleted, whose rowid the next row
    takes again; or the largest rowid taken, after which SQLite draws rowids at random and
    the sum by rowid gives way to Python's), the aggregates grow by the batch alone."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only: PostgreSQL counts a batch from its rows, not by rowid")
    now = datetime.now(UTC)
    first = [response_item("loket", "ktp", all_answers(2), now - timedelta(hours=1))]
    assert unit.post("/v1/responses/batch", json={"items": first}).status_code == 200
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        if before == "the last response deleted":  # and its counts, as a withdrawal would
            conn.execute(
                text("DELETE FROM responses WHERE rowid = (SELECT max(rowid) FROM responses)")
            )
        else:
            conn.execute(
                text(
                    "UPDATE responses SET rowid = 9223372036854775807"
                    " WHERE rowid = (SELECT max(rowid) FROM responses)"
                )
            )
    engine.dispose()
    counted = raw_and_aggregated(database_url)
    batch = [
        response_item("loket", "ktp", scores(*([1 + n % 4] * 9)), now - timedelta(minutes=n))
        for n in range(6)
    ]
    answer = unit.post("/v1/responses/batch", json={"items": batch})
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == 6
    after = raw_and_aggregated(database_url)
    added = {
        table: {
            f: (n - counted[table].get(f, (0, 0))[0], total - counted[table].get(f, (0, 0))[1])
            for f, (n, total) in found.items()
        }
        for table, found in after.items()
        if table != "raw"
    }
    expected = {False: (6, 1 + 2 + 3 + 4 + 1 + 2)}
    assert added == {"daily_aggregates": expected, "monthly_aggregates": expected}


def test_concurrent_singles_and_batches_on_the_same_units(
    unit: TestClient, database_url: str
) -> None:
    """Singles from four threads and batches of 50 from two, on the same unit and services
    and days, for a few seconds: no 5xx, and the aggregates equal the raw rows."""
    make_unit(unit, "loket-2", parent="loket", services=("ktp",))
    now = datetime.now(UTC)
    places = [("loket", "ktp"), ("loket", "kk"), ("loket-2", "ktp")]
    statuses: list[Any] = []
    stop = time.monotonic() + 3

    def item(n: int) -> dict[str, Any]:
        where = places[n % len(places)]
        when = now - timedelta(hours=n % 50)
        return response_item(*where, scores(*(1 + (n + k) % 4 for k in range(9))), when)

    def singles(seed: int) -> None:
        n = seed
        while time.monotonic() < stop:
            statuses.append(unit.post("/v1/responses", json=item(n)).status_code)
            n += 7

    def batches(seed: int) -> None:
        n = seed
        while time.monotonic() < stop:
            batch = [item(n + k) for k in range(50)]
            answer = unit.post("/v1/responses/batch", json={"items": batch})
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                assert answer.json()["created"] == 50, answer.text
            n += 50

    threads = [threading.Thread(target=singles, args=(s,)) for s in range(4)]
    threads += [threading.Thread(target=batches, args=(s,)) for s in (1000, 2000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses, "no request was made"
    assert set(statuses) <= {200, 201}, sorted(set(statuses))
    singles_made = statuses.count(201)
    batches_made = statuses.count(200)
    found = raw_and_aggregated(database_url)
    assert sum(n for n, _ in found["raw"].values()) == singles_made + 50 * batches_made
    assert found["daily_aggregates"] == found["raw"]
    assert found["monthly_aggregates"] == found["raw"]


RAISE_DEADLOCK = "DO $$ BEGIN RAISE EXCEPTION 'deadlock (injected)' USING ERRCODE = '40P01'; END $$"


def deadlock_once(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, runner: str, statement: Any
) -> list[str]:
    """The first time `module` runs `statement` (through `runner`, fetch_all or execute_many),
    the server raises a deadlock error (SQLSTATE 40P01) where the statement would be: after
    it inside a transaction (which the error aborts, undoing its work as a real deadlock
    would), instead of it on a connection in autocommit. Returns a list that records it."""
    real = getattr(module, runner)
    injected: list[str] = []

    async def run(conn: Any, executed: Any, *args: Any, **kwargs: Any) -> Any:
        if executed is statement and not injected:
            injected.append("40P01")
            driver = (await conn.get_raw_connection()).driver_connection
            if driver.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
                await real(conn, executed, *args, **kwargs)
            await driver.execute(RAISE_DEADLOCK)
        return await real(conn, executed, *args, **kwargs)

    monkeypatch.setattr(module, runner, run)
    return injected


@pytest.mark.postgresql_only
@pytest.mark.parametrize("path", ["single", "batch", "public"])
def test_a_deadlock_is_retried_and_never_seen_by_the_client(
    unit: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """One deadlock on the first attempt: the client still gets its 201 (or `created`), and
    each response is stored and counted exactly once."""
    if path == "batch":
        monthly = aggregates._upsert("postgresql", aggregates.MONTHLY, "month")
        injected = deadlock_once(monkeypatch, aggregates, "execute_many", monthly)
        items = [
            response_item(
                "loket", "ktp", all_answers(score), datetime.now(UTC) - timedelta(hours=score)
            )
            for score in (1, 2, 3)
        ]
        answer = unit.post("/v1/responses/batch", json={"items": items})
        assert answer.status_code == 200, answer.text
        assert [i["status"] for i in answer.json()["items"]] == ["created"] * 3
        expected = {False: (3, 1 + 2 + 3)}
    else:
        injected = deadlock_once(monkeypatch, ingest, "fetch_all", ingest._insert_one_counted())
        item = response_item("loket", "ktp", all_answers(3))
        if path == "public":
            patched = unit.patch("/v1/units/loket", json={"public": True})
            assert patched.status_code == 200, patched.text
            item["channel"] = "web"
            answer = unit.post("/v1/public/responses", json=item, headers={"Authorization": ""})
        else:
            answer = unit.post("/v1/responses", json=item)
        assert answer.status_code == 201, answer.text
        expected = {False: (1, 3)}
    assert injected == ["40P01"]
    found = raw_and_aggregated(database_url)
    assert found == {
        "raw": expected,
        "daily_aggregates": expected,
        "monthly_aggregates": expected,
    }


@pytest.mark.postgresql_only
def test_a_deadlock_in_a_flag_review_is_retried(
    unit: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review moves a response's counts between the flagged and unflagged aggregate rows,
    which submissions write too: one deadlock there is undone to a savepoint and the review
    run again, so the reviewer gets 200 and the counts move exactly once."""
    moment = datetime.now(UTC) - timedelta(hours=1)
    first = response_item("loket", "ktp", all_answers(2), moment)
    burst = response_item("loket", "ktp", all_answers(2), moment + timedelta(seconds=10))
    for item in (first, burst):
        assert unit.post("/v1/responses", json=item).status_code == 201
    assert raw_and_aggregated(database_url)["raw"] == {False: (1, 2), True: (1, 2)}

    injected: list[str] = []
    real = aggregates.add_to_aggregates

    async def deadlocking(conn: Any, *args: Any, **kwargs: Any) -> None:
        await real(conn, *args, **kwargs)
        if not injected:
            injected.append("40P01")
            driver = (await conn.get_raw_connection()).driver_connection
            await driver.execute(RAISE_DEADLOCK)

    monkeypatch.setattr(flags, "add_to_aggregates", deadlocking)
    answer = unit.post(f"/v1/responses/{burst['id']}/review", json={"decision": "clear"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["flag"] == "cleared"
    assert injected == ["40P01"]
    counted = {False: (2, 4)}
    assert raw_and_aggregated(database_url) == {
        "raw": counted,
        "daily_aggregates": {**counted, True: (0, 0)},
        "monthly_aggregates": {**counted, True: (0, 0)},
    }
