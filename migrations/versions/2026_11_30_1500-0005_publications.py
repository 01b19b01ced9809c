"""publications: a unit's result for a period, frozen when published

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-30 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "publications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("published_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("method_id", sa.String(length=64), nullable=False),
        sa.Column("responses", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("difference", sa.JSON(), nullable=True),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_publications_revision")),
        sa.CheckConstraint("period_start < period_end", name=op.f("ck_publications_period_days")),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_publications_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["publications.id"],
            name=op.f("fk_publications_supersedes_id_publications"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_publications_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publications")),
        sa.UniqueConstraint(
            "unit_id", "period", "revision", name=op.f("uq_publications_unit_id_period_revision")
        ),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_publications_supersedes_id")),
    )
    op.create_index(
        "ix_publications_unit_days",
        "publications",
        ["unit_id", "period_start", "period_end"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_publications_unit_days", table_name="publications")
    op.drop_table("publications")
