"""ingest at any rate: answers' signature for burst detection, aggregate slots

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 15:00:00

- `responses.answers_signature`: the nine scores as one base-5 integer (a blank is 0),
  NULL on paper; indexed with the device and collected_at, replacing the index on the
  device and collected_at alone, so that burst detection reads only identical answers.
  Filled for the stored responses.
- `daily_aggregates.slot`, `monthly_aggregates.slot`: part of the primary key; the counts
  already stored stay in slot 0. Downgrading sums the slots of each key back into one row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AGGREGATES = (("daily_aggregates", "local_date"), ("monthly_aggregates", "month"))
KEY = ("unit_id", "service_id", "survey_version_id", "flagged")
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
    *(f"{e}_{s}" for e in ELEMENTS for s in ("n", "sum", "sq")),
)


def upgrade() -> None:
    with op.batch_alter_table("responses") as batch:
        batch.add_column(sa.Column("answers_signature", sa.Integer(), nullable=True))
        batch.drop_index("ix_responses_device")
    signature = " + ".join(f"COALESCE({e}, 0) * {5**i}" for i, e in enumerate(ELEMENTS))
    op.execute(f"UPDATE responses SET answers_signature = {signature} WHERE channel <> 'paper'")
    op.create_index(
        "ix_responses_device_answers",
        "responses",
        ["device", "answers_signature", "collected_at"],
    )
    for table, bucket in AGGREGATES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("slot", sa.SmallInteger(), server_default="0", nullable=False)
            )
            batch.drop_constraint(op.f(f"pk_{table}"), type_="primary")
            batch.create_primary_key(
                op.f(f"pk_{table}"),
                ["unit_id", bucket, "service_id", "survey_version_id", "flagged", "slot"],
            )


def downgrade() -> None:
    for table, bucket in AGGREGATES:
        key = ", ".join((*KEY, bucket))
        columns = ", ".join((*KEY, bucket, *COUNTERS, "updated_at"))
        summed = ", ".join(f"SUM({c}) AS {c}" for c in COUNTERS)
        op.execute(
            f"CREATE TABLE {table}_merged AS SELECT {key}, {summed}, "
            f"MAX(updated_at) AS updated_at FROM {table} GROUP BY {key}"
        )
        op.execute(f"DELETE FROM {table}")
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"pk_{table}"), type_="primary")
            batch.create_primary_key(
                op.f(f"pk_{table}"),
                ["unit_id", bucket, "service_id", "survey_version_id", "flagged"],
            )
            batch.drop_column("slot")
        op.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_merged")
        op.execute(f"DROP TABLE {table}_merged")
    op.drop_index("ix_responses_device_answers", table_name="responses")
    with op.batch_alter_table("responses") as batch:
        batch.create_index("ix_responses_device", ["device", "collected_at"])
        batch.drop_column("answers_signature")
