"""A consumer's service stops at any moment of its start: its lifespan ends, whatever the broker's client did."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from msgen_runtime.app import create_service_app
from msgen_runtime.db import Database
from msgen_runtime.messaging.consumer import Subscription
from msgen_runtime.messaging.runtime import MessagingConfig
from msgen_runtime.settings import ServiceSettings
from msgen_runtime.testing import nats_server
from tests.messaging_support import BusBase, Dead, Inbox, ping_event

CYCLES = 40
STOP_WITHIN = 20.0  # seconds: generous; a stop waits at most for the handlers in flight (none here)


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nats_server(str(tmp_path_factory.mktemp("nats"))) as url:
        yield url


async def ignore(session: AsyncSession, payload: Any) -> None:
    return None


def test_a_consumer_only_service_stops_at_any_moment_of_its_start(nats_url: str, tmp_path: Path) -> None:
    """Start and stop the app many times, the stop falling before, during and after the broker connects."""
    event = ping_event(f"teardown.{uuid.uuid4().hex[:8]}.pinged")
    name = f"teardown-{uuid.uuid4().hex[:8]}"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"
    config = MessagingConfig(
        system=name.replace("-", "_"),
        default_broker="nats",
        topics=[event.topic],
        inbox=Inbox,
        dead_letters=Dead,
        subscriptions=[Subscription(event, ignore)],
    )

    def app() -> FastAPI:
        settings = ServiceSettings(service_name=name, database_url=database_url, broker_url=nats_url)
        return create_service_app(
            title=name, version="1", description="", settings=settings, routers=[], messaging=config
        )

    async def cycle(application: FastAPI, hold: float) -> None:
        async with application.router.lifespan_context(application):
            await asyncio.sleep(hold)

    async def run() -> str | None:
        database = Database(database_url)
        async with database.engine.begin() as connection:
            await connection.run_sync(BusBase.metadata.create_all)
        await database.dispose()
        # How long a start takes here: the stops below fall across it.
        first = app()
        loop = asyncio.get_running_loop()
        async with first.router.lifespan_context(first):
            began = loop.time()
            while not first.state.messaging.connected:
                assert loop.time() - began < STOP_WITHIN, "the broker never connected"
                await asyncio.sleep(0.001)
            connect = loop.time() - began
        for n in range(CYCLES):
            hold = connect * 2 * n / CYCLES
            task = asyncio.create_task(cycle(app(), hold))
            done, _ = await asyncio.wait([task], timeout=hold + STOP_WITHIN)
            if not done:
                return f"a stop {hold:.4f}s into the start did not end within {STOP_WITHIN}s (cycle {n})"
            task.result()
        return None

    # Not asyncio.run: after a failure, it would wait for ever for the task that does not end.
    loop = asyncio.new_event_loop()
    try:
        failure = loop.run_until_complete(run())
    finally:
        loop.close()
    assert failure is None, failure
