"""Rate limits (the `limits` library): in memory by default, shared through Redis when
SKM_REDIS_URL is set so that every instance behind a load balancer enforces one limit."""

import math
import time
from typing import Any

import redis.asyncio
from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from app.errors import ProblemError


class RateLimiter:
    def __init__(self, redis_url: str | None, namespace: str = "skm") -> None:
        self._pool: redis.asyncio.ConnectionPool | None = None
        if redis_url:
            # Our own pool, so that shutdown can close its connections.
            self._pool = redis.asyncio.ConnectionPool.from_url(redis_url)
            options: dict[str, Any] = {
                "implementation": "redispy",
                "key_prefix": namespace,
                "connection_pool": self._pool,
            }
            storage = storage_from_string(
                redis_url.replace("redis://", "async+redis://", 1), **options
            )
        else:
            storage = storage_from_string("async+memory://")
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._items: dict[str, RateLimitItem] = {}

    async def healthy(self) -> bool:
        """Whether the store answers (a PING to Redis; memory always does)."""
        try:
            return await self._limiter.storage.check()
        except Exception:
            return False

    async def reset(self) -> None:
        """Forget every count (a test starts from none, whatever the tests before it sent)."""
        await self._limiter.storage.reset()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    def _item(self, limit: str) -> RateLimitItem:
        if limit not in self._items:
            self._items[limit] = parse(limit)
        return self._items[limit]

    async def hit(self, limit: str, kind: str, who: str) -> None:
        """Count one request of `who`; 429 with Retry-After once over the limit."""
        item = self._item(limit)
        if await self._limiter.hit(item, kind, who):
            return
        stats = await self._limiter.get_window_stats(item, kind, who)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        error = ProblemError(
            429,
            "rate-limited",
            "Too Many Requests",
            f"More than {limit} for this {'key' if kind == 'key' else 'client address'}; "
            f"retry after {retry_after} s.",
        )
        error.headers = {"Retry-After": str(retry_after)}
        raise error
