"""access control: API keys, tickets, audit log, public units, flagged responses

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AGGREGATES = (("daily_aggregates", "local_date"), ("monthly_aggregates", "month"))


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("scope_unit_id", sa.Integer(), nullable=True),
        sa.Column("read_responses", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'manager', 'collector', 'reader')", name=op.f("ck_api_keys_role")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["api_keys.id"], name=op.f("fk_api_keys_created_by_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["scope_unit_id"], ["units.id"], name=op.f("fk_api_keys_scope_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_keys_token_hash")),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("response_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["issued_by_id"], ["api_keys.id"], name=op.f("fk_tickets_issued_by_id_api_keys")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_tickets_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_tickets_code_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("key_name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_audit_log_api_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    with op.batch_alter_table("units") as batch:
        batch.add_column(
            sa.Column("public", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("requires_ticket", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("api_key_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("device", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("flag", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("flag_reason", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("flag_reviewed_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("flag_reviewed_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_responses_api_key_id_api_keys"), "api_keys", ["api_key_id"], ["id"]
        )
        batch.create_foreign_key(
            op.f("fk_responses_flag_reviewed_by_id_api_keys"),
            "api_keys",
            ["flag_reviewed_by_id"],
            ["id"],
        )
        batch.create_check_constraint(
            op.f("ck_responses_flag"), "flag IN ('suspected', 'confirmed', 'cleared')"
        )
        batch.create_index("ix_responses_device", ["device", "collected_at"])
        batch.create_index("ix_responses_flag", ["flag"])
    for table, bucket in AGGREGATES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("flagged", sa.Boolean(), server_default=sa.false(), nullable=False)
            )
            batch.drop_constraint(op.f(f"pk_{table}"), type_="primary")
            batch.create_primary_key(
                op.f(f"pk_{table}"),
                ["unit_id", bucket, "service_id", "survey_version_id", "flagged"],
            )
            batch.alter_column("flagged", server_default=None)


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


def _rebuild(table: str, bucket: str) -> None:
    """Recount an aggregate table from the response rows (every response counted)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    if bucket == "local_date":
        bucket_sql = "local_date"
    elif postgres:
        bucket_sql = "CAST(date_trunc('month', local_date) AS DATE)"
    else:
        bucket_sql = "date(local_date, 'start of month')"
    total = " + ".join(ELEMENTS)
    per_element = [
        f"COUNT({e}), COALESCE(SUM({e}), 0), COALESCE(SUM({e} * {e}), 0)" for e in ELEMENTS
    ]
    names = [f"{e}_{k}" for e in ELEMENTS for k in ("n", "sum", "sq")]
    op.execute(f"DELETE FROM {table}")
    op.execute(
        f"INSERT INTO {table} (unit_id, {bucket}, service_id, survey_version_id, responses, "
        f"complete, complete_total, complete_total_sq, {', '.join(names)}, updated_at) "
        f"SELECT unit_id, {bucket_sql}, service_id, survey_version_id, COUNT(*), "
        f"COUNT({total}), COALESCE(SUM({total}), 0), COALESCE(SUM(({total}) * ({total})), 0), "
        f"{', '.join(per_element)}, MAX(received_at) FROM responses "
        f"GROUP BY unit_id, {bucket_sql}, service_id, survey_version_id"
    )


def downgrade() -> None:
    # Without flags every response counts again: the aggregates are recounted.
    for table, bucket in AGGREGATES:
        op.execute(f"DELETE FROM {table}")
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"pk_{table}"), type_="primary")
            batch.create_primary_key(
                op.f(f"pk_{table}"), ["unit_id", bucket, "service_id", "survey_version_id"]
            )
            batch.drop_column("flagged")
        _rebuild(table, bucket)
    with op.batch_alter_table("responses") as batch:
        batch.drop_index("ix_responses_flag")
        batch.drop_index("ix_responses_device")
        batch.drop_constraint(op.f("ck_responses_flag"), type_="check")
        batch.drop_constraint(op.f("fk_responses_flag_reviewed_by_id_api_keys"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_responses_api_key_id_api_keys"), type_="foreignkey")
        for column in (
            "flag_reviewed_by_id",
            "flag_reviewed_at",
            "flag_reason",
            "flag",
            "device",
            "api_key_id",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("units") as batch:
        batch.drop_column("requires_ticket")
        batch.drop_column("public")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("tickets")
    op.drop_table("api_keys")
