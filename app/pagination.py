"""Opaque keyset cursors, the one paging style of the API."""

import base64
import json
from typing import Annotated, Any

from fastapi import Query

from app.errors import FieldProblem, invalid

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (at most 500)")]
Cursor = Annotated[
    str | None,
    Query(max_length=400, description="`next_cursor` of the previous page"),
]


def encode_cursor(*key: Any) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


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
