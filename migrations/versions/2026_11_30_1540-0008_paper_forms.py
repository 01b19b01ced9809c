"""paper forms: print runs and their sheet codes, imports and their rows, withdrawn responses

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, referred: str, key: str = "id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.{key}"], name=op.f(f"fk_{table}_{column}_{referred}")
    )


def upgrade() -> None:
    op.create_table(
        "print_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("survey_version_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("sheets", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        _fk("print_runs", "api_key_id", "api_keys"),
        _fk("print_runs", "survey_version_id", "survey_versions"),
        _fk("print_runs", "unit_id", "units"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_runs")),
    )
    op.create_index(op.f("ix_print_runs_unit_id"), "print_runs", ["unit_id"], unique=False)
    op.create_table(
        "sheet_codes",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("print_run_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        _fk("sheet_codes", "print_run_id", "print_runs"),
        _fk("sheet_codes", "unit_id", "units"),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_sheet_codes")),
    )
    op.create_index(
        op.f("ix_sheet_codes_print_run_id"), "sheet_codes", ["print_run_id"], unique=False
    )
    op.create_index(op.f("ix_sheet_codes_unit_id"), "sheet_codes", ["unit_id"], unique=False)
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("survey_version_id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("key_name", sa.String(length=100), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=True),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_bytes", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("all_or_nothing", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("rows_total", sa.Integer(), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("present", sa.Integer(), nullable=False),
        sa.Column("conflicts", sa.Integer(), nullable=False),
        sa.Column("withdrawn_rows", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_imports_state")
        ),
        _fk("imports", "api_key_id", "api_keys"),
        _fk("imports", "survey_version_id", "survey_versions"),
        _fk("imports", "unit_id", "units"),
        _fk("imports", "withdrawn_by_id", "api_keys"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
    )
    op.create_index(op.f("ix_imports_file_sha256"), "imports", ["file_sha256"], unique=False)
    op.create_index(op.f("ix_imports_unit_id"), "imports", ["unit_id"], unique=False)
    op.create_table(
        "import_rows",
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("response_id", sa.Uuid(), nullable=True),
        sa.Column("cells", sa.JSON(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=True),
        _fk("import_rows", "import_id", "imports"),
        sa.PrimaryKeyConstraint("import_id", "row_number", name=op.f("pk_import_rows")),
    )
    op.create_index(
        op.f("ix_import_rows_response_id"), "import_rows", ["response_id"], unique=False
    )
    op.create_table(
        "withdrawn_responses",
        sa.Column("response_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        _fk("withdrawn_responses", "api_key_id", "api_keys"),
        _fk("withdrawn_responses", "import_id", "imports"),
        _fk("withdrawn_responses", "unit_id", "units"),
        sa.PrimaryKeyConstraint("response_id", name=op.f("pk_withdrawn_responses")),
    )


def downgrade() -> None:
    op.drop_table("withdrawn_responses")
    op.drop_index(op.f("ix_import_rows_response_id"), table_name="import_rows")
    op.drop_table("import_rows")
    op.drop_index(op.f("ix_imports_unit_id"), table_name="imports")
    op.drop_index(op.f("ix_imports_file_sha256"), table_name="imports")
    op.drop_table("imports")
    op.drop_index(op.f("ix_sheet_codes_unit_id"), table_name="sheet_codes")
    op.drop_index(op.f("ix_sheet_codes_print_run_id"), table_name="sheet_codes")
    op.drop_table("sheet_codes")
    op.drop_index(op.f("ix_print_runs_unit_id"), table_name="print_runs")
    op.drop_table("print_runs")
