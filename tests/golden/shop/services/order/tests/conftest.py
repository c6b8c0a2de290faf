"""Fixtures: the service on its own, freshly migrated database.

SQLite by default; set TEST_DATABASE_URL to a PostgreSQL server URL to run the
same suite on a throw-away PostgreSQL database created (and dropped) for it.
"""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from msgen_runtime.migrations import upgrade
from msgen_runtime.testing import temporary_database

from order_service.main import create_app
from order_service.settings import Settings


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = os.environ.get("TEST_DATABASE_URL")
    if server:
        with temporary_database(server, prefix="order") as url:
            upgrade("order_service", url)
            yield url
    else:
        path: Path = tmp_path_factory.mktemp("db") / "order.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade("order_service", url)
        yield url


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=database_url))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://order") as http:
        yield http
    await app.state.database.dispose()
