"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 06:35:03.887954
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime
from app.standard_survey import (
    STANDARD_DEFINITION,
    STANDARD_SURVEY_CODE,
    STANDARD_SURVEY_TITLE,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNITS_SURVEY_FK = sa.ForeignKeyConstraint(
    ["survey_version_id"],
    ["survey_versions.id"],
    name="fk_units_survey_version_id_survey_versions",
)


# Frozen here: the element keys of PermenPAN-RB 14/2017, in questionnaire order.
ELEMENTS = (
    "persyaratan",
    "prosedur",
    "waktu",
    "biaya",
    "produk",
    "kompetensi",
    "perilaku",
    "sarana",
    "pengaduan",
)
COUNTERS = (
    "responses",
    "complete",
    "complete_total",
    "complete_total_sq",
    *(f"{e}_{k}" for e in ELEMENTS for k in ("n", "sum", "sq")),
)


def create_aggregate_table(name: str, bucket: str) -> None:
    """Integer sums and counts per unit, service, survey version and local bucket."""
    op.create_table(
        name,
        sa.Column(bucket, sa.Date(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("survey_version_id", sa.Integer(), nullable=False),
        *(sa.Column(counter, sa.Integer(), nullable=False) for counter in COUNTERS),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f(f"fk_{name}_service_id_services")
        ),
        sa.ForeignKeyConstraint(
            ["survey_version_id"],
            ["survey_versions.id"],
            name=op.f(f"fk_{name}_survey_version_id_survey_versions"),
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f(f"fk_{name}_unit_id_units")),
        sa.PrimaryKeyConstraint(
            "unit_id", bucket, "service_id", "survey_version_id", name=op.f(f"pk_{name}")
        ),
    )


def seed_standard_survey() -> None:
    """The built-in standard questionnaire, version 1, published."""
    now = datetime.now(UTC)
    surveys = sa.table(
        "surveys",
        sa.column("id", sa.Integer),
        sa.column("code", sa.String),
        sa.column("title", sa.String),
        sa.column("owner_unit_id", sa.Integer),
        sa.column("created_at", UTCDateTime()),
    )
    versions = sa.table(
        "survey_versions",
        sa.column("survey_id", sa.Integer),
        sa.column("version", sa.Integer),
        sa.column("status", sa.String),
        sa.column("definition", sa.JSON),
        sa.column("created_at", UTCDateTime()),
        sa.column("published_at", UTCDateTime()),
    )
    op.bulk_insert(
        surveys,
        [
            {
                "id": 1,
                "code": STANDARD_SURVEY_CODE,
                "title": STANDARD_SURVEY_TITLE,
                "owner_unit_id": None,
                "created_at": now,
            }
        ],
    )
    op.bulk_insert(
        versions,
        [
            {
                "survey_id": 1,
                "version": 1,
                "status": "published",
                "definition": STANDARD_DEFINITION,
                "created_at": now,
                "published_at": now,
            }
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('surveys', 'id'), 1)")


def upgrade() -> None:
    # units.survey_version_id and surveys.owner_unit_id refer to each other: SQLite accepts a
    # reference to a table created later; PostgreSQL gets the constraint once both exist.
    sqlite = op.get_bind().dialect.name == "sqlite"
    units_survey_fk = [UNITS_SURVEY_FK] if sqlite else []
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("time_zone_inherited", sa.Boolean(), nullable=False),
        sa.Column("survey_version_id", sa.Integer(), nullable=True),
        sa.Column("deactivated_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["units.id"], name=op.f("fk_units_parent_id_units")),
        *units_survey_fk,
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("code", name=op.f("uq_units_code")),
    )
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_units_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_units_path"), ["path"], unique=False)

    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner_unit_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_unit_id"], ["units.id"], name=op.f("fk_surveys_owner_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("code", name=op.f("uq_surveys_code")),
    )
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_surveys_owner_unit_id"), ["owner_unit_id"], unique=False
        )

    op.create_table(
        "survey_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'published')", name=op.f("ck_survey_versions_status")
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_versions_survey_id_surveys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_versions")),
        sa.UniqueConstraint(
            "survey_id", "version", name=op.f("uq_survey_versions_survey_id_version")
        ),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("deactivated_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_services_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("unit_id", "code", name=op.f("uq_services_unit_id_code")),
    )
    create_aggregate_table("daily_aggregates", "local_date")
    create_aggregate_table("monthly_aggregates", "month")
    op.create_table(
        "responses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("survey_version_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("collected_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("persyaratan", sa.SmallInteger(), nullable=True),
        sa.Column("prosedur", sa.SmallInteger(), nullable=True),
        sa.Column("waktu", sa.SmallInteger(), nullable=True),
        sa.Column("biaya", sa.SmallInteger(), nullable=True),
        sa.Column("produk", sa.SmallInteger(), nullable=True),
        sa.Column("kompetensi", sa.SmallInteger(), nullable=True),
        sa.Column("perilaku", sa.SmallInteger(), nullable=True),
        sa.Column("sarana", sa.SmallInteger(), nullable=True),
        sa.Column("pengaduan", sa.SmallInteger(), nullable=True),
        sa.Column("gender", sa.String(length=8), nullable=True),
        sa.Column("age_band", sa.String(length=8), nullable=True),
        sa.Column("education", sa.String(length=8), nullable=True),
        sa.Column("occupation", sa.String(length=16), nullable=True),
        sa.Column("extra_answers", sa.JSON(), nullable=True),
        sa.Column("suggestion", sa.Text(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "channel IN ('kiosk', 'mobile', 'web', 'paper')", name=op.f("ck_responses_channel")
        ),
        sa.CheckConstraint("biaya BETWEEN 1 AND 4", name=op.f("ck_responses_biaya_scale")),
        sa.CheckConstraint(
            "kompetensi BETWEEN 1 AND 4", name=op.f("ck_responses_kompetensi_scale")
        ),
        sa.CheckConstraint("pengaduan BETWEEN 1 AND 4", name=op.f("ck_responses_pengaduan_scale")),
        sa.CheckConstraint("perilaku BETWEEN 1 AND 4", name=op.f("ck_responses_perilaku_scale")),
        sa.CheckConstraint(
            "persyaratan BETWEEN 1 AND 4", name=op.f("ck_responses_persyaratan_scale")
        ),
        sa.CheckConstraint("produk BETWEEN 1 AND 4", name=op.f("ck_responses_produk_scale")),
        sa.CheckConstraint("prosedur BETWEEN 1 AND 4", name=op.f("ck_responses_prosedur_scale")),
        sa.CheckConstraint("sarana BETWEEN 1 AND 4", name=op.f("ck_responses_sarana_scale")),
        sa.CheckConstraint("waktu BETWEEN 1 AND 4", name=op.f("ck_responses_waktu_scale")),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_responses_service_id_services")
        ),
        sa.ForeignKeyConstraint(
            ["survey_version_id"],
            ["survey_versions.id"],
            name=op.f("fk_responses_survey_version_id_survey_versions"),
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_responses_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responses")),
    )
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.create_index("ix_responses_collected", ["collected_at", "id"], unique=False)
        batch_op.create_index("ix_responses_unit_day", ["unit_id", "local_date"], unique=False)

    if not sqlite:
        op.create_foreign_key(
            op.f("fk_units_survey_version_id_survey_versions"),
            "units",
            "survey_versions",
            ["survey_version_id"],
            ["id"],
        )
    seed_standard_survey()


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(
            op.f("fk_units_survey_version_id_survey_versions"), "units", type_="foreignkey"
        )
    op.drop_index("ix_responses_unit_day", table_name="responses")
    op.drop_index("ix_responses_collected", table_name="responses")
    op.drop_table("responses")
    op.drop_table("monthly_aggregates")
    op.drop_table("daily_aggregates")
    op.drop_table("services")
    op.drop_table("survey_versions")
    op.drop_index(op.f("ix_surveys_owner_unit_id"), table_name="surveys")
    op.drop_table("surveys")
    op.drop_index(op.f("ix_units_path"), table_name="units")
    op.drop_index(op.f("ix_units_parent_id"), table_name="units")
    op.drop_table("units")
