"""One interface over FastStream's NATS JetStream, Kafka and RabbitMQ brokers.

Generated code never sees the broker: it publishes through the outbox and
receives through `Consumer`, so the same handlers run on all three.
"""

# No `from __future__ import annotations` here: FastStream resolves the handlers' annotations at runtime.
import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol
from urllib.parse import urlparse

Handler = Callable[[bytes, dict[str, str]], Awaitable[None]]
# Several messages of one subscription in one go (in order): True once they were all handled, False when
# none of them was (the broker then runs `Handler` on each, one by one).
BatchHandler = Callable[[Sequence[tuple[bytes, dict[str, str]]]], Awaitable[bool]]
_log = logging.getLogger("msgen.broker")
_faststream_log = logging.getLogger("msgen.faststream")  # through the service's JSON log handler
PING_INTERVAL = 0.5  # seconds between the NATS client's PINGs


class Broker(Protocol):
    kind: str

    def subscribe(self, topic: str, group: str, handler: Handler, *, batch: BatchHandler | None = None) -> None: ...

    async def publish(self, topic: str, body: bytes, headers: dict[str, str], key: str | None) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def lag(self, topic: str, group: str) -> int | None: ...

    async def alive(self, timeout: float) -> bool: ...


HEADER_KEY = "key"  # codec.HEADER_KEY: the aggregate key the outbox wrote
FETCH_BATCH = 16  # NATS: messages a consumer's open pull requests ask for at most
PULL_EXPIRES = 5.0  # NATS: seconds a pull request stays open on the server


class _Inbox:
    """What nats-server delivered to one consumer's pull requests, in order, with when each arrived."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.messages: collections.deque[tuple[Any, float]] = collections.deque()
        self.arrived = asyncio.Event()

    async def put(self, msg: Any) -> None:
        self.messages.append((msg, asyncio.get_running_loop().time()))
        self.arrived.set()

    async def wait(self, timeout: float) -> bool:
        """True once a message is there, False after `timeout` seconds without one."""
        if not self.messages:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.arrived.wait()
        return bool(self.messages)


def _safe(name: str) -> str:
    return name.replace(".", "-").replace(">", "all").replace("*", "any")


class NatsJetStream:
    """NATS with JetStream: one stream for the system's topics and their dead-letter topics."""

    kind = "nats"

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        topics: Sequence[str],
        ack_wait: float = 10.0,
        fetch_batch: int = FETCH_BATCH,
        pull_expires: float = PULL_EXPIRES,
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
        self._subscriptions: list[tuple[str, str, Handler, BatchHandler | None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.pull_expires = pull_expires
        self._pulls: list[Any] = []  # the inboxes' nats-py subscriptions, ended on stop
        self._inboxes: list[_Inbox] = []
        self._idle: set[asyncio.Task[Any]] = set()  # pull loops waiting for a batch, not handling one
        self._stopping = False

    async def alive(self, timeout: float) -> bool:
        """Connected, and the server answered a PING lately (see PING_INTERVAL): a hung server reads as down."""
        return bool(await self.broker.ping(timeout=timeout))

    def subscribe(self, topic: str, group: str, handler: Handler, *, batch: BatchHandler | None = None) -> None:
        """`handler` gets each message; `batch`, when given, gets what arrived together first (see `_pull`)."""
        self._subscriptions.append((topic, f"{group}-{_safe(topic)}", handler, batch))

    async def _pull(
        self, connection: Any, inbox: "_Inbox", durable: str, handler: Handler, batch: BatchHandler | None = None
    ) -> None:
        """Keep pull requests open and handle what they deliver: each key's messages in stream order, keys side by side.

        Not nats-py's `fetch`: it sent a pull request per message (and one a second per idle consumer, when
        its long poll expired), each a round trip through nats-server. Here a request asks for up to
        `fetch_batch` messages and stays open for `pull_expires` seconds; another is sent once fewer than
        half of them are still to come (a 408 or 409 ending a request says how many it did not deliver),
        after a reconnect, or when the server has said nothing for longer than a request lives. What
        arrived while a batch was being handled is the next batch, split by key before anything runs, so
        an aggregate's events keep their order while different aggregates overlap. FastStream's subscriber
        is not used either: it starts one task per message, and those reach the handler in no fixed order.

        With a `batch` handler, a batch of more than one message goes to it first, whole (see `_run_batch`);
        only when it handled none of them do the keys' chains run as above.
        """
        me = asyncio.current_task()
        assert me is not None
        loop = asyncio.get_running_loop()
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream_name}.{durable}"
        expires_ns = int(self.pull_expires * 1_000_000_000)
        asked = 0  # messages the open requests may still deliver
        heard = loop.time()  # the last message or status from the server, or the first request since
        reconnects = connection.stats["reconnects"]
        held: dict[str, tuple[int, float]] = {}  # key -> (stream sequence of its failed message, hold until)
        while not self._stopping:
            if connection.stats["reconnects"] != reconnects:  # the old connection's requests are gone
                reconnects, asked = connection.stats["reconnects"], 0
            if loop.time() - heard > self.pull_expires + 1:  # not even a request's end came back: lost
                asked = 0
            if asked <= self.fetch_batch // 2 and connection.is_connected:
                more = self.fetch_batch - asked
                try:
                    await connection.publish(
                        subject, b'{"batch":%d,"expires":%d}' % (more, expires_ns), reply=inbox.subject
                    )
                except Exception as exc:  # disconnected, reconnecting: the broker's own reconnect loop runs
                    _log.debug("nats.pull_failed", extra={"error": str(exc)})
                    await asyncio.sleep(0.2)
                    continue
                if asked == 0:
                    heard = loop.time()
                asked += more
            try:
                self._idle.add(me)
                if not await inbox.wait(1.0):
                    continue
            finally:
                self._idle.discard(me)
            heard = loop.time()
            chains: dict[str, list[Any]] = {}
            fetched = 0.0
            backoff = False
            for n in range(min(len(inbox.messages), self.fetch_batch)):
                msg, arrived = inbox.messages.popleft()
                headers = msg.headers or {}
                status = headers.get("Status")
                if status is not None:  # a request's end (408, 409), a heartbeat (100), no messages (404)
                    if status in ("408", "409", "404"):
                        pending = headers.get("Nats-Pending-Messages")
                        asked = max(asked - int(pending), 0) if pending and pending.isdigit() else 0
                        backoff = backoff or (status == "409" and not pending)  # consumer gone, too many waiting
                    continue
                asked = max(asked - 1, 0)
                fetched = fetched or arrived
                key = headers.get(HEADER_KEY)
                if key is not None and key in held and self._still_held(held, key, msg, loop.time()):
                    with contextlib.suppress(Exception):  # behind its key's failed message: after it, in order
                        await msg.nak()
                    continue
                chains.setdefault(key if key is not None else f"\x00{n}", []).append(msg)
            if chains and not (batch is not None and await self._run_batch(chains, batch)):
                failed = await asyncio.gather(*(self._run_chain(items, handler, fetched) for items in chains.values()))
                for failure in failed:
                    if failure is not None:
                        held[failure[0]] = (failure[1], loop.time() + self.ack_wait)
            if backoff:
                await asyncio.sleep(0.2)

    @staticmethod
    def _still_held(held: dict[str, tuple[int, float]], key: str, msg: Any, now: float) -> bool:
        """A message whose key's earlier message failed waits for that one's redelivery (or for ack_wait)."""
        sequence, until = held[key]
        try:
            own = int(msg.metadata.sequence.stream)
        except Exception:
            own = sequence
        if own > sequence and now < until:
            return True
        del held[key]  # the failed message itself, redelivered, or its hold ran out
        return False

    @staticmethod
    async def _run_batch(chains: dict[str, list[Any]], batch: BatchHandler) -> bool:
        """Hand a batch of more than one message to `batch` in one call, then ack them all; False if it did not.

        The keys come in sorted order, each key's messages in stream order: handled in one transaction,
        the rows they lock (a saga's state, a step's ledger row: by the message's key) are taken in the same
        order by every batch, so two batches do not wait on each other in a cycle. A message alone goes the
        usual way: nothing waits to fill a batch.
        """
        messages = [msg for key in sorted(chains) for msg in chains[key]]
        if len(messages) < 2:
            return False
        try:
            done = await batch([(msg.data, {k: str(v) for k, v in (msg.headers or {}).items()}) for msg in messages])
        except Exception as exc:
            _log.warning("nats.batch_failed", extra={"error": str(exc)})
            return False
        if not done:
            return False
        for msg in messages:
            with contextlib.suppress(Exception):  # an ack lost with the connection: redelivered, the inbox skips it
                await msg.ack()
        return True

    async def _run_chain(self, messages: list[Any], handler: Handler, fetched: float) -> tuple[str, int] | None:
        """Handle one key's messages in order; after a failure, nak the rest and return (key, stream sequence)."""
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
                key = (msg.headers or {}).get(HEADER_KEY)
                try:
                    return (key, int(msg.metadata.sequence.stream)) if key is not None else None
                except Exception:
                    return None
            with contextlib.suppress(Exception):  # an ack lost with the connection: redelivered, the inbox skips it
                await msg.ack()
        return None

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
        connection = self.broker.config.connection_state.connection
        for topic, durable, handler, batch in self._subscriptions:
            try:
                await js.consumer_info(self.stream_name, durable)
            except NotFoundError:  # as nats-py's pull_subscribe creates it
                await js.add_consumer(
                    self.stream_name,
                    config=ConsumerConfig(
                        name=durable, durable_name=durable, filter_subject=topic, ack_wait=self.ack_wait, max_deliver=-1
                    ),
                )
            inbox = _Inbox(connection.new_inbox())
            self._pulls.append(await connection.subscribe(inbox.subject, cb=inbox.put))
            self._inboxes.append(inbox)
            self._tasks.append(asyncio.create_task(self._pull(connection, inbox, durable, handler, batch)))

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
        # the inboxes' subscriptions are not FastStream's: unless they are ended here, its stop() waits forever
        for subscription in self._pulls:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        self._pulls.clear()
        for inbox in self._inboxes:  # delivered, never handled: to the next consumer at once, not after ack_wait
            while inbox.messages:
                msg, _arrived = inbox.messages.popleft()
                if not (msg.headers or {}).get("Status"):
                    with contextlib.suppress(Exception):
                        await msg.nak()
        self._inboxes.clear()
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

    def subscribe(self, topic: str, group: str, handler: Handler, *, batch: BatchHandler | None = None) -> None:
        """One message at a time: `batch` is not used."""
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

    def subscribe(self, topic: str, group: str, handler: Handler, *, batch: BatchHandler | None = None) -> None:
        """One message at a time (prefetch 1, for each key's order): `batch` is not used."""
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


__all__: list[Any] = ["BatchHandler", "Broker", "Handler", "make_broker"]
