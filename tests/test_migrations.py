"""The schema built by the migrations matches the models, and downgrade→upgrade round-trips."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from app.cli import alembic_config
from app.db import Base, sync_url
from app.method import ELEMENTS
from app.partitions import include_object
from tests.conftest import BACKENDS, drop_postgres_database, fresh_database, migrated


@pytest.fixture(params=BACKENDS)
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    name = f"skm_test_migrations_{os.getpid()}"
    url = fresh_database(request.param, tmp_path, name)
    yield url
    if request.param == "postgresql":
        drop_postgres_database(name)


def test_models_and_migrations_agree(scratch_url: str) -> None:
    engine = create_engine(sync_url(migrated(scratch_url)))
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include_object}
            ),
            Base.metadata,
        )
    engine.dispose()
    assert diff == []


def test_downgrade_and_upgrade_round_trip(scratch_url: str) -> None:
    migrated(scratch_url)
    engine = create_engine(sync_url(scratch_url))
    config = alembic_config()
    config.attributes["configure_logging"] = False
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        standard = conn.execute(
            text("SELECT status FROM survey_versions WHERE id = 1")
        ).scalar_one()
    engine.dispose()
    assert standard == "published"


def test_sqlite_slots_folded_into_slot_0(scratch_url: str) -> None:
    """0013: on SQLite each key's slot rows are summed into slot 0 (the sums unchanged); on
    PostgreSQL the slots stay."""
    engine = create_engine(sync_url(scratch_url))
    config = alembic_config()
    config.attributes["configure_logging"] = False
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0012")
        conn.execute(
            text(
                "INSERT INTO units (id, code, name, kind, path, time_zone, "
                "time_zone_inherited, created_at, updated_at) VALUES (900, 'u900', 'U', "
                "'service_unit', '/900/', 'Asia/Jakarta', false, :at, :at)"
            ),
            {"at": "2026-03-01 00:00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO services (id, unit_id, code, name, created_at, updated_at) "
                "VALUES (901, 900, 's', 'S', :at, :at)"
            ),
            {"at": "2026-03-01 00:00:00"},
        )
        counters = ("responses", "complete", "complete_total", "complete_total_sq")
        rest = [f"{e}_{s}" for e in ELEMENTS for s in ("n", "sum", "sq")]
        for slot, responses, at in ((0, 2, "2026-03-02 10:00:00"), (3, 5, "2026-03-02 11:00:00")):
            for table, bucket in (
                ("daily_aggregates", "local_date"),
                ("monthly_aggregates", "month"),
                ("yearly_aggregates", "year"),
            ):
                conn.execute(
                    text(
                        f"INSERT INTO {table} (unit_id, service_id, survey_version_id, "
                        f"flagged, {bucket}, slot, {', '.join((*counters, *rest))}, "
                        f"updated_at) VALUES (900, 901, 1, false, '2026-03-01', {slot}, "
                        f"{responses}, {responses}, {10 * responses}, {100 * responses}, "
                        f"{', '.join(['1'] * len(rest))}, '{at}')"
                    )
                )
        command.upgrade(config, "head")
        found = {
            table: conn.execute(
                text(
                    f"SELECT slot, responses, complete_total, pengaduan_sq FROM {table} "
                    "WHERE unit_id = 900 ORDER BY slot"
                )
            ).all()
            for table in ("daily_aggregates", "monthly_aggregates", "yearly_aggregates")
        }
    engine.dispose()
    if scratch_url.startswith("sqlite"):
        expected = [(0, 7, 70, 2)]
    else:
        expected = [(0, 2, 20, 1), (3, 5, 50, 1)]
    assert found == dict.fromkeys(found, expected)
