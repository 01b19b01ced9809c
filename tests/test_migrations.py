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
