"""Fixtures: the service on its own, freshly migrated database.

SQLite by default; set TEST_DATABASE_URL to a PostgreSQL server URL to run the
same suite on a throw-away PostgreSQL database created (and dropped) for it.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from msgen_runtime.migrations import upgrade
from msgen_runtime.testing import nats_server, temporary_database
from redis.asyncio import Redis

from notification_service.clients import clients
from notification_service.main import create_app
from notification_service.models import Base
from notification_service.settings import Settings

# The services notification calls, as this suite stands them in: each entity read answers an
# entity for any id but REF_MISSING, which gets 404 as from a service that does not know it.
REF_MISSING = "00000000-0000-4000-8000-0000000dead0"
DOWNSTREAM_READS: dict[str, dict[str, dict[str, Any]]] = {
    "customer": {
        "/v1/customers/": {
            "id": "00000000-0000-4000-8000-000000000001",
            "email": "someone@example.com",
            "full_name": "Example",
            "home": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        },
    },
}


def downstream(service: str) -> httpx.MockTransport:
    """A stand-in for `service`, answering the reads of DOWNSTREAM_READS."""

    def answer(request: httpx.Request) -> httpx.Response:
        for prefix, entity in DOWNSTREAM_READS[service].items():
            ident = request.url.path.removeprefix(prefix)
            if request.method == "GET" and request.url.path.startswith(prefix) and "/" not in ident:
                if ident == REF_MISSING:
                    return httpx.Response(404, json={"title": "Not Found", "status": 404, "detail": ident})
                return httpx.Response(200, json={**entity, "id": ident})
        return httpx.Response(404, json={"title": "Not Found", "status": 404})

    return httpx.MockTransport(answer)


def use_downstream(service: str, transport: httpx.AsyncBaseTransport) -> None:
    """Send the app's calls to `service` through `transport`."""
    client = getattr(clients(), service)
    client.http = httpx.AsyncClient(
        base_url=client.http.base_url, timeout=client.timeout, transport=transport
    )


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
    use_downstream("customer", downstream("customer"))
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
