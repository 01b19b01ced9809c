"""report settings: a unit's own texts and logo for its Laporan SKM; indexes for the
documents' respondent counts (profile columns carried by ix_responses_unit_day on
PostgreSQL; a partial index of the responses with a suggestion)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported from app.models: a migration keeps the schema of its day.
PROFILE_COLUMNS = ("gender", "age_band", "education", "occupation", "channel", "flag")


def upgrade() -> None:
    op.create_table(
        "report_settings",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("foreword", sa.Text(), nullable=True),
        sa.Column("foreword_en", sa.Text(), nullable=True),
        sa.Column("surveyor", sa.String(length=200), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("signatory_name", sa.String(length=200), nullable=True),
        sa.Column("signatory_title", sa.String(length=200), nullable=True),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_type", sa.String(length=16), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "logo_type IN ('image/png', 'image/jpeg')",
            name=op.f("ck_report_settings_logo_type"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_report_settings_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("unit_id", name=op.f("pk_report_settings")),
    )
    # The same key, now carrying the profile columns, the channel and the flag on PostgreSQL
    # (INCLUDE), so the documents count respondents by profile from the index alone.
    op.drop_index("ix_responses_unit_day", table_name="responses")
    op.create_index(
        "ix_responses_unit_day",
        "responses",
        ["unit_id", "local_date"],
        postgresql_include=list(PROFILE_COLUMNS),
    )
    op.create_index(
        "ix_responses_suggestion",
        "responses",
        ["unit_id", "local_date"],
        postgresql_include=["flag", "received_at"],
        postgresql_where=sa.text("suggestion IS NOT NULL"),
        sqlite_where=sa.text("suggestion IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_responses_suggestion", table_name="responses")
    op.drop_index("ix_responses_unit_day", table_name="responses")
    op.create_index("ix_responses_unit_day", "responses", ["unit_id", "local_date"])
    op.drop_table("report_settings")
