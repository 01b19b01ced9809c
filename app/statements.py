"""Running the hot statements: authentication and response submission.

These are SQLAlchemy Core statements built once, with named bind parameters. On SQLite they
run through SQLAlchemy. On PostgreSQL each is compiled once to SQL text and run on the
psycopg connection underneath the SQLAlchemy connection — the same connection, in the same
transaction — which skips SQLAlchemy's per-execute work (cache keys, execution context,
result processing): that was about half of a single submission's CPU time. psycopg prepares
a statement on the server once it has run a few times on a connection.

Rows come back as named tuples on both databases. Bind values must already be what the
database stores (aware datetimes, UUIDs, dicts for JSON columns): on PostgreSQL no
SQLAlchemy type runs on them, so keep TypeDecorators with bind-side logic out of these
statements' parameters, except UTCDateTime, whose PostgreSQL side is the identity.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from psycopg import AsyncConnection as PsycopgConnection
from psycopg.rows import namedtuple_row
from psycopg.types.json import Json
from sqlalchemy import ARRAY, JSON, any_, bindparam
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import Executable

Params = Mapping[str, Any]

_POSTGRESQL = postgresql_psycopg.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    json_params: tuple[str, ...]  # parameters of JSON columns: wrapped for psycopg

    def adapt(self, params: Params) -> Params:
        if not self.json_params:
            return params
        adapted = dict(params)
        for name in self.json_params:
            if adapted.get(name) is not None:
                adapted[name] = Json(adapted[name])
        return adapted


@cache
def _compiled(statement: Executable) -> _Compiled:
    compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=_POSTGRESQL))
    json_params = tuple(
        compiled.bind_names[bind] for bind in compiled.binds.values() if isinstance(bind.type, JSON)
    )
    return _Compiled(str(compiled), json_params)


def one_of(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], name: str, dialect: str
) -> ColumnElement[bool]:
    """`column` equal to one of the list bound as `name`: `= ANY(array)` on PostgreSQL (one
    statement text whatever the list's length), an expanding IN on SQLite."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


async def _psycopg(conn: AsyncConnection) -> PsycopgConnection[Any]:
    """The driver's connection, with SQLAlchemy's transaction begun on it (psycopg sends the
    BEGIN with the first statement), so that SQLAlchemy commits or rolls back our work."""
    if not conn.in_transaction():
        await conn.begin()
    raw = await conn.get_raw_connection()
    driver: PsycopgConnection[Any] = raw.driver_connection  # type: ignore[assignment]
    return driver


async def fetch_all(conn: AsyncConnection, statement: Executable, params: Params) -> list[Any]:
    """The rows of a statement run once with `params`."""
    if conn.dialect.name != "postgresql":
        return list((await conn.execute(statement, dict(params))).all())
    compiled = _compiled(statement)
    async with (await _psycopg(conn)).cursor(row_factory=namedtuple_row) as cursor:
        await cursor.execute(compiled.sql, compiled.adapt(params))
        return await cursor.fetchall()


async def execute_many(
    conn: AsyncConnection, statement: Executable, rows: Sequence[Params], returning: bool = False
) -> list[Any]:
    """Run a statement once per parameter set (sent together); the rows it returned, in
    order, when `returning`."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        result = await conn.execute(statement, [dict(r) for r in rows])
        return list(result.all()) if returning else []
    compiled = _compiled(statement)
    params: Iterable[Params] = (compiled.adapt(r) for r in rows)
    async with (await _psycopg(conn)).cursor(row_factory=namedtuple_row) as cursor:
        if len(rows) == 1:
            await cursor.execute(compiled.sql, next(iter(params)))
            return await cursor.fetchall() if returning else []
        await cursor.executemany(compiled.sql, params, returning=returning)
        if not returning:
            return []
        found = []
        while True:
            found.extend(await cursor.fetchall())
            if not cursor.nextset():
                return found
