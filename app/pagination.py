"""Opaque keyset cursors, the one paging style of the API."""

import base64
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from sqlalchemy import ColumnElement

from app.dependencies import SettingsDep
from app.errors import FieldProblem, ProblemError, invalid
from app.schemas import ParamInt, instant_in_range


async def page_limit(
    settings: SettingsDep,
    limit: Annotated[
        ParamInt, Query(ge=1, description="Page size, at most SKM_MAX_PAGE_SIZE")
    ] = 100,
) -> int:
    if limit > settings.max_page_size:
        raise invalid(
            [
                FieldProblem(
                    parameter="limit",
                    detail=f"at most {settings.max_page_size}",
                    code="less_than_equal",
                )
            ]
        )
    return limit


Limit = Annotated[int, Depends(page_limit)]
Cursor = Annotated[
    str | None,
    Query(max_length=400, description="`next_cursor` of the previous page"),
]


def encode_cursor(*key: Any) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_text_cursor(cursor: str) -> str:
    """A cursor holding one text key (a code)."""
    [key] = decode_cursor(cursor, 1)
    if not isinstance(key, str) or "\x00" in key:
        raise bad_cursor()
    return key


def bad_cursor() -> ProblemError:
    """The answer to a cursor this list did not hand out (or that no longer decodes)."""
    return invalid(
        [FieldProblem(parameter="cursor", detail="not a cursor of this list", code="bad_cursor")]
    )


def instant_cursor(at: datetime, last_id: uuid.UUID) -> str:
    """The cursor after a row of a list ordered by an instant, then a UUID (responses)."""
    return encode_cursor(at.isoformat(), str(last_id))


def after(
    instant: ColumnElement[datetime], row_id: ColumnElement[uuid.UUID], cursor: str
) -> ColumnElement[bool]:
    """The rows after an `instant_cursor` in the order (instant, row_id)."""
    at, last_id = _decode_instant_cursor(cursor)
    return (instant > at) | ((instant == at) & (row_id > last_id))


def _decode_instant_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    at, last_id = decode_cursor(cursor, 2)
    try:
        if not isinstance(at, str) or not isinstance(last_id, str):
            raise ValueError
        instant = datetime.fromisoformat(at)
        if instant.tzinfo is None:
            raise ValueError
        instant_in_range(instant)
        return instant, uuid.UUID(last_id)
    except ValueError:
        raise bad_cursor() from None


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, json.JSONDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != arity:
        raise bad_cursor()
    return key
