"""responses partitioned by month on PostgreSQL; the registry of response ids; autovacuum
settings of the aggregates

On PostgreSQL `responses` becomes a table RANGE-partitioned by month of `local_date`, its
primary key (id, local_date): a partition per month from the oldest month stored up to
three months ahead, and a DEFAULT partition for any other day. The rows are copied; the
indexes, checks and foreign keys are recreated on the parent as they were. SQLite keeps one
table.

On both databases `response_ids` registers every stored id (backfilled here): the write path
inserts there first, so an id stays unique across months, and the ids of archived months
stay known (`app.partitions`).

The aggregates' rows are updated by every submission and never change a key: fillfactor 70
leaves room in each page for those updates to stay HOT (no index entry written, dead rows
reclaimed by page pruning), and autovacuum runs at 1 % dead rows (analyze at 2 %) rather than
20 % (10 %): these tables are small and their rows turn over all day, so the default waits for
a multiple of the table in dead rows. Existing pages keep their fill until rewritten.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 03:30:00
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 3
HOT_TABLES = ("daily_aggregates", "monthly_aggregates")
AUTOVACUUM = {
    "fillfactor": "70",
    "autovacuum_vacuum_scale_factor": "0.01",
    "autovacuum_analyze_scale_factor": "0.02",
}


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _definitions(conn: sa.Connection) -> tuple[list[str], list[tuple[str, str]]]:
    """The indexes (but the primary key's) and foreign keys of `responses`, as SQL."""
    indexes = list(
        conn.execute(
            sa.text(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = 'responses' AND indexname <> 'pk_responses' ORDER BY indexname"
            )
        ).scalars()
    )
    foreign_keys = [
        (name, definition)
        for name, definition in conn.execute(
            sa.text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'responses'::regclass AND contype = 'f' ORDER BY conname"
            )
        )
    ]
    return indexes, foreign_keys


def _rebuild(partitioned: bool) -> None:
    """Copy `responses` into a new table of the other kind, with the same columns, checks,
    indexes and foreign keys."""
    conn = op.get_bind()
    indexes, foreign_keys = _definitions(conn)
    names = conn.execute(
        sa.text(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'responses' AND indexname <> 'pk_responses'"
        )
    ).scalars()
    for name in list(names):
        op.execute(f'DROP INDEX "{name}"')
    op.execute("ALTER TABLE responses RENAME CONSTRAINT pk_responses TO pk_responses_old")
    op.execute("ALTER TABLE responses RENAME TO responses_old")
    like = "LIKE responses_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
    if partitioned:
        op.execute(f"CREATE TABLE responses ({like}) PARTITION BY RANGE (local_date)")
        oldest = conn.execute(sa.text("SELECT min(local_date) FROM responses_old")).scalar()
        today = datetime.now(UTC).date()
        month = (oldest or today).replace(day=1)
        last = today.replace(day=1)
        for _ in range(MONTHS_AHEAD):
            last = _next_month(last)
        while month <= last:
            following = _next_month(month)
            op.execute(
                f"CREATE TABLE responses_y{month:%Y}m{month:%m} PARTITION OF responses "
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')"
            )
            month = following
        op.execute("CREATE TABLE responses_default PARTITION OF responses DEFAULT")
    else:
        op.execute(f"CREATE TABLE responses ({like})")
    op.execute("INSERT INTO responses SELECT * FROM responses_old")
    op.execute("DROP TABLE responses_old CASCADE")
    key = "id, local_date" if partitioned else "id"
    op.execute(f"ALTER TABLE responses ADD CONSTRAINT pk_responses PRIMARY KEY ({key})")
    for definition in indexes:
        op.execute(definition)
    for name, definition in foreign_keys:
        op.execute(f'ALTER TABLE responses ADD CONSTRAINT "{name}" {definition}')


def upgrade() -> None:
    op.create_table(
        "response_ids",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_response_ids")),
    )
    op.execute(
        "INSERT INTO response_ids (id, unit_id, local_date, content_hash) "
        "SELECT id, unit_id, local_date, content_hash FROM responses"
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    _rebuild(partitioned=True)
    settings = ", ".join(f"{k} = {v}" for k, v in AUTOVACUUM.items())
    for table in HOT_TABLES:
        op.execute(f"ALTER TABLE {table} SET ({settings})")
    # Autovacuum analyzes the partitions, never a partitioned parent: its statistics (what
    # plans over several months use) come from ANALYZE alone. Not on a new database: a table
    # analyzed empty is planned as empty (a sequential scan), and the submissions' prepared
    # statements then scanned a whole month on every burst read until autovacuum's first
    # analyze replanned them; never analyzed, it is planned with the planner's defaults (an
    # index search).
    if op.get_bind().scalar(sa.text("SELECT EXISTS (SELECT FROM responses)")):
        op.execute("ANALYZE responses")
        op.execute("ANALYZE response_ids")


def downgrade() -> None:
    # The registry is all that is left of an archived month's responses (their ids): without
    # it a replay of one would be stored and counted a second time. Refused while it holds
    # such ids; bring the months back (or forget them deliberately) first.
    orphans = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT count(*) FROM response_ids r WHERE NOT EXISTS "
                "(SELECT 1 FROM responses s WHERE s.id = r.id AND s.local_date = r.local_date)"
            )
        )
        .scalar_one()
    )
    if orphans:
        raise RuntimeError(
            f"response_ids holds {orphans} ids of archived responses: downgrading would "
            "forget them (a replay would be counted twice); restore their months first"
        )
    if op.get_bind().dialect.name == "postgresql":
        for table in HOT_TABLES:
            op.execute(f"ALTER TABLE {table} RESET ({', '.join(AUTOVACUUM)})")
        _rebuild(partitioned=False)
    op.drop_table("response_ids")
