"""Rate limits per token subject (or client IP) with the `limits` library.

Counters live in Redis when a URL is given, so every gateway replica shares
them, and in the process otherwise. A storage that cannot be reached lets the
request through (counted and logged): the rate limit protects the services, it
must not take the API down with Redis.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from prometheus_client import Counter
from redis.asyncio import ConnectionPool

__all__ = ["LIMITER_ERRORS", "THROTTLED", "Decision", "GatewayRateLimiter", "rate_limit_item"]

THROTTLED = Counter("gateway_rate_limited_total", "Requests the gateway refused with 429 (rate limit).", ["route"])
LIMITER_ERRORS = Counter(
    "gateway_rate_limit_errors_total", "Rate-limit checks that failed (storage unreachable); the request went through."
)
_STRATEGIES: dict[str, type[RateLimiter]] = {
    "moving-window": MovingWindowRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}
_log = logging.getLogger("msgen.gateway.ratelimit")
SWEEP_INTERVAL = 1.0  # seconds between two sweeps of expired entries of the in-process storage


class _MemoryStorage(MemoryStorage):
    """limits' in-process storage, sweeping its expired entries at most once a `SWEEP_INTERVAL`.

    limits starts a sweep on every hit that finds none running, and a sweep hands a bisect of every key's
    entries to a thread: a thread hand-off per request, about 16% of the gateway's CPU at 10 orders/s. The
    counts do not depend on the sweep (a moving window reads the entries' times, a fixed window its
    expirations): it only frees memory, so once a second frees it in time.
    """

    _next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:  # limits' name-mangled private method
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL
        await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the window frees a request

    def headers(self) -> dict[str, str]:
        """RateLimit-* (IETF draft) and, when refused, Retry-After."""
        reset = max(1, math.ceil(self.reset_after))
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(reset)
        return headers


def rate_limit_item(requests: int, period: float) -> RateLimitItem:
    """`requests` per `period` seconds as a limits item (whole seconds; a shorter period is scaled to one second)."""
    if period < 1:
        return RateLimitItemPerSecond(math.ceil(requests / period), 1)
    return RateLimitItemPerSecond(requests, math.ceil(period))


class GatewayRateLimiter:
    """One limit, counted per key (`sub:<issuer> <subject>` or `ip:<address>`)."""

    def __init__(
        self,
        requests: int,
        period: float,
        *,
        strategy: str = "moving-window",
        redis_url: str | None = None,
        namespace: str = "msgen:gateway",
        redis_timeout: float = 0.25,
    ) -> None:
        self.item = rate_limit_item(requests, period)
        self.namespace = namespace
        self._pool: ConnectionPool | None = None
        storage: Storage
        if redis_url:
            self._pool = ConnectionPool.from_url(
                redis_url, socket_timeout=redis_timeout, socket_connect_timeout=redis_timeout
            )
            scheme = redis_url.split("://", 1)[0]
            storage = RedisStorage(
                f"async+{scheme}://",
                implementation="redispy",
                key_prefix=namespace,
                wrap_exceptions=True,
                connection_pool=self._pool,  # type: ignore[arg-type]  # handed on to redis-py as is
            )
        else:
            storage = _MemoryStorage(wrap_exceptions=True)
        self.storage = storage
        self.limiter = _STRATEGIES[strategy](storage)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def check(self, key: str, item: RateLimitItem | None = None) -> Decision | None:
        """Count one request for `key` (against `item`, a route's own limit, or else the gateway's);
        None when the storage failed (the request goes through)."""
        item = item or self.item
        try:
            allowed = await self.limiter.hit(item, self.namespace, key)
            stats = await self.limiter.get_window_stats(item, self.namespace, key)
        except Exception as exc:  # limits wraps storage errors; a broken connection may surface as anything
            LIMITER_ERRORS.inc()
            _log.warning("ratelimit.storage_failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            return None
        return Decision(
            allowed=allowed,
            limit=item.amount,
            remaining=stats.remaining,
            reset_after=max(0.0, stats.reset_time - time.time()),
        )
