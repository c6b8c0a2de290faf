"""Shared fixtures: the generated shop, and the real servers CI provides; how the suite runs in parallel.

A server variable (MSGEN_TEST_POSTGRES_URL, ...) that is not set skips the
tests that need it; one that is set but cannot be reached fails them.

`python -m pytest` runs the files in parallel (pytest-xdist, docs/development.md#running-in-parallel):
each file is one unit of work for one worker, so its module fixtures are made once; what files on
several workers share (the shop's suites) is made once in a folder of the run, under a file lock.
`-n 0` or `-p no:xdist` runs serially, `-n N` with N workers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from filelock import FileLock

from msgen.generate import Generated, generate
from msgen.sdk import default_tools_dir
from msgen.writer import write_project
from tests.shop_suites import ShopSuites

ROOT = Path(__file__).resolve().parents[1]
SHOP_SPEC = ROOT / "examples" / "shop.yaml"
# The second example: parcel deliveries on RabbitMQ (tests/test_courier_example.py).
COURIER_SPEC = ROOT / "examples" / "courier.yaml"

# The SDK generators installed on this machine, which tests/test_sdk.py uses. Every other test sees an
# empty tools folder, so that `msgen new` and `regen` there do not depend on what the machine has.
MACHINE_SDK_TOOLS = Path(os.environ.get("MSGEN_SDK_TOOLS") or default_tools_dir())


# Workers per core: most tests wait on processes (generated suites, servers, podman, chromium), not the CPU.
WORKERS_PER_CORE = 2

# The slowest files first, so that none of them starts last and ends alone; the others follow in collection
# order. Measured with --durations (docs/development.md#how-long-the-suite-takes).
SLOWEST_FIRST = (
    "test_hostile_strings.py",  # 1530 s with four workers at load average 20 (2026-12-03)
    "test_saga_chaos.py",  # 1438 s
    "test_generated_services.py",  # 965 s: runs the shop's suites first, which test_pact.py then reads
    "test_images.py",  # 521 s
    "test_deploy.py",  # 366 s
    "test_courier_example.py",  # 324 s
    "test_saga_books.py",  # 312 s
    "test_spec_errors.py",  # 271 s
    "test_sdk.py",  # 214 s
    "test_e2e_saga.py",  # 295 s, after test_saga_chaos.py (one_saga_system_at_a_time)
    "test_pact.py",  # 530 s, most of it waiting for the shop's suites
    "test_cli.py",
    "test_sdk_pact.py",
    "test_saga_keys.py",
    "test_regen_scenarios.py",
    "test_spec_limits.py",
)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Parallel by default: `-n auto --dist loadfile`, unless the command line says otherwise (-n, --dist, -p no:xdist).

    loadfile gives each file whole to one worker, so its module and session fixtures are made once (a
    running shop, the generated suites). Not loadgroup: with pytest 9.2 its groups are silently ignored
    (pytest-xdist issue 1386).
    """
    if not config.pluginmanager.has_plugin("xdist") or hasattr(config, "workerinput"):
        return
    if config.option.dist == "no" and not config.option.distload:  # no --dist: files stay whole (even with -n N)
        if config.option.numprocesses is None:
            config.option.numprocesses = "auto"
        config.option.dist = "loadfile"
        config.option.loadscopereorder = False  # SLOWEST_FIRST orders the files, not their number of tests


@pytest.hookimpl(optionalhook=True)  # xdist's hook: unknown under -p no:xdist
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: WORKERS_PER_CORE workers per core (PYTEST_XDIST_AUTO_NUM_WORKERS, when set, decides)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return WORKERS_PER_CORE * len(os.sched_getaffinity(0))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The slowest files first (every worker collects, and orders, the same)."""

    def rank(item: pytest.Item) -> int:
        return SLOWEST_FIRST.index(item.path.name) if item.path.name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file, and of the other files, stays


def run_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder of this test run, made once: under xdist one all the workers share (beside their own basetemps)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def one_saga_system_at_a_time(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Held for a whole file that runs the shop's saga as processes through crashes and outages
    (tests/test_e2e_saga.py, test_saga_chaos.py, test_saga_keys.py): under xdist, two such files on two
    workers at once fought for the two cores until their outage and kill -9 timings failed."""
    with FileLock(run_folder(tmp_path_factory, "locks") / "saga-systems.lock"):
        yield


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
    """The shop's service suites on SQLite, each run once per test run, by whichever worker first needs it."""
    return ShopSuites(shop_dir, run_folder(tmp_path_factory, "shop-suites"))


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
    """The second example's service suites on SQLite, each run once per test run."""
    return ShopSuites(courier_dir, run_folder(tmp_path_factory, "courier-suites"))


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
        # 30 s: a shared server on a loaded machine answers late; a server that is not there refuses at once
        conn = await asyncpg.connect(url, timeout=30)
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
        Redis.from_url(url, socket_timeout=30).ping()
    except Exception as exc:
        pytest.fail(f"MSGEN_TEST_REDIS_URL={url} is set but cannot be reached: {exc}")
    return url


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """A RabbitMQ server URL (tests declare their own exchange and queues and delete them)."""
    url = _server_url("MSGEN_TEST_RABBITMQ_URL")

    async def ping() -> None:
        import aio_pika

        connection = await aio_pika.connect_robust(url, timeout=30)
        await connection.close()

    try:
        asyncio.run(ping())
    except Exception as exc:
        pytest.fail(f"MSGEN_TEST_RABBITMQ_URL={url} is set but cannot be reached: {exc}")
    return url
