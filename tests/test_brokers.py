"""The same outbox relay and consumer over NATS JetStream, RabbitMQ and Kafka.

NATS runs for real (a nats-server from the wheel) and so does RabbitMQ (the
server on 127.0.0.1, its own exchange and queues per test, deleted after). No
Kafka broker can run here: Kafka goes through FastStream's in-memory test broker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from msgen_runtime.db import Database
from msgen_runtime.messaging.broker import Broker, Kafka, NatsJetStream, RabbitMQ
from msgen_runtime.messaging.consumer import Consumer, Subscription
from msgen_runtime.messaging.outbox import Relay, stage
from msgen_runtime.testing import nats_server
from tests.messaging_support import Dead, Inbox, Outbox, Partition, Ping, bus_database, ping_event

pytestmark = pytest.mark.anyio


PING = ping_event("test.pinged")


async def until(condition: Callable[[], bool], within: float = 60) -> None:
    """Poll `condition` until it holds or `within` seconds (generous: a loaded machine delivers late) have passed;
    the assertions that follow say what did not happen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.05)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    async with bus_database(f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}") as db:
        yield db


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nats_server(str(tmp_path_factory.mktemp("nats"))) as url:
        yield url


async def _round_trip(broker: Broker, database: Database, *, topic_prefix: str = "") -> list[int]:
    """Stage 20 events in 20 transactions, relay them, and collect what the consumer handled."""
    seen: list[int] = []

    async def handler(session: AsyncSession, payload: Any) -> None:
        seen.append(payload.n)

    consumer = Consumer(
        service="tester",
        sessions=database.sessions,
        inbox=Inbox,
        dead_letters=Dead,
        broker=broker,
        subscriptions=[Subscription(PING, handler)],
    )
    consumer.attach()
    relay = Relay(service="tester", sessions=database.sessions, model=Outbox, partitions=Partition, broker=broker)
    await broker.start()
    try:
        await relay.prepare()
        key = uuid.uuid4()
        for n in range(20):
            async with database.sessions() as session:
                await stage(session, Outbox, PING, Ping(ping_id=key, n=n))
                await session.commit()
        assert await relay.relay_once() == 20
        await until(lambda: len(seen) >= 20)
        async with database.sessions() as session:
            assert (
                await session.scalar(sa.select(sa.func.count()).select_from(Outbox).where(Outbox.sent_at.is_(None)))
                == 0
            )
        # a redelivery of every message has no second effect
        async with database.sessions() as session:
            rows = list(await session.scalars(sa.select(Outbox)))
        for row in rows:
            assert await consumer.receive(PING.topic, row.body, dict(row.headers)) == "duplicate"
    finally:
        await broker.stop()
    return seen


async def test_nats_jetstream(database: Database, nats_url: str) -> None:
    broker = NatsJetStream(nats_url, stream="tests", topics=[PING.topic])
    assert await _round_trip(broker, database) == list(range(20))  # one aggregate: in order


async def test_rabbitmq(database: Database, rabbitmq_url: str) -> None:
    exchange = f"msgen-test-{uuid.uuid4().hex[:8]}"
    broker = RabbitMQ(rabbitmq_url, exchange=exchange)
    try:
        assert await _round_trip(broker, database) == list(range(20))
    finally:
        import aio_pika

        connection = await aio_pika.connect_robust(rabbitmq_url)
        channel = await connection.channel()
        await channel.queue_delete(f"tester.{PING.topic}")
        await channel.exchange_delete(exchange)
        await connection.close()


async def test_kafka_with_the_in_memory_test_broker(database: Database) -> None:
    from faststream.kafka import TestKafkaBroker

    broker = Kafka("kafka://127.0.0.1:9092")
    seen: list[int] = []

    async def handler(session: AsyncSession, payload: Any) -> None:
        seen.append(payload.n)

    consumer = Consumer(
        service="tester",
        sessions=database.sessions,
        inbox=Inbox,
        dead_letters=Dead,
        broker=broker,
        subscriptions=[Subscription(PING, handler)],
    )
    consumer.attach()
    relay = Relay(service="tester", sessions=database.sessions, model=Outbox, partitions=Partition, broker=broker)
    async with TestKafkaBroker(broker.broker):
        await relay.prepare()
        for n in range(5):
            async with database.sessions() as session:
                await stage(session, Outbox, PING, Ping(ping_id=uuid.uuid4(), n=n))
                await session.commit()
        assert await relay.relay_once() == 5
    assert sorted(seen) == list(range(5))


async def test_poison_goes_to_the_dead_letter_topic_on_nats(database: Database, nats_url: str) -> None:
    broker = NatsJetStream(nats_url, stream="tests", topics=[PING.topic])
    dead: list[dict[str, str]] = []

    async def on_dead(body: bytes, headers: dict[str, str]) -> None:
        dead.append(headers)

    async def handler(session: AsyncSession, payload: Any) -> None:
        raise AssertionError("never called for poison")

    consumer = Consumer(
        service="tester",
        sessions=database.sessions,
        inbox=Inbox,
        dead_letters=Dead,
        broker=broker,
        subscriptions=[Subscription(PING, handler)],
    )
    broker.subscribe(f"{PING.topic}.dlq", "watcher", on_dead)
    await broker.start()
    try:
        assert await consumer.receive(PING.topic, b"\x00garbage", {"message-id": "poison-2"}) == "dead-lettered"
        await until(lambda: bool(dead))
        assert dead and dead[0]["dlq-consumer"] == "tester" and "cannot decode" in dead[0]["dlq-error"]
    finally:
        await broker.stop()


def test_broker_urls_pick_the_broker() -> None:
    from msgen_runtime.messaging.broker import make_broker

    assert make_broker("nats://h:4222", system="s", topics=["a.b"]).kind == "nats"
    assert make_broker("kafka://h:9092", system="s", topics=["a.b"]).kind == "kafka"
    assert make_broker("amqp://u:p@h:5672/", system="s", topics=["a.b"]).kind == "rabbitmq"
    with pytest.raises(ValueError, match="unsupported broker URL"):
        make_broker("redis://h", system="s", topics=[])
