"""Several delivered messages in one transaction: one inbox insert, each handler in turn, one commit.

A real nats-server per test (from the wheel) and real databases: a SQLite file,
and a PostgreSQL database of the test's own (created and dropped). The handler's
effect is a row in the same transaction, so what was kept is what the database
says. Commits are counted with a SQLAlchemy event listener on the engine.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from msgen_runtime.db import Database
from msgen_runtime.messaging.broker import NatsJetStream
from msgen_runtime.messaging.consumer import Consumer, Subscription
from msgen_runtime.messaging.outbox import Relay, stage
from tests import messaging_support
from tests.messaging_support import Dead, Inbox, Outbox, Partition, Ping, ping_event

pytestmark = pytest.mark.anyio

EVENT = ping_event("batchtest.pinged")
STREAM = "batchtest"


class EffectBase(DeclarativeBase):
    pass


class Effect(EffectBase):
    """What a handler did: one row per handled message, in the message's transaction."""

    __tablename__ = "effects"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    n: Mapped[int]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


nats_url = messaging_support.nats_url
database_url = messaging_support.database_url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    async with messaging_support.bus_database(database_url, EffectBase.metadata) as db:
        yield db


class Commits:
    """Counts the database commits of an engine (a SQLAlchemy event listener)."""

    def __init__(self, database: Database) -> None:
        self.count = 0
        self.engine = database.engine.sync_engine
        sa_event.listen(self.engine, "commit", self._committed)

    def _committed(self, _connection: Any) -> None:
        self.count += 1

    def close(self) -> None:
        sa_event.remove(self.engine, "commit", self._committed)


class Handler:
    """Writes an Effect row per message; raises for the message numbers in `poison`."""

    def __init__(self, poison: frozenset[int] = frozenset()) -> None:
        self.poison = poison
        self.calls: list[int] = []
        self.seen: list[tuple[str, int]] = []

    async def __call__(self, session: AsyncSession, payload: Any) -> None:
        self.calls.append(payload.n)
        self.seen.append((str(payload.ping_id), payload.n))
        if payload.n in self.poison:
            raise RuntimeError(f"poison {payload.n}")
        session.add(Effect(key=str(payload.ping_id), n=payload.n))


def _consumer(database: Database, broker: NatsJetStream, handler: Handler, service: str, **options: Any) -> Consumer:
    consumer = Consumer(
        service=service,
        sessions=database.sessions,
        inbox=Inbox,
        dead_letters=Dead,
        broker=broker,
        subscriptions=[Subscription(EVENT, handler)],
        backoff=0.01,
        **options,
    )
    consumer.attach()
    return consumer


class Batches:
    """Records the size of every batch the broker hands to the consumer, and what it answered."""

    def __init__(self, consumer: Consumer) -> None:
        self.sizes: list[tuple[int, bool]] = []
        real = consumer.receive_batch

        async def receive_batch(topic: str, messages: Sequence[tuple[bytes, dict[str, str]]]) -> bool:
            done = await real(topic, messages)
            self.sizes.append((len(messages), done))
            return done

        consumer.receive_batch = receive_batch  # type: ignore[method-assign]


async def _publish(database: Database, url: str, events: list[Ping]) -> list[tuple[bytes, dict[str, str]]]:
    """Stage `events` and relay them to the stream; returns each message as the broker carries it."""
    publisher = NatsJetStream(url, stream=STREAM, topics=[EVENT.topic])
    relay = Relay(service="tester", sessions=database.sessions, model=Outbox, partitions=Partition, broker=publisher)
    await publisher.start()
    try:
        await relay.prepare()
        async with database.sessions() as session:
            for payload in events:
                await stage(session, Outbox, EVENT, payload)
            await session.commit()
        published = 0
        while published < len(events):
            published += await relay.relay_once()
    finally:
        await publisher.stop()
    async with database.sessions() as session:
        rows = list(await session.scalars(sa.select(Outbox).order_by(Outbox.created_at)))
    return [(row.body, dict(row.headers)) for row in rows]


async def _until(condition: Callable[[], Awaitable[bool]], bound: float = 60.0) -> None:
    async def wait() -> None:
        while not await condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), bound)


async def _effects(database: Database) -> list[tuple[str, int]]:
    async with database.sessions() as session:
        return [
            (row.key, row.n)
            for row in (await session.execute(sa.select(Effect.key, Effect.n).order_by(Effect.id))).all()
        ]


async def _count(database: Database, model: Any) -> int:
    async with database.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _by_key(effects: list[tuple[str, int]]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for key, n in effects:
        grouped.setdefault(key, []).append(n)
    return grouped


async def test_a_batch_is_handled_in_one_transaction(database: Database, nats_url: str) -> None:
    """16 messages (4 keys): one inbox insert, 16 handlers, one commit; given again, all duplicates, no effect."""
    keys = [uuid.uuid4() for _ in range(4)]
    messages = await _publish(database, nats_url, [Ping(ping_id=key, n=n) for n in range(4) for key in keys])
    handler = Handler()
    consumer = _consumer(database, NatsJetStream(nats_url, stream=STREAM, topics=[]), handler, "one")
    commits = Commits(database)
    try:
        assert await consumer.receive_batch(EVENT.topic, messages) is True
        assert commits.count == 1
        assert len(handler.calls) == 16
        assert await consumer.receive_batch(EVENT.topic, messages) is True  # a redelivery of the whole batch
        assert commits.count == 2 and len(handler.calls) == 16  # the inbox knew them all: no handler ran
    finally:
        commits.close()
    assert _by_key(await _effects(database)) == {str(key): [0, 1, 2, 3] for key in keys}
    assert await _count(database, Inbox) == 16


async def test_a_failing_handler_leaves_nothing_of_its_batch(database: Database, nats_url: str) -> None:
    messages = await _publish(database, nats_url, [Ping(ping_id=uuid.uuid4(), n=n) for n in range(6)])
    handler = Handler(poison=frozenset({3}))
    consumer = _consumer(database, NatsJetStream(nats_url, stream=STREAM, topics=[]), handler, "two")
    assert await consumer.receive_batch(EVENT.topic, messages) is False
    assert handler.calls == [0, 1, 2, 3]
    assert await _effects(database) == [] and await _count(database, Inbox) == 0
    assert await consumer.receive_batch(EVENT.topic, [*messages[:1], (b"\x00garbage", {"message-id": "x"})]) is False


async def test_a_burst_through_nats_is_handled_in_batches_once_and_in_order(database: Database, nats_url: str) -> None:
    keys = [uuid.uuid4() for _ in range(4)]
    await _publish(database, nats_url, [Ping(ping_id=key, n=n) for n in range(12) for key in keys])
    handler = Handler()
    receiver = NatsJetStream(nats_url, stream=STREAM, topics=[EVENT.topic])
    consumer = _consumer(database, receiver, handler, "burst")
    batches = Batches(consumer)
    commits = Commits(database)
    await receiver.start()  # the 48 messages are all in the stream: its pull requests get them in batches
    try:
        await _until(lambda: _count_is(database, Effect, 48))
        batched = sum(size for size, done in batches.sizes if done)
        singles = 48 - batched
        # every commit is a batch's or a message alone's: fewer commits than messages
        assert commits.count == len(batches.sizes) + singles
        assert batched > 0 and commits.count < 48
    finally:
        commits.close()
        await receiver.stop()
    assert _by_key(await _effects(database)) == {str(key): list(range(12)) for key in keys}


async def _count_is(database: Database, model: Any, expected: int) -> bool:
    return await _count(database, model) >= expected


async def test_a_poison_message_in_a_batch_fails_alone(database: Database, nats_url: str) -> None:
    """The batch is rolled back and its messages go one by one: the others once, the poison one dead-lettered."""
    keys = [uuid.uuid4() for _ in range(3)]
    events = [Ping(ping_id=keys[n % 3], n=n) for n in range(12)]
    await _publish(database, nats_url, events)
    handler = Handler(poison=frozenset({4}))  # key 1's second message: key 1's later ones wait for it, in order
    receiver = NatsJetStream(nats_url, stream=STREAM, topics=[EVENT.topic])
    consumer = _consumer(database, receiver, handler, "poison", attempts=3)
    batches = Batches(consumer)
    await receiver.start()
    try:
        await _until(lambda: _count_is(database, Effect, 11))
        await _until(lambda: _count_is(database, Dead, 1))
    finally:
        await receiver.stop()
    assert any(size > 1 and not done for size, done in batches.sizes), "the poison message failed a batch"
    effects = await _effects(database)
    assert sorted(n for _key, n in effects) == [n for n in range(12) if n != 4]  # each once
    assert _by_key(effects) == {
        str(keys[0]): [0, 3, 6, 9],
        str(keys[1]): [1, 7, 10],
        str(keys[2]): [2, 5, 8, 11],
    }
    async with database.sessions() as session:
        dead = (await session.scalars(sa.select(Dead))).one()
    assert dead.attempts == 3 and "poison 4" in dead.error  # retried and dead-lettered as a message alone is
    assert handler.calls.count(4) == 1 + 3  # the failed batch, then its own three attempts


async def test_a_batch_redelivered_after_a_crash_before_its_ack_has_no_second_effect(
    database: Database, nats_url: str
) -> None:
    keys = [uuid.uuid4() for _ in range(2)]
    await _publish(database, nats_url, [Ping(ping_id=key, n=n) for n in range(8) for key in keys])
    committed = asyncio.Event()
    never = asyncio.Event()
    first = NatsJetStream(nats_url, stream=STREAM, topics=[EVENT.topic], ack_wait=1.0)
    consumer = _consumer(database, first, Handler(), "crash")
    real = consumer.receive_batch

    async def commit_then_die(topic: str, messages: Sequence[tuple[bytes, dict[str, str]]]) -> bool:
        await real(topic, messages)
        committed.set()
        await never.wait()  # the process dies here: committed, never acknowledged
        return True

    consumer.receive_batch = commit_then_die  # type: ignore[method-assign]
    await first.start()
    try:
        await asyncio.wait_for(committed.wait(), 60)
    finally:
        await first.stop()  # the batch's task is cancelled after ack_wait: its messages are redelivered
    kept = await _effects(database)
    assert len(kept) > 1

    second = NatsJetStream(nats_url, stream=STREAM, topics=[EVENT.topic], ack_wait=1.0)
    again = Handler()
    consumer2 = _consumer(database, second, again, "crash")
    batches = Batches(consumer2)
    await second.start()
    try:

        async def all_acknowledged() -> bool:
            info = await second.broker.config.connection_state.stream.consumer_info(STREAM, f"crash-{STREAM}-pinged")
            return bool(info.num_pending == 0 and info.num_ack_pending == 0 and batches.sizes)

        await _until(lambda: _count_is(database, Effect, 16))
        await _until(all_acknowledged)
    finally:
        await second.stop()
    effects = await _effects(database)
    assert len(effects) == 16  # the redelivered batch found its inbox rows: no handler ran twice
    assert not set(again.seen) & set(kept)
    assert _by_key(effects) == {str(key): list(range(8)) for key in keys}


async def test_a_subscription_with_effects_outside_the_database_is_never_batched(
    database: Database, nats_url: str
) -> None:
    """`Subscription(batch=False)` (a handler that sends mail): one transaction per message, as before."""
    await _publish(database, nats_url, [Ping(ping_id=uuid.uuid4(), n=n) for n in range(10)])
    receiver = NatsJetStream(nats_url, stream=STREAM, topics=[EVENT.topic])
    consumer = Consumer(
        service="mailer",
        sessions=database.sessions,
        inbox=Inbox,
        dead_letters=Dead,
        broker=receiver,
        subscriptions=[Subscription(EVENT, Handler(), batch=False)],
    )
    consumer.attach()
    batches = Batches(consumer)
    commits = Commits(database)
    await receiver.start()
    try:
        await _until(lambda: _count_is(database, Effect, 10))
    finally:
        commits.close()
        await receiver.stop()
    assert batches.sizes == [] and commits.count == 10


def test_a_batch_takes_its_keys_in_sorted_order() -> None:
    """Every batch locks the rows of its keys (a saga's state, a step's ledger row) in the same order."""
    handed: list[list[str]] = []

    class Msg:
        def __init__(self, key: str, n: int) -> None:
            self.data = f"{key}{n}".encode()
            self.headers = {"key": key}

        async def ack(self) -> None:
            pass

    async def batch(messages: Sequence[tuple[bytes, dict[str, str]]]) -> bool:
        handed.append([body.decode() for body, _headers in messages])
        return True

    chains = {"b": [Msg("b", 0), Msg("b", 1)], "a": [Msg("a", 0)], "c": [Msg("c", 0)]}
    assert asyncio.run(NatsJetStream._run_batch(chains, batch)) is True
    assert handed == [["a0", "b0", "b1", "c0"]]
    assert asyncio.run(NatsJetStream._run_batch({"a": [Msg("a", 0)]}, batch)) is False  # alone: the usual way
