"""Each test starts where the first one did: every table as after the migrations and the
administrator key, and the app's state as a fresh app has it (the `client` fixture's reset)."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from app.db import Base
from app.errors import ProblemError
from tests.conftest import Seed, reset, table_rows
from tests.factories import make_mall, make_variant, response_item, store


def tables(engine: Engine) -> dict[str, list[dict[str, object]]]:
    with engine.connect() as conn:
        return {table.name: table_rows(conn, table) for table in Base.metadata.sorted_tables}


def fill_every_table(client: TestClient) -> None:
    """A row more in every table, and the seed rows changed where the API can change them:
    units with a local variant assigned (the units ↔ survey versions cycle), a scoped key
    that issued tickets, pairing codes (one exchanged for a key), a response (and so its
    aggregates), a population, a publication, a
    follow-up plan with an item, a unit's required periods, audited changes, and the
    administrator key used."""
    make_mall(client)
    variant = make_variant(client, "disdukcapil", "survei-capil")
    assigned = client.patch(
        "/v1/units/disdukcapil", json={"survey_version_id": variant["id"], "public": True}
    )
    assert assigned.status_code == 200, assigned.text
    made = client.post("/v1/keys", json={"name": "Kiosk", "role": "collector", "scope": "mpp"})
    assert made.status_code == 201, made.text
    kiosk = {"Authorization": f"Bearer {made.json()['token']}"}
    issued = client.post("/v1/units/disdukcapil/tickets", json={"count": 2}, headers=kiosk)
    assert issued.status_code == 200, issued.text
    store(client, response_item("disdukcapil", "ktp", survey_version_id=variant["id"]))
    # Pairing: one code exchanged (a key for one service), one left pending.
    for name in ("Kiosk 2", "Kiosk 3"):
        body = {"unit": "disdukcapil", "role": "collector", "name": name, "services": ["ktp"]}
        code = client.post("/v1/pairing-codes", json=body)
        assert code.status_code == 201, code.text
    exchanged = client.post("/v1/pairing-codes/exchange", json={"code": code.json()["code"]})
    assert exchanged.status_code == 201, exchanged.text
    put = client.put("/v1/units/disdukcapil/populations/2026", json={"served": 900})
    assert put.status_code == 200, put.text
    published = client.post("/v1/units/disdukcapil/publications", json={"period": "2025"})
    assert published.status_code == 201, published.text
    plan = client.post("/v1/units/disdukcapil/plans", json={"period": "2025"})
    assert plan.status_code == 201, plan.text
    item = {"element": "waktu", "action": "Percepat"}
    added = client.post("/v1/units/disdukcapil/plans/2025/items", json=item)
    assert added.status_code == 201, added.text
    required = {"required_periods": "quarter"}
    setting = client.put("/v1/units/kota/required-periods", json=required)
    assert setting.status_code == 200, setting.text
    texts = {"surveyor": "Bagian Organisasi", "place": "Mal Pelayanan Publik"}
    report = client.put("/v1/units/disdukcapil/report-settings", json=texts)
    assert report.status_code == 200, report.text
    # Paper: a print run and its code, an import with a refused row, a withdrawn response.
    printed = client.post("/v1/units/disdukcapil/sheets", json={"sheets": 1})
    assert printed.status_code == 200, printed.text
    day = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    content = f"date,service,persyaratan\n{day},ktp,4\n{day},ktp,9\n".encode()
    started = client.post("/v1/units/disdukcapil/imports", content=content)
    assert started.status_code == 202, started.text
    for _ in range(2400):  # a bound, not a timing
        status = client.get(f"/v1/imports/{started.json()['id']}").json()
        if status["state"] == "done":
            break
        time.sleep(0.05)
    assert status["stored"] == 1, status
    paper = response_item("disdukcapil", "ktp", survey_version_id=variant["id"], channel="paper")
    store(client, paper)
    assert client.delete(f"/v1/responses/{paper['id']}").status_code == 204


def test_the_reset_leaves_every_table_as_the_seed_holds_it(
    client: TestClient, reset_engine: Engine, seed: Seed
) -> None:
    assert tables(reset_engine) == seed.rows
    fill_every_table(client)
    filled = tables(reset_engine)
    unchanged = [name for name, rows in filled.items() if rows == seed.rows[name]]
    assert unchanged == [], "fill_every_table should write to every table: extend it"
    reset(client, reset_engine, seed)
    assert tables(reset_engine) == seed.rows


def test_the_reset_forgets_cached_versions_and_counted_requests(
    client: TestClient, reset_engine: Engine, seed: Seed
) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    make_mall(client)
    store(client, response_item("disdukcapil", "ktp"))
    assert state.versions._rules != {}
    client.portal.call(state.limiter.hit, "1/minute", "key", "someone")  # type: ignore[union-attr]
    with pytest.raises(ProblemError):
        client.portal.call(state.limiter.hit, "1/minute", "key", "someone")  # type: ignore[union-attr]
    reset(client, reset_engine, seed)
    assert state.versions._rules == {}
    client.portal.call(state.limiter.hit, "1/minute", "key", "someone")  # type: ignore[union-attr]
