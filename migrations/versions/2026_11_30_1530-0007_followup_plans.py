"""follow-up plans (rencana tindak lanjut), their items, and the required periods per unit

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime
from app.method import ELEMENTS
from app.vocabulary import ITEM_STATUSES, PLAN_STATES, REQUIRED_PERIODS

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "followup_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("source_publication_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            f"state IN ({', '.join(repr(s) for s in PLAN_STATES)})",
            name=op.f("ck_followup_plans_state"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_followup_plans_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["source_publication_id"],
            ["publications.id"],
            name=op.f("fk_followup_plans_source_publication_id_publications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_plans")),
        sa.UniqueConstraint("unit_id", "period", name=op.f("uq_followup_plans_unit_id_period")),
    )
    op.create_table(
        "followup_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("element", sa.String(length=16), nullable=True),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=2000), nullable=False),
        sa.Column("responsible", sa.String(length=200), nullable=True),
        sa.Column("target_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=1000), nullable=True),
        sa.Column("evidence_note", sa.String(length=2000), nullable=True),
        sa.Column("evidence_links", sa.JSON(), nullable=False),
        sa.Column("proposed", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            f"status IN ({', '.join(repr(s) for s in ITEM_STATUSES)})",
            name=op.f("ck_followup_items_status"),
        ),
        sa.CheckConstraint(
            f"element IN ({', '.join(repr(e) for e in ELEMENTS)})",
            name=op.f("ck_followup_items_element"),
        ),
        sa.CheckConstraint(
            "(element IS NULL) <> (service_id IS NULL)",
            name=op.f("ck_followup_items_element_or_service"),
        ),
        sa.CheckConstraint(
            "status <> 'dropped' OR status_reason IS NOT NULL",
            name=op.f("ck_followup_items_dropped_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["followup_plans.id"],
            name=op.f("fk_followup_items_plan_id_followup_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_followup_items_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_items")),
    )
    op.create_index("ix_followup_items_plan", "followup_items", ["plan_id", "id"])
    op.create_index("ix_followup_items_due", "followup_items", ["status", "target_date"])
    op.create_table(
        "compliance_settings",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("required_periods", sa.String(length=16), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            f"required_periods IN ({', '.join(repr(p) for p in REQUIRED_PERIODS)})",
            name=op.f("ck_compliance_settings_required_periods"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_compliance_settings_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("unit_id", name=op.f("pk_compliance_settings")),
    )


def downgrade() -> None:
    op.drop_table("compliance_settings")
    op.drop_index("ix_followup_items_due", table_name="followup_items")
    op.drop_index("ix_followup_items_plan", table_name="followup_items")
    op.drop_table("followup_items")
    op.drop_table("followup_plans")
