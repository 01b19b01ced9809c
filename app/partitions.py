"""Monthly partitions of `responses` on PostgreSQL (migration 0010): creating the months
ahead, and archiving old months to compressed CSV before detaching them.

`responses` is RANGE-partitioned by `local_date`: one partition per calendar month
(`responses_y2026m12`), and `responses_default` for a day no month partition holds. An id
is unique across months through the registry `response_ids` (`app.ingest`), which keeps the
ids of archived months: a replay of one is recognised, and the indices of archived months
still come from the aggregates, which archiving does not touch.

These are the service's own commands (`skm partitions maintain|archive`), run from cron;
they need no extension (see the README on pg_partman). SQLite has one table and nothing to
do. Synchronous SQLAlchemy: a command line's work, one connection."""

import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from psycopg.errors import LockNotAvailable
from sqlalchemy import Connection, Engine, create_engine, insert, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from app.config import Settings
from app.db import sync_url
from app.models import AuditEntry

PARENT = "responses"
DEFAULT_PARTITION = "responses_default"
MONTHS_AHEAD = 3
COMMAND_KEY_NAME = "skm partitions (command line)"
DETACH_LOCK_TIMEOUT = "5s"
_CHILD = re.compile(r"^responses_(y\d{4}m\d{2}|default)$")
_BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


def is_partition(name: str | None) -> bool:
    """A partition of `responses` (created by the migration or these commands)."""
    return name is not None and _CHILD.match(name) is not None


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's filter: partitions are the database's, not the models' (env.py and the
    migration test compare the models with everything else)."""
    return not (type_ == "table" and is_partition(name))


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"responses_y{month:%Y}m{month:%m}"


def parse_month(text_: str) -> date:
    """'2026-03' → date(2026, 3, 1)."""
    if not re.fullmatch(r"\d{4}-\d{2}", text_):
        raise ValueError("a month is YYYY-MM")
    return date.fromisoformat(f"{text_}-01")


@dataclass(frozen=True)
class Partition:
    name: str
    start: date | None  # None: the DEFAULT partition
    end: date | None


def partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    found = conn.execute(
        text(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = :parent AND c.relnamespace = current_schema()::regnamespace"
        ),
        {"parent": PARENT},
    ).first()
    return found is not None


def partitions(conn: Connection) -> list[Partition]:
    """The partitions of `responses`, by month (DEFAULT last)."""
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = (current_schema() || '.responses')::regclass"
        )
    )
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound)
        if match is None:
            found.append(Partition(name, None, None))
        else:
            start, end = (date.fromisoformat(g) for g in match.groups())
            found.append(Partition(name, start, end))
    return sorted(found, key=lambda p: (p.start is None, p.start or date.min))


def _default_rows(conn: Connection, month: date) -> int:
    return int(
        conn.execute(
            text(
                f"SELECT count(*) FROM {DEFAULT_PARTITION} "
                "WHERE local_date >= :start AND local_date < :end"
            ),
            {"start": month, "end": next_month(month)},
        ).scalar_one()
    )


def _create_month(conn: Connection, month: date) -> None:
    conn.execute(
        text(
            f"CREATE TABLE {partition_name(month)} PARTITION OF {PARENT} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
        )
    )


def _move_out_of_default(conn: Connection, month: date) -> int:
    """The month's partition made of its rows in DEFAULT: created apart, filled, the rows
    deleted from DEFAULT, then attached (attaching checks DEFAULT holds none of the month),
    in the caller's transaction. How many rows moved."""
    name = partition_name(month)
    bounds = {"start": month, "end": next_month(month)}
    conn.execute(text(f"LOCK TABLE {DEFAULT_PARTITION} IN SHARE ROW EXCLUSIVE MODE"))
    conn.execute(
        text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    where = "local_date >= :start AND local_date < :end"
    moved = conn.execute(
        text(f"INSERT INTO {name} SELECT * FROM {DEFAULT_PARTITION} WHERE {where}"), bounds
    ).rowcount
    conn.execute(text(f"DELETE FROM {DEFAULT_PARTITION} WHERE {where}"), bounds)
    conn.execute(
        text(
            f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
        )
    )
    return int(moved)


@dataclass
class Maintained:
    created: list[str] = field(default_factory=list)
    moved: dict[str, int] = field(default_factory=dict)  # partition → rows moved from DEFAULT
    blocked: dict[str, int] = field(default_factory=dict)  # month not created: DEFAULT's rows
    default_rows: int = 0


def months(first: date, last: date) -> list[date]:
    """The first days of the months from `first`'s to `last`'s."""
    found, month = [], month_start(first)
    while month <= last:
        found.append(month)
        month = next_month(month)
    return found


def ensure_months(conn: Connection, wanted: list[date], move_default: bool = False) -> Maintained:
    """Create the partitions of the `wanted` months (first days) that do not exist yet. A
    month whose rows are already in DEFAULT (written before its partition existed) is not
    created unless `move_default`: PostgreSQL refuses to create it while DEFAULT holds its
    rows, and moving them locks DEFAULT, so it is an operator's choice, never done
    silently. In the caller's transaction."""
    done = Maintained()
    existing = {p.start for p in partitions(conn)}
    for month in wanted:
        if month in existing:
            continue
        waiting = _default_rows(conn, month)
        if waiting == 0:
            _create_month(conn, month)
            done.created.append(partition_name(month))
        elif move_default:
            done.moved[partition_name(month)] = _move_out_of_default(conn, month)
        else:
            done.blocked[partition_name(month)] = waiting
    done.default_rows = int(
        conn.execute(text(f"SELECT count(*) FROM {DEFAULT_PARTITION}")).scalar_one()
    )
    return done


def maintain(
    conn: Connection, today: date, ahead: int = MONTHS_AHEAD, move_default: bool = False
) -> Maintained:
    """`ensure_months` for this month and the `ahead` months after it."""
    last = month_start(today)
    for _ in range(ahead):
        last = next_month(last)
    return ensure_months(conn, months(today, last), move_default)


@dataclass(frozen=True)
class Archived:
    month: date
    partition: str
    rows: int
    file: Path
    sha256: str
    manifest: Path  # pending until the transaction commits: see `committed`

    def committed(self) -> None:
        """Name the manifest final, once the month's detach and drop are committed."""
        self.manifest.replace(self.manifest.with_name(self.manifest.name[: -len(PENDING)]))


PENDING = ".pending"  # the manifest's suffix until its month is detached and dropped


class ArchiveRefused(Exception):
    pass


def newest_archivable(today: date, max_collected_age_days: int) -> date:
    """The first month that may not be archived: the month of the oldest day a response
    may still be collected on (`max_collected_age_days`) — a month is archived only once
    no submission can land in it."""
    return month_start(today - timedelta(days=max_collected_age_days))


def _columns(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = "
                "(current_schema() || '.responses')::regclass AND attnum > 0 "
                "AND NOT attisdropped ORDER BY attnum"
            )
        ).scalars()
    )


def _write_month(conn: Connection, partition: Partition, columns: list[str], path: Path) -> None:
    """The partition's rows as gzipped CSV with a header (PostgreSQL's COPY format: NULL is
    an empty unquoted field), ordered by (collected_at, id); synced to disk."""
    driver: Any = conn.connection.driver_connection
    listed = ", ".join(f'"{c}"' for c in columns)
    sql = (
        f"COPY (SELECT {listed} FROM {partition.name} ORDER BY collected_at, id) "
        "TO STDOUT WITH (FORMAT csv, HEADER true)"
    )
    partial = path.with_suffix(".partial")
    with partial.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for chunk in copy:
                out.write(bytes(chunk))
        out.flush()
    with partial.open("rb") as done:
        os.fsync(done.fileno())
    partial.replace(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archivable(conn: Connection, before: date) -> list[Partition]:
    return [p for p in partitions(conn) if p.end is not None and p.end <= before]


def archive_month(conn: Connection, partition: Partition, to: Path, now: datetime) -> Archived:
    """Write one month's partition to `to` (csv.gz and its manifest), then detach and drop
    it and audit it, in the caller's transaction (commit it right after: the partition is
    locked against writes from the start, so the file holds exactly the rows dropped). The
    ids stay in `response_ids`."""
    assert partition.start is not None
    conn.execute(text(f"LOCK TABLE {partition.name} IN SHARE MODE"))
    rows = int(conn.execute(text(f"SELECT count(*) FROM {partition.name}")).scalar_one())
    columns = _columns(conn)
    stem = f"responses-{partition.start:%Y-%m}"
    path = to / f"{stem}.csv.gz"
    _write_month(conn, partition, columns, path)
    sha256 = _sha256(path)
    manifest = {
        "table": PARENT,
        "month": f"{partition.start:%Y-%m}",
        "first_day": partition.start.isoformat(),
        "end_day": partition.end.isoformat() if partition.end else None,
        "file": path.name,
        "rows": rows,
        "sha256": sha256,
        "columns": columns,
        "format": "CSV with a header, UTF-8, gzip; NULL is an empty unquoted field",
        "archived_at": now.astimezone(UTC).isoformat(),
    }
    # Named final only once the month is detached and dropped (the caller's commit): a
    # manifest on disk says the month left the table.
    manifest_path = to / f"{stem}.manifest.json{PENDING}"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    # Detaching takes the parent's ACCESS EXCLUSIVE lock (CONCURRENTLY cannot run in a
    # transaction): for a moment only, and not at all if it would queue every submission
    # behind a long read for longer than this (then nothing is done; run it again).
    conn.execute(text(f"SET LOCAL lock_timeout = '{DETACH_LOCK_TIMEOUT}'"))
    conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {partition.name}"))
    conn.execute(text(f"DROP TABLE {partition.name}"))
    conn.execute(
        insert(AuditEntry).values(
            at=now,
            api_key_id=None,
            key_name=COMMAND_KEY_NAME,
            action="archive-responses",
            target=f"{PARENT} {partition.start:%Y-%m}",
            details={"month": manifest["month"], "rows": rows, "file": path.name, "sha256": sha256},
        )
    )
    return Archived(partition.start, partition.name, rows, path, sha256, manifest_path)


def read_archive(path: Path) -> Iterator[list[str]]:
    """The rows of an archived month's file (header first), as the csv module reads them."""
    import csv

    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        yield from csv.reader(f)


# --- the command line: `skm partitions maintain|archive` --------------------------------------


def _engine(settings: Settings) -> Engine:
    return create_engine(sync_url(settings.database_url), poolclass=NullPool)


def maintain_command(
    settings: Settings, ahead: int, move_default: bool, out: TextIO, today: date | None = None
) -> int:
    """Exit status: 0 when every month wanted exists, 1 when some month's rows wait in
    DEFAULT (named, with their count and the way out)."""
    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            if not partitioned(conn):
                out.write("responses is not partitioned on this database: nothing to do\n")
                return 0
            done = maintain(conn, today or datetime.now(UTC).date(), ahead, move_default)
    finally:
        engine.dispose()
    for name in done.created:
        out.write(f"created {name}\n")
    for name, moved in done.moved.items():
        out.write(f"created {name} with its {moved} rows moved out of {DEFAULT_PARTITION}\n")
    for name, waiting in done.blocked.items():
        out.write(
            f"not created {name}: {DEFAULT_PARTITION} holds {waiting} rows of that month; "
            "run again with --move-default to move them into it (locks the DEFAULT "
            "partition while they move)\n"
        )
    if not (done.created or done.moved or done.blocked):
        out.write(f"every month up to {ahead} ahead exists\n")
    out.write(f"{DEFAULT_PARTITION}: {done.default_rows} rows\n")
    return 1 if done.blocked else 0


def archive_command(
    settings: Settings, before: date, to: Path, out: TextIO, today: date | None = None
) -> int:
    """Archive every month partition before the month `before` (its first day): each
    written to `to`, detached and dropped, one transaction per month. Exit status 2 when
    refused (a month still inside the submission window, no such directory)."""
    limit = newest_archivable(today or datetime.now(UTC).date(), settings.max_collected_age_days)
    if before > limit:
        out.write(
            f"refused: a response may still be collected on a day of {limit:%Y-%m} or later "
            f"(SKM_MAX_COLLECTED_AGE_DAYS={settings.max_collected_age_days}); archive "
            f"--before {limit:%Y-%m} at the latest\n"
        )
        return 2
    if not to.is_dir():
        out.write(f"refused: {to} is not a directory\n")
        return 2
    engine = _engine(settings)
    try:
        with engine.begin() as conn:
            if not partitioned(conn):
                out.write("responses is not partitioned on this database: nothing to archive\n")
                return 2
            chosen = archivable(conn, before)
            left = int(
                conn.execute(
                    text(f"SELECT count(*) FROM {DEFAULT_PARTITION} WHERE local_date < :before"),
                    {"before": before},
                ).scalar_one()
            )
        for partition in chosen:
            try:
                with engine.begin() as conn:
                    done = archive_month(conn, partition, to, datetime.now(UTC))
            except OperationalError as error:
                if not isinstance(error.orig, LockNotAvailable):
                    raise
                out.write(
                    f"{partition.name}: not detached, a long read held {PARENT} over "
                    f"{DETACH_LOCK_TIMEOUT}: left as it was (its file has no manifest); run "
                    "again\n"
                )
                return 1
            done.committed()
            out.write(
                f"archived {done.partition}: {done.rows} rows to {done.file.name} "
                f"(sha256 {done.sha256}), detached and dropped\n"
            )
    finally:
        engine.dispose()
    if not chosen:
        out.write(f"no month partition ends before {before:%Y-%m}\n")
    if left:
        out.write(
            f"{DEFAULT_PARTITION} holds {left} rows before {before:%Y-%m}: not archived "
            "(they belong to no month partition)\n"
        )
    return 0
