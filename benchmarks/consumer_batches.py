"""What a saga participant's consumer costs per message when it drains a burst.

    python benchmarks/consumer_batches.py [--src DIR] [--postgres URL] [--messages 800] [--keys 800] [--one-by-one]

Starts a nats-server of its own (the wheel's), stages `--messages` events of `--keys` aggregates in an
outbox and relays them to the stream, then starts one consumer (`Consumer` over `NatsJetStream`, from
`--src`: a checkout's `src` folder, so two versions run one after the other in the same minutes) and
measures until every message is handled: this process's CPU per message, the database commits per
message (a SQLAlchemy event listener) and the wall time. The handler does what a generated participant's
does: its ledger row (`Participant.apply`), an entity row, and a reply event staged in the outbox.
`--one-by-one` turns batching off on a runtime that has it (`Consumer(batches=False)`). The database is a
SQLite file, or a database of its own on the PostgreSQL server of `--postgres` (created and dropped).
"""

# No `from __future__ import annotations`: the ORM classes below are declared inside `run`, after `--src` is on the path.

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


async def run(args: argparse.Namespace, store: str, database_url: str) -> None:
    import sqlalchemy as sa
    from pydantic import BaseModel
    from sqlalchemy import event as sa_event
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    from msgen_runtime.db import Database
    from msgen_runtime.messaging.broker import NatsJetStream
    from msgen_runtime.messaging.codec import EventType
    from msgen_runtime.messaging.consumer import Consumer, DeadLetterMixin, InboxMessageMixin, Subscription
    from msgen_runtime.messaging.outbox import OutboxMessageMixin, OutboxPartitionMixin, Relay, stage
    from msgen_runtime.messaging.participant import Participant, SagaStepMixin
    from msgen_runtime.testing import nats_server

    class Base(DeclarativeBase):
        pass

    class Outbox(OutboxMessageMixin, Base):
        __tablename__ = "outbox"

    class Partition(OutboxPartitionMixin, Base):
        __tablename__ = "outbox_partitions"

    class Inbox(InboxMessageMixin, Base):
        __tablename__ = "inbox"

    class Dead(DeadLetterMixin, Base):
        __tablename__ = "dead_letters"

    class Steps(SagaStepMixin, Base):
        __tablename__ = "saga_steps"

    class Charge(Base):
        __tablename__ = "charges"
        id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
        order_id: Mapped[str] = mapped_column(sa.String(64))
        amount: Mapped[int]

    class Order(BaseModel):
        order_id: uuid.UUID
        amount: int

    def event(name: str) -> EventType[Order]:
        return EventType(
            name=name,
            version=1,
            model=Order,
            key="order_id",
            schema={
                "type": "record",
                "name": "Order",
                "fields": [
                    {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}},
                    {"name": "amount", "type": "long"},
                ],
            },
        )

    created, charged = event("bench.order_created"), event("bench.payment_charged")
    step = Participant(saga="place_order", step="charge", ledger=Steps)

    async def charge(session: AsyncSession, payload: Order) -> None:
        if await step.apply(session, payload.order_id):
            session.add(Charge(order_id=str(payload.order_id), amount=payload.amount))
            await stage(session, Outbox, charged, payload)

    with nats_server(store) as url:
        database = Database(database_url)
        async with database.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        publisher = NatsJetStream(url, stream="bench", topics=[created.topic, charged.topic])
        relay = Relay(
            service="orders", sessions=database.sessions, model=Outbox, partitions=Partition, broker=publisher
        )
        await publisher.start()
        await relay.prepare()
        keys = [uuid.uuid4() for _ in range(args.keys)]
        async with database.sessions() as session:
            for n in range(args.messages):
                await stage(session, Outbox, created, Order(order_id=keys[n % len(keys)], amount=n))
            await session.commit()
        published = 0
        while published < args.messages:
            published += await relay.relay_once()
        await publisher.stop()
        async with database.sessions() as session:  # the replies the consumer stages are not relayed
            await session.execute(sa.delete(Outbox))
            await session.commit()

        receiver = NatsJetStream(url, stream="bench", topics=[created.topic])
        options: dict[str, Any] = {"batches": False} if args.one_by_one else {}
        consumer = Consumer(
            service="payments",
            sessions=database.sessions,
            inbox=Inbox,
            dead_letters=Dead,
            broker=receiver,
            subscriptions=[Subscription(created, charge)],
            **options,
        )
        consumer.attach()
        commits = 0

        def committed(_connection: Any) -> None:
            nonlocal commits
            commits += 1

        sa_event.listen(database.engine.sync_engine, "commit", committed)
        cpu, wall = time.process_time(), time.perf_counter()
        await receiver.start()
        expected = min(args.keys, args.messages)  # one charge per order: its later events find its ledger row
        while True:
            async with database.sessions() as session:
                handled = await session.scalar(sa.select(sa.func.count()).select_from(Inbox))
                charges = await session.scalar(sa.select(sa.func.count()).select_from(Charge))
            if handled == args.messages:
                break
            await asyncio.sleep(0.05)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await receiver.stop()
        sa_event.remove(database.engine.sync_engine, "commit", committed)
        await database.dispose()
        n = args.messages
        print(
            f"{n} messages ({args.keys} keys), {database.engine.dialect.name}, "
            f"{'one by one' if args.one_by_one else 'as the runtime does'}: "
            f"CPU {1000 * cpu / n:.3f} ms per message, {commits / n:.3f} commits per message, "
            f"drained in {wall:.2f} s; charges {charges} (expected {expected}); "
            f"load {os.getloadavg()[0]:.2f}"
        )


def _database(args: argparse.Namespace, store: str) -> Any:
    import contextlib

    from msgen_runtime.testing import temporary_database

    if args.postgres:
        return temporary_database(args.postgres, prefix="batchbench")
    return contextlib.nullcontext(f"sqlite+aiosqlite:///{Path(store) / 'bench.db'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src")
    parser.add_argument("--postgres", help="a PostgreSQL server's URL (postgresql://...); SQLite when left out")
    parser.add_argument("--messages", type=int, default=800)
    parser.add_argument("--keys", type=int, default=800, help="aggregates (orders); each charged once")
    parser.add_argument("--one-by-one", action="store_true", help="Consumer(batches=False)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs, runtime from {args.src}")
    sys.path.insert(0, str(args.src))
    with tempfile.TemporaryDirectory(prefix="msgen-batches-") as store, _database(args, store) as database_url:
        asyncio.run(run(args, store, database_url))


if __name__ == "__main__":
    main()
