"""Opaque keyset cursors, the one paging style of the API."""

import base64
import json
from typing import Annotated, Any

from fastapi import Depends, Query

from app.dependencies import SettingsDep
from app.errors import FieldProblem, ProblemError, invalid
from app.schemas import ParamInt


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
        raise _bad_cursor()
    return key


def _bad_cursor() -> ProblemError:
    return invalid(
        [FieldProblem(parameter="cursor", detail="not a cursor of this list", code="bad_cursor")]
    )


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, json.JSONDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != arity:
        raise invalid(
            [
                FieldProblem(
                    parameter="cursor", detail="not a cursor of this list", code="bad_cursor"
                )
            ]
        )
    return key
