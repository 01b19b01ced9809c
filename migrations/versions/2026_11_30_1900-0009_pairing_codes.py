"""pairing codes: short one-time codes a kiosk or dashboard exchanges for its own key; keys
restricted to some services

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}")
    )


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("services", sa.JSON(none_as_null=True), nullable=True))
    op.create_table(
        "pairing_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("services", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("key_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("role IN ('collector', 'reader')", name=op.f("ck_pairing_codes_role")),
        _fk("pairing_codes", "created_by_id", "api_keys"),
        _fk("pairing_codes", "key_id", "api_keys"),
        _fk("pairing_codes", "unit_id", "units"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairing_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_pairing_codes_code_hash")),
    )


def downgrade() -> None:
    op.drop_table("pairing_codes")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("services")
