"""yearly aggregates: the counters per unit, service, survey version, flag, slot and local
calendar year, kept with the daily and monthly ones

`yearly_aggregates.year` is the year's first day. The table is backfilled from the monthly
aggregates (each year's months summed, slot by slot), which hold the same counts: an index
over whole years then reads one row per unit and service where it read twelve.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

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
KEY = ("unit_id", "service_id", "survey_version_id", "flagged", "slot")


AUTOVACUUM = (
    "fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02"
)


def upgrade() -> None:
    name = "yearly_aggregates"
    op.create_table(
        name,
        sa.Column("year", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("survey_version_id", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), server_default="0", nullable=False),
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
            "unit_id",
            "year",
            "service_id",
            "survey_version_id",
            "flagged",
            "slot",
            name=op.f(f"pk_{name}"),
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        year = "CAST(date_trunc('year', month) AS date)"
    else:
        year = "date(month, 'start of year')"
    key = ", ".join(KEY)
    op.execute(
        f"INSERT INTO {name} ({key}, year, {', '.join(COUNTERS)}, updated_at) "
        f"SELECT {key}, {year}, {', '.join(f'sum({c})' for c in COUNTERS)}, max(updated_at) "
        f"FROM monthly_aggregates GROUP BY {key}, {year}"
    )
    if op.get_bind().dialect.name == "postgresql":
        # Updated by every submission like the daily and monthly rows (migration 0010): room
        # for HOT updates in each page, vacuumed and analyzed after 1 % / 2 % of it changes.
        op.execute(f"ALTER TABLE {name} SET ({AUTOVACUUM})")


def downgrade() -> None:
    op.drop_table("yearly_aggregates")
