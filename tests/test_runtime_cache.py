"""Cache-aside: one loader per cold key under a stampede, in-process and on a real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pydantic import BaseModel

from msgen_runtime.cache import Cache, MemoryCache, RedisCache

pytestmark = pytest.mark.anyio


class Item(BaseModel):
    id: int
    name: str


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _stampede(cache: Cache) -> None:
    loads = 0

    async def load() -> Item:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)  # a slow database read
        return Item(id=1, name="teapot")

    results = await asyncio.gather(*(cache.get_or_load("item:1", 30, Item, load) for _ in range(100)))
    assert loads == 1
    assert all(result == Item(id=1, name="teapot") for result in results)
    await cache.invalidate("item:1")
    await cache.get_or_load("item:1", 30, Item, load)
    assert loads == 2


async def test_memory_cache_stampede_has_one_loader() -> None:
    await _stampede(MemoryCache("test"))


async def test_memory_cache_entries_expire() -> None:
    now = [1000.0]  # the cache's clock, moved by hand: "still cached" holds however slow the machine
    cache = MemoryCache("test", clock=lambda: now[0])
    calls = 0

    async def load() -> Item:
        nonlocal calls
        calls += 1
        return Item(id=calls, name="x")

    assert (await cache.get_or_load("k", 30, Item, load)).id == 1
    now[0] += 29
    assert (await cache.get_or_load("k", 30, Item, load)).id == 1
    now[0] += 2
    assert (await cache.get_or_load("k", 30, Item, load)).id == 2


async def test_redis_cache_stampede_has_one_loader(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    cache = RedisCache("test", redis_url, prefix=namespace)
    try:
        await _stampede(cache)
        assert await cache.redis.pttl(f"{namespace}:item:1") > 0  # stored with its TTL
    finally:
        keys = [key async for key in cache.redis.scan_iter(f"{namespace}:*")]
        if keys:
            await cache.redis.delete(*keys)
        await cache.close()
