"""One interface over FastStream's NATS JetStream, Kafka and RabbitMQ brokers.

Generated code never sees the broker: it publishes through the outbox and
receives through `Consumer`, so the same handlers run on all three.
"""

# No `from __future__ import annotations` here: FastStream resolves the handlers' annotations at runtime.
import asyncio
import contextlib
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


HEADER_KEY = "key"  # codec.HEADER_KEY: the aggregate key the outbox wrote
FETCH_BATCH = 16  # NATS: messages fetched per pull request


def _safe(name: str) -> str:
    return name.replace(".", "-").replace(">", "all").replace("*", "any")


class NatsJetStream:
    """NATS with JetStream: one stream for the system's topics and their dead-letter topics."""

    kind = "nats"

    def __init__(
        self, url: str, *, stream: str, topics: Sequence[str], ack_wait: float = 10.0, fetch_batch: int = FETCH_BATCH
    ) -> None:
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
        self.fetch_batch = fetch_batch
        self._subscriptions: list[tuple[str, str, Handler]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._pulls: list[Any] = []  # nats-py pull subscriptions, ended on stop
        self._idle: set[asyncio.Task[Any]] = set()  # pull loops waiting for a batch, not handling one
        self._stopping = False

    async def alive(self, timeout: float) -> bool:
        """Connected, and the server answered a PING lately (see PING_INTERVAL): a hung server reads as down."""
        return bool(await self.broker.ping(timeout=timeout))

    def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        self._subscriptions.append((topic, f"{group}-{_safe(topic)}", handler))

    async def _pull(self, subscription: Any, handler: Handler) -> None:
        """Fetch a batch per pull request; run each key's messages in stream order, the keys side by side.

        nats-py's pull subscription, not FastStream's subscriber: FastStream starts one task per fetched
        message and those reach the handler in no guaranteed order. Here the batch is split by key before
        anything runs, so an aggregate's events keep their order while different aggregates overlap.
        The next batch is fetched once every message of the last one is acknowledged.
        """
        from nats.errors import TimeoutError as FetchTimeout

        me = asyncio.current_task()
        assert me is not None
        while not self._stopping:
            try:
                self._idle.add(me)
                # One message, long-polled: nats-py's lingering pull of n > 1 messages returns only when n
                # came or the timeout passed, which would hold a lone message for up to the timeout.
                messages = await subscription.fetch(batch=1, timeout=1.0)
            except FetchTimeout:
                continue
            except Exception as exc:  # disconnected, reconnecting: the broker's own reconnect loop runs
                _log.debug("nats.fetch_failed", extra={"error": str(exc)})
                await asyncio.sleep(0.2)
                continue
            finally:
                self._idle.discard(me)
            # Then what is already waiting, without lingering (nats-py asks with no_wait first).
            waiting = min(self._num_pending(messages[-1]), self.fetch_batch - 1)
            if waiting > 0:
                with contextlib.suppress(Exception):  # a replica took them first: handle what we have
                    messages += await subscription.fetch(batch=waiting, timeout=0.05)
            chains: dict[str, list[Any]] = {}
            for n, msg in enumerate(messages):
                key = (msg.headers or {}).get(HEADER_KEY)
                chains.setdefault(key if key is not None else f"\x00{n}", []).append(msg)
            fetched = asyncio.get_running_loop().time()
            await asyncio.gather(*(self._run_chain(items, handler, fetched) for items in chains.values()))

    @staticmethod
    def _num_pending(msg: Any) -> int:
        try:
            return int(msg.metadata.num_pending)
        except Exception:
            return 0

    async def _run_chain(self, messages: list[Any], handler: Handler, fetched: float) -> None:
        loop = asyncio.get_running_loop()
        for n, msg in enumerate(messages):
            if loop.time() - fetched > self.ack_wait / 2:  # waited long behind its key: not redelivered meanwhile
                with contextlib.suppress(Exception):
                    await msg.in_progress()
            try:
                await handler(msg.data, {k: str(v) for k, v in (msg.headers or {}).items()})
            except Exception as exc:
                # redelivered later, and so are the key's next messages: none of them may overtake it
                _log.warning("nats.handler_failed", extra={"subject": msg.subject, "error": str(exc)})
                for later in messages[n:]:
                    with contextlib.suppress(Exception):
                        await later.nak()
                return
            with contextlib.suppress(Exception):  # an ack lost with the connection: redelivered, the inbox skips it
                await msg.ack()

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
        from nats.js.api import ConsumerConfig

        self._stopping = False
        for topic, durable, handler in self._subscriptions:
            subscription = await js.pull_subscribe(
                topic,
                durable=durable,
                stream=self.stream_name,
                config=ConsumerConfig(ack_wait=self.ack_wait, max_deliver=-1),
            )
            self._pulls.append(subscription)
            self._tasks.append(asyncio.create_task(self._pull(subscription, handler)))

    async def stop(self) -> None:
        """Stop fetching; the batches being handled finish (up to ack_wait), then the connection closes."""
        self._stopping = True
        for task in self._tasks:
            if task in self._idle:
                task.cancel()
        if self._tasks:
            _done, late = await asyncio.wait(self._tasks, timeout=self.ack_wait)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        # nats-py's pull subscriptions are not FastStream's: unless they are ended here, its stop() waits forever
        for subscription in self._pulls:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        self._pulls.clear()
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
