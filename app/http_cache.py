"""Conditional GET: an ETag over the exact body, so a poller pays for unchanged data with a
304 and no body."""

import hashlib
from typing import Any

from fastapi import Request, Response, status
from pydantic import BaseModel

# The indices, keyed and public: a dashboard's cache keeps them 30 s, then revalidates (304).
INDICES_CACHE_CONTROL = "private, max-age=30, must-revalidate"


def cached_json(request: Request, model: BaseModel, cache_control: str) -> Response:
    body = model.model_dump_json(by_alias=True).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control}
    wanted = {
        tag.strip().removeprefix("W/")
        for tag in request.headers.get("if-none-match", "").split(",")
    }
    if etag in wanted or "*" in wanted:  # RFC 9110 §13.1.2: '*' matches any current body
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the ETag given in If-None-Match is current"}
}
