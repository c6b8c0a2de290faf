"""Outbox relay throughput against raw FastStream publishing, to the same nats-server, in one run.

Raw: FastStream publishes N messages to JetStream one after another (each acked).
Outbox: N events are staged in the database (100 per transaction), then the relay
publishes them and marks them sent. Target: the relay keeps >= 50% of raw.

    python benchmarks/outbox.py [--events 3000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy.orm import DeclarativeBase

from msgen_runtime.db import Database
from msgen_runtime.messaging.broker import NatsJetStream
from msgen_runtime.messaging.codec import EventType
from msgen_runtime.messaging.outbox import OutboxMessageMixin, OutboxPartitionMixin, Relay, stage
from msgen_runtime.testing import nats_server, temporary_database


class Base(DeclarativeBase):
    pass


class Outbox(OutboxMessageMixin, Base):
    __tablename__ = "outbox"


class Partition(OutboxPartitionMixin, Base):
    __tablename__ = "outbox_partitions"


class Ping(BaseModel):
    ping_id: uuid.UUID
    n: int


PING = EventType(
    name="bench.pinged",
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


async def raw(url: str, events: int) -> float:
    broker = NatsJetStream(url, stream="bench", topics=[PING.topic])
    await broker.start()
    body = PING.encode(Ping(ping_id=uuid.uuid4(), n=0))
    started = time.perf_counter()
    for n in range(events):
        await broker.publish(PING.topic, body, {"message-id": str(n)}, None)
    took = time.perf_counter() - started
    await broker.stop()
    return events / took


async def relayed(url: str, database_url: str, events: int) -> float:
    database = Database(database_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    broker = NatsJetStream(url, stream="bench", topics=[PING.topic])
    await broker.start()
    relay = Relay(
        service="bench", sessions=database.sessions, model=Outbox, partitions=Partition, broker=broker, batch=500
    )
    await relay.prepare()
    for start in range(0, events, 100):
        async with database.sessions() as session:
            for n in range(start, min(start + 100, events)):
                await stage(session, Outbox, PING, Ping(ping_id=uuid.uuid4(), n=n))
            await session.commit()
    started = time.perf_counter()
    sent = 0
    while sent < events:
        sent += await relay.relay_once()
    took = time.perf_counter() - started
    await broker.stop()
    await database.dispose()
    return events / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (a database is created and dropped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="msgen-outbox-") as tmp, nats_server(str(Path(tmp) / "nats")) as url:
        baseline = asyncio.run(raw(url, args.events))
        results = [("SQLite", asyncio.run(relayed(url, f"sqlite+aiosqlite:///{Path(tmp) / 'o.db'}", args.events)))]
        if args.postgres:
            with temporary_database(args.postgres, prefix="outbox_bench") as pg:
                results.append(("PostgreSQL", asyncio.run(relayed(url, pg, args.events))))
    print(f"{args.events} events to a local nats-server (JetStream, acked publishes)")
    print(f"{'raw FastStream publish':<28} {baseline:>9.0f} events/s")
    for name, rate in results:
        verdict = "PASS" if rate >= 0.5 * baseline else "MISS"
        print(
            f"{'outbox relay, ' + name:<28} {rate:>9.0f} events/s  ({rate / baseline:.0%} of raw, target >= 50%: {verdict})"
        )


if __name__ == "__main__":
    main()
