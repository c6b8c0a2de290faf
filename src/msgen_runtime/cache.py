"""Cache-aside for reads: TTL per operation, targeted invalidation, one loader per key.

Redis when REDIS_URL is set (shared by every replica, with a Redis lock against
stampedes across replicas), an in-process TTL cache otherwise.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from cachetools import TLRUCache
from prometheus_client import Counter
from pydantic import BaseModel
from starlette.requests import Request

__all__ = ["HITS", "LOADS", "MISSES", "Cache", "MemoryCache", "NoCache", "RedisCache", "get_cache", "make_cache"]

M = TypeVar("M", bound=BaseModel)

HITS = Counter("cache_hits_total", "Reads answered from the cache.", ["cache"])
MISSES = Counter("cache_misses_total", "Reads that had to load.", ["cache"])
LOADS = Counter("cache_loads_total", "Loads run on a miss (one per key at a time).", ["cache"])


class Cache(Protocol):
    name: str

    async def get_or_load(self, key: str, ttl: float, model: type[M], load: Callable[[], Awaitable[M]]) -> M: ...

    async def invalidate(self, key: str) -> None: ...

    async def close(self) -> None: ...


class _KeyLocks:
    """One asyncio lock per key, dropped when nobody waits on it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def __call__(self, key: str, body: Callable[[], Awaitable[M]]) -> M:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await body()
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def _expiry(_key: str, value: tuple[float, bytes], now: float) -> float:
    return now + value[0]


class MemoryCache:
    """An in-process cache: per-item TTL, bounded size."""

    def __init__(self, name: str, maxsize: int = 10_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        # `clock`: what the TTLs count on (tests move it by hand)
        self._data: TLRUCache[str, tuple[float, bytes]] = TLRUCache(maxsize=maxsize, ttu=_expiry, timer=clock)
        self._locks = _KeyLocks()

    async def get_or_load(self, key: str, ttl: float, model: type[M], load: Callable[[], Awaitable[M]]) -> M:
        found = self._data.get(key)
        if found is not None:
            HITS.labels(self.name).inc()
            return model.model_validate_json(found[1])
        MISSES.labels(self.name).inc()

        async def fill() -> M:
            again = self._data.get(key)
            if again is not None:  # another request loaded it while we waited
                return model.model_validate_json(again[1])
            LOADS.labels(self.name).inc()
            value = await load()
            self._data[key] = (ttl, value.model_dump_json().encode())
            return value

        return await self._locks(key, fill)

    async def invalidate(self, key: str) -> None:
        self._data.pop(key, None)

    async def close(self) -> None:
        self._data.clear()


class RedisCache:
    """A cache shared by every replica through Redis."""

    def __init__(self, name: str, url: str, *, prefix: str) -> None:
        from redis.asyncio import Redis

        self.name = name
        self.prefix = prefix
        self.redis = Redis.from_url(url)
        self._locks = _KeyLocks()

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    async def get_or_load(self, key: str, ttl: float, model: type[M], load: Callable[[], Awaitable[M]]) -> M:
        full = self._key(key)
        found = await self.redis.get(full)
        if found is not None:
            HITS.labels(self.name).inc()
            return model.model_validate_json(found)
        MISSES.labels(self.name).inc()

        async def fill() -> M:
            # One loader per key in this process, and across replicas through a Redis lock.
            async with self.redis.lock(f"{full}:lock", timeout=max(ttl, 5.0), blocking_timeout=10):
                again = await self.redis.get(full)
                if again is not None:
                    return model.model_validate_json(again)
                LOADS.labels(self.name).inc()
                value = await load()
                await self.redis.set(full, value.model_dump_json(), px=max(1, int(ttl * 1000)))
                return value

        return await self._locks(key, fill)

    async def invalidate(self, key: str) -> None:
        await self.redis.delete(self._key(key))

    async def close(self) -> None:
        await self.redis.aclose()


class NoCache:
    """Caching switched off (CACHE_ENABLED=false): every read loads."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def get_or_load(self, key: str, ttl: float, model: type[M], load: Callable[[], Awaitable[M]]) -> M:
        MISSES.labels(self.name).inc()
        return await load()

    async def invalidate(self, key: str) -> None:
        return None

    async def close(self) -> None:
        return None


def operation_key(operation: str, **values: object) -> str:
    """The key of one answer of a cached operation: its id and its parameters' values, unambiguously."""
    return f"op:{operation}:" + json.dumps(values, sort_keys=True, default=str, separators=(",", ":"))


def make_cache(service: str, redis_url: str | None, namespace: str | None = None, *, enabled: bool = True) -> Cache:
    if not enabled:
        return NoCache(service)
    if redis_url:
        return RedisCache(service, redis_url, prefix=namespace or f"msgen:{service}")
    return MemoryCache(service)


async def get_cache(request: Request) -> Cache:
    """A FastAPI dependency: the cache of the app serving the request (async: FastAPI runs a plain def in a thread)."""
    cache: Cache = request.app.state.cache
    return cache
