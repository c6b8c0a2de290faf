"""Fixtures: the service on its own, freshly migrated database.

SQLite by default; set TEST_DATABASE_URL to a PostgreSQL server URL to run the
same suite on a throw-away PostgreSQL database created (and dropped) for it.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from msgen_runtime.migrations import upgrade
from msgen_runtime.testing import nats_server, temporary_database
from redis.asyncio import Redis

from notification_service.main import create_app
from notification_service.models import Base
from notification_service.settings import Settings


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = os.environ.get("TEST_DATABASE_URL")
    if server:
        with temporary_database(server, prefix="notification") as url:
            upgrade("notification_service", url)
            yield url
    else:
        path: Path = tmp_path_factory.mktemp("db") / "notification.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade("notification_service", url)
        yield url


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEST_BROKER_URL, or a real nats-server (JetStream) started for this test run."""
    given = os.environ.get("TEST_BROKER_URL")
    if given:
        yield given
        return
    with nats_server(str(tmp_path_factory.mktemp("nats"))) as url:
        yield url


@pytest.fixture
async def app(database_url: str, broker_url: str) -> AsyncIterator[FastAPI]:
    """The app on the migrated database, emptied first: every test starts from no rows."""
    redis_url = os.environ.get("TEST_REDIS_URL")
    namespace = f"test-notification-{uuid.uuid4().hex[:12]}"
    settings = Settings(
        database_url=database_url,
        dev_mode=True,  # called directly, without the gateway's credential; /docs on
        # the request deadline: far from what a busy machine takes to answer 50 concurrent requests at once
        request_timeout_seconds=60,
        redis_url=redis_url,
        cache_namespace=namespace,
        broker_url=broker_url,
    )
    application = create_app(settings)
    async with application.state.database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(table.delete())
    async with application.router.lifespan_context(application):
        for _ in range(1200):  # the broker connects in the background: up to a minute on a loaded machine
            if application.state.messaging.connected:
                break
            await asyncio.sleep(0.05)
        yield application
    if redis_url:  # leave nothing behind on a shared Redis
        redis = Redis.from_url(redis_url)
        keys = [key async for key in redis.scan_iter(f"{namespace}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notification") as http:
        yield http
