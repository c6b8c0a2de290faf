"""One interface over FastStream's NATS JetStream, Kafka and RabbitMQ brokers.

Generated code never sees the broker: it publishes through the outbox and
receives through `Consumer`, so the same handlers run on all three.
"""

# No `from __future__ import annotations` here: FastStream resolves the handlers' annotations at runtime.
import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlparse

Handler = Callable[[bytes, dict[str, str]], Awaitable[None]]
_log = logging.getLogger("msgen.broker")
_faststream_log = logging.getLogger("msgen.faststream")  # through the service's JSON log handler
PING_INTERVAL = 0.5  # seconds between the NATS client's PINGs


class Broker(Protocol):
    kind: str

    def subscribe(self, topic: str, group: str, handler: Handler) -> None: ...

    async def publish(self, topic: str, body: bytes, headers: dict[str, str], key: str | None) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def lag(self, topic: str, group: str) -> int | None: ...

    async def alive(self, timeout: float) -> bool: ...


def _safe(name: str) -> str:
    return name.replace(".", "-").replace(">", "all").replace("*", "any")


class NatsJetStream:
    """NATS with JetStream: one stream for the system's topics and their dead-letter topics."""

    kind = "nats"

    def __init__(self, url: str, *, stream: str, topics: Sequence[str], ack_wait: float = 10.0) -> None:
        from faststream.nats import JStream, NatsBroker

        self.broker = NatsBroker(
            url,
            logger=_faststream_log,
            reconnect_time_wait=1,
            max_reconnect_attempts=-1,
            # A server that stops answering (hung, or packets dropped: no FIN, no RST) is noticed by its
            # unanswered PINGs within 1.5 s; the client then reconnects, and reads as disconnected meanwhile.
            # (nats-py's flush() cannot serve as the probe: a PONG arriving after its timeout kills the read loop.)
            ping_interval=PING_INTERVAL,  # type: ignore[arg-type]  # typed int, handed to asyncio.sleep
            max_outstanding_pings=2,
        )
        self.stream_name = stream
        subjects = sorted({*topics, *(f"{t}.dlq" for t in topics)})
        self.stream = JStream(name=stream, subjects=subjects, declare=True)
        self.subjects = subjects
        self.ack_wait = ack_wait

    async def alive(self, timeout: float) -> bool:
        """Connected, and the server answered a PING lately (see PING_INTERVAL): a hung server reads as down."""
        return bool(await self.broker.ping(timeout=timeout))

    def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        from faststream.nats import PullSub
        from faststream.nats.annotations import NatsMessage
        from nats.js.api import ConsumerConfig

        async def receive(msg: NatsMessage) -> None:
            await handler(msg.body, {k: str(v) for k, v in (msg.headers or {}).items()})

        self.broker.subscriber(
            topic,
            stream=self.stream,
            durable=f"{group}-{_safe(topic)}",
            # one message at a time: FastStream handles a fetched batch concurrently, which would reorder an aggregate
            pull_sub=PullSub(batch_size=1, timeout=1.0),
            config=ConsumerConfig(ack_wait=self.ack_wait, max_deliver=-1),
        )(receive)

    async def publish(self, topic: str, body: bytes, headers: dict[str, str], key: str | None) -> None:
        await self.broker.publish(body, topic, headers=headers, stream=self.stream_name, timeout=5.0)

    async def start(self) -> None:
        await self.broker.start()
        # FastStream declares the stream for subscribers only; a service that only publishes needs it too.
        from nats.js.errors import NotFoundError

        js = self.broker.config.connection_state.stream
        try:
            await js.stream_info(self.stream_name)
        except NotFoundError:
            await js.add_stream(name=self.stream_name, subjects=self.subjects)

    async def stop(self) -> None:
        await self.broker.stop()

    async def lag(self, topic: str, group: str) -> int | None:
        try:
            js = self.broker.config.connection_state.stream
            info = await js.consumer_info(self.stream_name, f"{group}-{_safe(topic)}")
            return int(info.num_pending)
        except Exception:
            return None


async def _answers(check: Callable[[], Awaitable[object]], timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            await check()
    except Exception:
        return False
    return True


class Kafka:
    """Kafka through aiokafka: topic per event, consumer group per service."""

    kind = "kafka"

    def __init__(self, url: str) -> None:
        from faststream.kafka import KafkaBroker

        parsed = urlparse(url)
        bootstrap = parsed.netloc or parsed.path
        self.broker = KafkaBroker(bootstrap, logger=_faststream_log)

    def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        from faststream.kafka.annotations import KafkaMessage

        async def receive(msg: KafkaMessage) -> None:
            await handler(msg.body, {k: str(v) for k, v in (msg.headers or {}).items()})

        self.broker.subscriber(topic, group_id=group, auto_offset_reset="earliest")(receive)

    async def publish(self, topic: str, body: bytes, headers: dict[str, str], key: str | None) -> None:
        await self.broker.publish(body, topic, key=key.encode() if key else None, headers=headers)

    async def start(self) -> None:
        await self.broker.start()

    async def alive(self, timeout: float) -> bool:
        return bool(await self.broker.ping(timeout=timeout))

    async def stop(self) -> None:
        await self.broker.stop()

    async def lag(self, topic: str, group: str) -> int | None:
        return None


class RabbitMQ:
    """RabbitMQ: one durable topic exchange for the system, one durable queue per consumer and topic."""

    kind = "rabbitmq"

    def __init__(self, url: str, *, exchange: str) -> None:
        from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange

        self.broker = RabbitBroker(url, logger=_faststream_log)
        self.exchange = RabbitExchange(exchange, type=ExchangeType.TOPIC, durable=True)

    def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        from faststream.rabbit import Channel, RabbitQueue
        from faststream.rabbit.annotations import RabbitMessage

        async def receive(msg: RabbitMessage) -> None:
            await handler(msg.body, {k: str(v) for k, v in (msg.headers or {}).items()})

        queue = RabbitQueue(f"{group}.{topic}", durable=True, routing_key=topic)
        # prefetch 1 on its own channel: one message at a time, so an aggregate's events keep their order
        self.broker.subscriber(queue, self.exchange, channel=Channel(prefetch_count=1))(receive)

    async def publish(self, topic: str, body: bytes, headers: dict[str, str], key: str | None) -> None:
        await self.broker.publish(
            body, routing_key=topic, exchange=self.exchange, headers=dict[str, Any](headers), persist=True
        )

    async def start(self) -> None:
        await self.broker.start()

    async def alive(self, timeout: float) -> bool:
        """A channel opened and closed on the connection: a broker that stopped answering reads as down."""

        async def round_trip() -> None:
            connection = self.broker._connection  # aio-pika's connection: FastStream keeps it private
            if connection is None:
                raise ConnectionError("not connected")
            channel = await connection.channel(publisher_confirms=False)
            await channel.close()

        return await _answers(round_trip, timeout)

    async def stop(self) -> None:
        await self.broker.stop()

    async def lag(self, topic: str, group: str) -> int | None:
        return None


def make_broker(url: str, *, system: str, topics: Sequence[str]) -> Broker:
    """The broker BROKER_URL names: nats://, kafka://, amqp://."""
    scheme = urlparse(url).scheme
    if scheme in ("nats", "tls"):
        return NatsJetStream(url, stream=system, topics=topics)
    if scheme == "kafka":
        return Kafka(url)
    if scheme in ("amqp", "amqps"):
        return RabbitMQ(url, exchange=system)
    raise ValueError(f"unsupported broker URL {url!r}: use nats://, kafka:// or amqp://")


def default_broker_url(kind: str) -> str:
    return {
        "nats": "nats://127.0.0.1:4222",
        "kafka": "kafka://127.0.0.1:9092",
        "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/",
    }[kind]


__all__: list[Any] = ["Broker", "Handler", "make_broker"]
