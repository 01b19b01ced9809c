"""SQLite keeps one aggregate row per key: the slots of `daily_aggregates`,
`monthly_aggregates` and `yearly_aggregates` folded into slot 0

Slots spread a key's counts over 8 rows so that PostgreSQL's concurrent writers do not all
wait for one row's lock. SQLite's writers take turns on the whole database, so there they
only spread a batch's counts over eight times the rows and pages, each page written to the
WAL and synced at every commit: from this revision SQLite counts every response in slot 0
(`app.aggregates.slots`). Each key's slot rows are summed into its slot 0 row, the others
deleted; the sums readers see are unchanged. Nothing changes on PostgreSQL.

Downgrading leaves the counts in slot 0, where the earlier code also finds the counts
written before slots existed (revision 0004).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AGGREGATES = (
    ("daily_aggregates", "local_date"),
    ("monthly_aggregates", "month"),
    ("yearly_aggregates", "year"),
)
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
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, bucket in AGGREGATES:
        key = ", ".join((*KEY, bucket))
        summed = ", ".join(f"sum({c})" for c in COUNTERS)
        added = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in COUNTERS)
        # WHERE before ON CONFLICT: an upsert's SELECT needs one (SQLite's parser).
        op.execute(
            f"INSERT INTO {table} ({key}, slot, {', '.join(COUNTERS)}, updated_at) "
            f"SELECT {key}, 0, {summed}, max(updated_at) FROM {table} WHERE slot <> 0 "
            f"GROUP BY {key} ON CONFLICT ({key}, slot) DO UPDATE SET {added}, "
            f"updated_at = max({table}.updated_at, excluded.updated_at)"
        )
        op.execute(f"DELETE FROM {table} WHERE slot <> 0")


def downgrade() -> None:
    """The counts stay in slot 0 (see above)."""
