"""The tables and the event the messaging tests share: an outbox, its partitions, an inbox, dead letters, a ping."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from msgen_runtime.db import Database
from msgen_runtime.messaging.codec import EventType
from msgen_runtime.messaging.consumer import DeadLetterMixin, InboxMessageMixin
from msgen_runtime.messaging.outbox import OutboxMessageMixin, OutboxPartitionMixin
from msgen_runtime.testing import nats_server, temporary_database


class BusBase(DeclarativeBase):
    pass


class Outbox(OutboxMessageMixin, BusBase):
    __tablename__ = "outbox"


class Partition(OutboxPartitionMixin, BusBase):
    __tablename__ = "outbox_partitions"


class Inbox(InboxMessageMixin, BusBase):
    __tablename__ = "inbox"


class Dead(DeadLetterMixin, BusBase):
    __tablename__ = "dead_letters"


class Ping(BaseModel):
    ping_id: uuid.UUID
    n: int


def ping_event(name: str) -> EventType[Ping]:
    """An event named `name` (its topic too), keyed by ping_id, so each test can have a topic of its own."""
    return EventType(
        name=name,
        version=1,
        model=Ping,
        key="ping_id",
        schema={
            "type": "record",
            "name": "Pinged",
            "fields": [
                {"name": "ping_id", "type": {"type": "string", "logicalType": "uuid"}},
                {"name": "n", "type": "long"},
            ],
        },
    )


@asynccontextmanager
async def bus_database(url: str, *more: MetaData) -> AsyncIterator[Database]:
    """A `Database` at `url` with the messaging tables (and `more` tables) created; disposed at the end."""
    db = Database(url)
    async with db.engine.begin() as conn:
        for metadata in (BusBase.metadata, *more):
            await conn.run_sync(metadata.create_all)
    try:
        yield db
    finally:
        await db.dispose()


# Fixtures a test module takes by assigning them (`nats_url = messaging_support.nats_url`).


@pytest.fixture
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A nats-server per test: a stream of its own, no messages of another test."""
    with nats_server(str(tmp_path_factory.mktemp("nats"))) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file, then a PostgreSQL database of the test's own (created and dropped)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"
        return
    with temporary_database(request.getfixturevalue("postgres_url"), prefix="bus") as url:
        yield url
