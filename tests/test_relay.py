"""The outbox relay and the NATS consumer under batches: pipelined publishes, batched fetches, replicas.

A real nats-server (from the wheel) and real databases: a SQLite file, and a
PostgreSQL database of the test's own (created and dropped). What is checked is
behaviour, never speed: each aggregate's events arrive in order, every event
arrives, different aggregates are handled side by side, and a relay replica that
finds partitions taken publishes the others without waiting for them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from msgen_runtime.db import Database
from msgen_runtime.messaging import codec
from msgen_runtime.messaging.broker import NatsJetStream
from msgen_runtime.messaging.consumer import Consumer, Subscription
from msgen_runtime.messaging.outbox import PARTITIONS, Relay, stage
from msgen_runtime.testing import temporary_database
from tests import messaging_support
from tests.messaging_support import BusBase, Dead, Inbox, Outbox, Partition, Ping, ping_event

pytestmark = pytest.mark.anyio


STEP = ping_event("relaytest.stepped")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


nats_url = messaging_support.nats_url
database_url = messaging_support.database_url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    async with messaging_support.bus_database(database_url) as db:
        yield db


@pytest.fixture
def pg_database_url(postgres_url: str) -> Iterator[str]:
    with temporary_database(postgres_url, prefix="relay") as url:
        yield url


async def _stage_interleaved(database: Database, keys: list[uuid.UUID], per_key: int) -> None:
    """Events 0..per_key-1 of every key, interleaved across keys, a few per transaction."""
    for n in range(per_key):
        async with database.sessions() as session:
            for key in keys:
                await stage(session, Outbox, STEP, Ping(ping_id=key, n=n))
            await session.commit()


async def _pending(database: Database) -> int:
    async with database.sessions() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Outbox).where(Outbox.sent_at.is_(None)))
    return int(count or 0)


class Seen:
    """What a consumer handled, per key in handling order, and how many handlers ran at once."""

    def __init__(self) -> None:
        self.by_key: dict[uuid.UUID, list[int]] = {}
        self.running = 0
        self.most_at_once = 0
        self.changed = asyncio.Event()

    async def handler(self, session: AsyncSession, payload: Any) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            # a round trip to the database, and a key-dependent pause: room for reordering, if anything reorders
            await session.execute(sa.text("SELECT 1"))
            await asyncio.sleep(0.002 * (payload.n % 3))
            self.by_key.setdefault(payload.ping_id, []).append(payload.n)
        finally:
            self.running -= 1
            self.changed.set()

    def total(self) -> int:
        return sum(len(v) for v in self.by_key.values())

    async def wait_for(self, count: int, bound: float = 60.0) -> None:
        async def until() -> None:
            while self.total() < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), bound)


def _consumer(database: Database, broker: NatsJetStream, seen: Seen, *, batches: bool = True) -> Consumer:
    consumer = Consumer(
        service=f"relaytest{uuid.uuid4().hex[:6]}",
        sessions=database.sessions,
        inbox=Inbox,
        dead_letters=Dead,
        broker=broker,
        subscriptions=[Subscription(STEP, seen.handler)],
        batches=batches,
    )
    consumer.attach()
    return consumer


@pytest.mark.parametrize("batches", [True, False], ids=["one-transaction-batches", "message-by-message"])
async def test_a_batch_keeps_each_aggregates_order_end_to_end(database: Database, nats_url: str, batches: bool) -> None:
    """Pipelined publishes and batched consumption (several messages per transaction, or keys side by side,
    one transaction each): every key's events arrive once, in order."""
    stream = "relaytest"
    publisher = NatsJetStream(nats_url, stream=stream, topics=[STEP.topic])
    receiver = NatsJetStream(nats_url, stream=stream, topics=[STEP.topic])
    seen = Seen()
    consumer = _consumer(database, receiver, seen, batches=batches)
    relay = Relay(service="tester", sessions=database.sessions, model=Outbox, partitions=Partition, broker=publisher)
    keys = [uuid.uuid4() for _ in range(8)]
    await publisher.start()
    await receiver.start()
    try:
        await relay.prepare()
        await _stage_interleaved(database, keys, 25)
        published = 0
        while published < 200:
            step = await relay.relay_once()
            assert step > 0  # nothing stalls: every pass publishes until the outbox is empty
            published += step
        assert published == 200 and await _pending(database) == 0
        await seen.wait_for(200)
        # a redelivery finds its inbox row (a Core insert that fails on the key) and has no second effect
        async with database.sessions() as session:
            row = (await session.scalars(sa.select(Outbox).limit(1))).one()
        assert await consumer.receive(STEP.topic, row.body, dict(row.headers)) == "duplicate"
    finally:
        await receiver.stop()
        await publisher.stop()
    assert seen.by_key == {key: list(range(25)) for key in keys}
    # SQLite's one connection runs one transaction at a time; a batch runs its messages one after the other
    if database.url.startswith("postgresql") and not batches:
        assert seen.most_at_once > 1, "messages of different keys are handled side by side"


async def test_a_replica_publishes_the_partitions_no_one_else_holds(pg_database_url: str, nats_url: str) -> None:
    """Two relays on PostgreSQL: a pass never waits for partitions another replica holds, and all ends sent."""
    stream = "relaytest"
    database = Database(pg_database_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(BusBase.metadata.create_all)
    brokers = [NatsJetStream(nats_url, stream=stream, topics=[STEP.topic]) for _ in range(3)]
    seen = Seen()
    _consumer(database, brokers[2], seen)
    relays = [
        Relay(service=f"r{i}", sessions=database.sessions, model=Outbox, partitions=Partition, broker=brokers[i])
        for i in range(2)
    ]
    for broker in brokers:
        await broker.start()
    try:
        for relay in relays:
            await relay.prepare()
        keys = [uuid.uuid4() for _ in range(24)]
        await _stage_interleaved(database, keys, 5)
        async with database.sessions() as session:
            partitions = {p for (p,) in (await session.execute(sa.select(Outbox.partition).distinct())).all()}
        held = set(sorted(partitions)[: len(partitions) // 2])
        assert held and partitions - held, "the keys spread over several partitions"
        # another replica holds half of the partitions: this one publishes the rest, without waiting
        async with database.sessions() as holder:
            await holder.execute(sa.select(Partition.partition).where(Partition.partition.in_(held)).with_for_update())
            first = await asyncio.wait_for(relays[0].relay_once(), 30)
            async with database.sessions() as session:
                left = set((await session.scalars(sa.select(Outbox.partition).where(Outbox.sent_at.is_(None)))).all())
            assert first > 0 and left == held
            await holder.rollback()
        # both replicas side by side finish the rest
        tasks = [asyncio.create_task(relay.run()) for relay in relays]
        try:
            await seen.wait_for(120)
        finally:
            for relay in relays:
                relay.stop()
            await asyncio.gather(*tasks)
        assert await _pending(database) == 0
        assert set(range(PARTITIONS)) >= partitions
    finally:
        for broker in brokers:
            await broker.stop()
        await database.dispose()
    assert seen.by_key == {key: list(range(5)) for key in keys}


class _Recording(NatsJetStream):
    """The real broker, noting the message id of every publish the relay made."""

    def __init__(self, url: str, *, stream: str, topics: list[str]) -> None:
        super().__init__(url, stream=stream, topics=topics)
        self.sent: list[str] = []

    async def publish(self, topic: str, body: bytes, headers: dict[str, str], key: str | None) -> None:
        await super().publish(topic, body, headers, key)
        self.sent.append(headers[codec.HEADER_MESSAGE_ID])


async def test_the_relays_own_loop_publishes_each_row_once_and_marks_it_sent(database: Database, nats_url: str) -> None:
    """In its loop the relay marks what a pass published in a later transaction (on SQLite, the next pass's
    read): every row still goes out exactly once, and each ends marked with when it went out."""
    publisher = _Recording(nats_url, stream="relayloop", topics=[STEP.topic])
    relay = Relay(service="tester", sessions=database.sessions, model=Outbox, partitions=Partition, broker=publisher)
    relay.poll_interval = 0.2
    keys = [uuid.uuid4() for _ in range(3)]
    await publisher.start()
    loop = asyncio.create_task(relay.run())
    try:
        staged: list[str] = []
        for n in range(10):  # ten commits, each waking the loop
            async with database.sessions() as session:
                for key in keys:
                    staged.append(await stage(session, Outbox, STEP, Ping(ping_id=key, n=n)))
                await session.commit()
        deadline = asyncio.get_running_loop().time() + 60
        while await _pending(database) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert await _pending(database) == 0
        assert sorted(publisher.sent) == sorted(staged)  # each once
        async with database.sessions() as session:
            rows = (await session.execute(sa.select(Outbox.created_at, Outbox.sent_at))).all()
        assert len(rows) == 30 and all(sent >= created for created, sent in rows)
    finally:
        relay.stop()
        await asyncio.wait_for(loop, 30)
        await publisher.stop()
