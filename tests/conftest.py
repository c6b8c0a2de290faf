"""Shared fixtures: the generated shop, and the real servers CI provides.

A server variable (MSGEN_TEST_POSTGRES_URL, ...) that is not set skips the
tests that need it; one that is set but cannot be reached fails them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from msgen.generate import Generated, generate
from msgen.sdk import default_tools_dir
from msgen.writer import write_project
from tests.shop_suites import ShopSuites, pact_copy

ROOT = Path(__file__).resolve().parents[1]
SHOP_SPEC = ROOT / "examples" / "shop.yaml"
# The second example: parcel deliveries on RabbitMQ (tests/test_courier_example.py).
COURIER_SPEC = ROOT / "examples" / "courier.yaml"

# The SDK generators installed on this machine, which tests/test_sdk.py uses. Every other test sees an
# empty tools folder, so that `msgen new` and `regen` there do not depend on what the machine has.
MACHINE_SDK_TOOLS = Path(os.environ.get("MSGEN_SDK_TOOLS") or default_tools_dir())


@pytest.fixture(scope="session", autouse=True)
def _no_sdk_generators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    before = os.environ.get("MSGEN_SDK_TOOLS")
    os.environ["MSGEN_SDK_TOOLS"] = str(tmp_path_factory.mktemp("no-sdk-tools"))
    yield
    if before is None:
        os.environ.pop("MSGEN_SDK_TOOLS", None)
    else:
        os.environ["MSGEN_SDK_TOOLS"] = before


@pytest.fixture(scope="session")
def shop() -> Generated:
    """The shop, rendered in memory."""
    return generate(SHOP_SPEC)


@pytest.fixture(scope="session")
def shop_dir(shop: Generated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shop, written to a fresh directory once per test session."""
    root = tmp_path_factory.mktemp("generated") / "shop"
    write_project(root, shop.files, shop.system.spec_hash)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def shop_suites(shop_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ShopSuites:
    """The shop's service suites on SQLite, each run once per session (tests/shop_suites.py)."""
    return ShopSuites(shop_dir, pact_copy(shop_dir, tmp_path_factory.mktemp("suites") / "pacts"))


@pytest.fixture(scope="session")
def courier() -> Generated:
    """The second example, rendered in memory."""
    return generate(COURIER_SPEC)


@pytest.fixture(scope="session")
def courier_dir(courier: Generated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The second example, written to a fresh directory once per test session."""
    root = tmp_path_factory.mktemp("generated") / "courier"
    write_project(root, courier.files, courier.system.spec_hash)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def courier_suites(courier_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ShopSuites:
    """The second example's service suites on SQLite, each run once per session."""
    return ShopSuites(courier_dir, pact_copy(courier_dir, tmp_path_factory.mktemp("courier-suites") / "pacts"))


def _server_url(variable: str) -> str:
    url = os.environ.get(variable)
    if not url:
        pytest.skip(f"{variable} is not set")
    return url


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL server URL (the tests create and drop their own databases on it)."""
    url = _server_url("MSGEN_TEST_POSTGRES_URL")

    async def ping() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        await conn.close()

    try:
        asyncio.run(ping())
    except Exception as exc:  # a set variable with no server behind it is a failure, not a skip
        pytest.fail(f"MSGEN_TEST_POSTGRES_URL={url} is set but cannot be reached: {exc}")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis server URL (tests use their own key namespace and delete it)."""
    url = _server_url("MSGEN_TEST_REDIS_URL")
    from redis import Redis

    try:
        Redis.from_url(url, socket_timeout=5).ping()
    except Exception as exc:
        pytest.fail(f"MSGEN_TEST_REDIS_URL={url} is set but cannot be reached: {exc}")
    return url


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """A RabbitMQ server URL (tests declare their own exchange and queues and delete them)."""
    url = _server_url("MSGEN_TEST_RABBITMQ_URL")

    async def ping() -> None:
        import aio_pika

        connection = await aio_pika.connect_robust(url, timeout=5)
        await connection.close()

    try:
        asyncio.run(ping())
    except Exception as exc:
        pytest.fail(f"MSGEN_TEST_RABBITMQ_URL={url} is set but cannot be reached: {exc}")
    return url
