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
from typing import Any

from sqlalchemy import Connection, insert, text

from app.models import AuditEntry

PARENT = "responses"
DEFAULT_PARTITION = "responses_default"
MONTHS_AHEAD = 3
COMMAND_KEY_NAME = "skm partitions (command line)"
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
    conn.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
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


def maintain(
    conn: Connection, today: date, ahead: int = MONTHS_AHEAD, move_default: bool = False
) -> Maintained:
    """Create the partitions of this month and the `ahead` months after it that do not
    exist yet. A month whose rows are already in DEFAULT (written before its partition
    existed) is not created unless `move_default`: PostgreSQL refuses to create it while
    DEFAULT holds its rows, and moving them locks DEFAULT, so it is an operator's choice,
    never done silently. In the caller's transaction."""
    done = Maintained()
    existing = {p.start for p in partitions(conn)}
    month = month_start(today)
    for _ in range(ahead + 1):
        if month not in existing:
            waiting = _default_rows(conn, month)
            if waiting == 0:
                _create_month(conn, month)
                done.created.append(partition_name(month))
            elif move_default:
                done.moved[partition_name(month)] = _move_out_of_default(conn, month)
            else:
                done.blocked[partition_name(month)] = waiting
        month = next_month(month)
    done.default_rows = int(
        conn.execute(text(f"SELECT count(*) FROM {DEFAULT_PARTITION}")).scalar_one()
    )
    return done


@dataclass(frozen=True)
class Archived:
    month: date
    partition: str
    rows: int
    file: Path
    sha256: str


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


def archive_month(
    conn: Connection, partition: Partition, to: Path, now: datetime
) -> Archived:
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
    manifest_path = to / f"{stem}.manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
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
    return Archived(partition.start, partition.name, rows, path, sha256)


def read_archive(path: Path) -> Iterator[list[str]]:
    """The rows of an archived month's file (header first), as the csv module reads them."""
    import csv

    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        yield from csv.reader(f)
