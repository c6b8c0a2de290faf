"""Idempotent consumers: an inbox row per processed message, in the handler's transaction.

A redelivered message finds its inbox row and has no second effect. A handler
that fails is retried with exponential backoff; after the last attempt the
message goes to `<topic>.dlq` (and the service's dead_letters table, for
`msgen dlq`), with the error, the attempts and the original headers. A message
that cannot be decoded goes there at once, and the consumer keeps going.

When the broker has several messages of a topic ready at once (NATS: what its
open pull requests delivered), they are handled in one transaction: one inbox
insert for all of them, each handler in turn (a key's messages in order), one
commit, then every message is acknowledged. If anything in it fails, nothing of
it is kept, and the broker hands the messages to `receive` one by one, where
retries and dead letters work as for a message alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from asgi_correlation_id import correlation_id
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from prometheus_client import Counter, Histogram
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped

from msgen_runtime.entities import utcnow
from msgen_runtime.messaging import codec
from msgen_runtime.messaging.broker import Broker
from msgen_runtime.orm import insert_ignoring_conflict, insert_statement, mapped, table_args
from msgen_runtime.tables import DEAD_LETTERS, INBOX

__all__ = [
    "AGE",
    "DEAD",
    "DUPLICATES",
    "FAILED",
    "PROCESSED",
    "Consumer",
    "DeadLetterMixin",
    "EventHandler",
    "InboxMessageMixin",
    "Subscription",
]

_tracer = trace.get_tracer("msgen_runtime.messaging")
_log = logging.getLogger("msgen.consumer")
PROCESSED = Counter("msgen_messages_processed_total", "Messages handled.", ["service", "topic"])
DUPLICATES = Counter("msgen_messages_duplicate_total", "Redelivered messages skipped.", ["service", "topic"])
FAILED = Counter("msgen_messages_failed_total", "Failed handling attempts.", ["service", "topic"])
DEAD = Counter("msgen_messages_dead_lettered_total", "Messages sent to the dead-letter topic.", ["service", "topic"])
AGE = Histogram(
    "msgen_message_age_seconds",
    "Time from publication to handling.",
    ["service", "topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)

EventHandler = Callable[[AsyncSession, Any], Awaitable[None]]


class InboxMessageMixin:
    """Columns of a service's inbox: the ids of messages already handled."""

    __table_args__ = table_args(INBOX)

    message_id: Mapped[str] = mapped(INBOX, "message_id")
    topic: Mapped[str] = mapped(INBOX, "topic")
    received_at: Mapped[datetime] = mapped(INBOX, "received_at")


class DeadLetterMixin:
    """Columns of a service's dead letters, for listing and replay."""

    __table_args__ = table_args(DEAD_LETTERS)

    id: Mapped[uuid.UUID] = mapped(DEAD_LETTERS, "id", default=uuid.uuid4)
    message_id: Mapped[str] = mapped(DEAD_LETTERS, "message_id")
    topic: Mapped[str] = mapped(DEAD_LETTERS, "topic")
    body: Mapped[bytes] = mapped(DEAD_LETTERS, "body")
    headers: Mapped[dict[str, str]] = mapped(DEAD_LETTERS, "headers")
    error: Mapped[str] = mapped(DEAD_LETTERS, "error")
    attempts: Mapped[int] = mapped(DEAD_LETTERS, "attempts")
    created_at: Mapped[datetime] = mapped(DEAD_LETTERS, "created_at")
    replayed_at: Mapped[datetime | None] = mapped(DEAD_LETTERS, "replayed_at")


@dataclass(frozen=True)
class Subscription:
    """A handler of one event, and whether its messages may share a transaction with others (`batch`).

    `batch=False`: each message in a transaction of its own, for a handler whose effects reach outside the
    database (a mail, a call): in a batch they would happen again when a later message of the batch fails
    and the batch's messages go one by one.
    """

    event: codec.EventType[Any]
    handler: EventHandler
    batch: bool = True


class Consumer:
    """Receives the messages of the subscribed topics and runs each handler at most once per message."""

    def __init__(
        self,
        *,
        service: str,
        sessions: async_sessionmaker[AsyncSession],
        inbox: type[InboxMessageMixin],
        dead_letters: type[DeadLetterMixin],
        broker: Broker,
        subscriptions: list[Subscription],
        attempts: int = 4,
        backoff: float = 0.05,
        registry: bool = False,
        batches: bool = True,
    ) -> None:
        self.service = service
        self.sessions = sessions
        self.inbox = inbox
        self.dead_letters = dead_letters
        self.broker = broker
        self.by_topic = {s.event.topic: s for s in subscriptions}
        self.attempts = attempts
        self.backoff = backoff
        self.registry = registry
        self.batches = batches  # several ready messages in one transaction (where the broker delivers batches)
        self._inbox_insert = insert_statement(inbox)

    def attach(self) -> None:
        for topic, subscription in self.by_topic.items():
            batch = self._batch_receiver(topic) if self.batches and subscription.batch else None
            self.broker.subscribe(topic, self.service, self._receiver(topic), batch=batch)

    def _receiver(self, topic: str) -> Callable[[bytes, dict[str, str]], Awaitable[None]]:
        async def receive(body: bytes, headers: dict[str, str]) -> None:
            await self.receive(topic, body, headers)

        return receive

    def _batch_receiver(self, topic: str) -> Callable[[Sequence[tuple[bytes, dict[str, str]]]], Awaitable[bool]]:
        async def receive_batch(messages: Sequence[tuple[bytes, dict[str, str]]]) -> bool:
            return await self.receive_batch(topic, messages)

        return receive_batch

    @staticmethod
    def _message_id(body: bytes, headers: dict[str, str]) -> str:
        return headers.get(codec.HEADER_MESSAGE_ID) or hashlib.sha256(body).hexdigest()

    @contextlib.contextmanager
    def _message_context(self, topic: str, message_id: str, headers: dict[str, str]) -> Iterator[None]:
        """The message's correlation id, and its CONSUMER span as the current trace context."""
        cid_token = correlation_id.set(headers.get(codec.HEADER_CORRELATION) or message_id)
        # The broker hop in the trace: a CONSUMER span, child of the PRODUCER span the outbox wrote into the headers.
        span = _tracer.start_span(
            f"receive {topic}",
            context=propagate.extract(headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.destination.name": topic, "messaging.message.id": message_id},
        )
        trace_token = otel_context.attach(trace.set_span_in_context(span))
        try:
            yield
        finally:
            otel_context.detach(trace_token)
            span.end()
            correlation_id.reset(cid_token)

    async def receive(
        self, topic: str, body: bytes, headers: dict[str, str], *, replaying: uuid.UUID | None = None
    ) -> str:
        """Handle one message; returns processed, duplicate or dead-lettered (`replaying`: that dead letter again)."""
        subscription = self.by_topic[topic]
        message_id = self._message_id(body, headers)
        with self._message_context(topic, message_id, headers):
            self._observe_age(topic, headers)
            try:
                payload = subscription.event.decode(body, registry=self.registry)
            except codec.DecodeError as exc:
                await self.dead_letter(topic, message_id, body, headers, str(exc), attempts=0, replaying=replaying)
                return "dead-lettered"
            error = ""
            for attempt in range(1, self.attempts + 1):
                try:
                    outcome = await self._handle_once(topic, message_id, payload, subscription.handler)
                    if outcome == "duplicate":
                        DUPLICATES.labels(self.service, topic).inc()
                    else:
                        PROCESSED.labels(self.service, topic).inc()
                    return outcome
                except Exception as exc:
                    FAILED.labels(self.service, topic).inc()
                    error = f"{type(exc).__name__}: {exc}"
                    _log.warning(
                        "message.failed",
                        extra={"topic": topic, "message_id": message_id, "attempt": attempt, "error": error},
                    )
                    if attempt < self.attempts:
                        await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
            await self.dead_letter(topic, message_id, body, headers, error, attempts=self.attempts, replaying=replaying)
            return "dead-lettered"

    async def _handle_once(self, topic: str, message_id: str, payload: BaseModel, handler: EventHandler) -> str:
        async with self.sessions() as session:
            try:  # a Core insert: cheaper than flushing an ORM object, and it fails the same way on a duplicate
                await session.execute(
                    self._inbox_insert, {"message_id": message_id, "topic": topic, "received_at": utcnow()}
                )
            except IntegrityError:
                await session.rollback()
                return "duplicate"
            await handler(session, payload)
            await session.commit()
        _log.info("message.processed", extra={"topic": topic, "message_id": message_id})
        return "processed"

    async def receive_batch(self, topic: str, messages: Sequence[tuple[bytes, dict[str, str]]]) -> bool:
        """Handle several messages of `topic` in one transaction, in the order given; True once it committed.

        One inbox insert for all of them (those already in the inbox are duplicates, skipped), each new
        message's handler in turn in the same session, one commit. False when nothing was kept: a message
        that cannot be decoded, a handler that raised, a failed commit (a deadlock, a saga state changed
        meanwhile). The caller then hands each message to `receive`, which retries and dead-letters it as
        it would a message alone; the batch's attempt counts as none of its attempts.
        """
        subscription = self.by_topic[topic]
        batch: list[tuple[str, dict[str, str], BaseModel]] = []
        for body, headers in messages:
            try:
                payload = subscription.event.decode(body, registry=self.registry)
            except codec.DecodeError:
                return False  # dead-lettered by `receive`, on its own
            batch.append((self._message_id(body, headers), headers, payload))
        for _message_id, headers, _payload in batch:
            self._observe_age(topic, headers)
        try:
            async with self.sessions() as session:
                fresh = await self._claim(session, topic, list(dict.fromkeys(m for m, _h, _p in batch)))
                handled: list[str] = []
                for message_id, headers, payload in batch:
                    if message_id not in fresh:
                        continue
                    fresh.discard(message_id)  # the same message twice in one batch: the second is a duplicate
                    with self._message_context(topic, message_id, headers):
                        await subscription.handler(session, payload)
                    handled.append(message_id)
                await session.commit()
        except Exception as exc:
            _log.info(
                "messages.batch_failed",
                extra={"topic": topic, "messages": len(batch), "error": f"{type(exc).__name__}: {exc}"},
            )
            return False
        PROCESSED.labels(self.service, topic).inc(len(handled))
        if len(batch) > len(handled):
            DUPLICATES.labels(self.service, topic).inc(len(batch) - len(handled))
        for message_id in handled:
            _log.info("message.processed", extra={"topic": topic, "message_id": message_id})
        return True

    async def _claim(self, session: AsyncSession, topic: str, message_ids: list[str]) -> set[str]:
        """Insert the inbox rows of `message_ids`; returns those that were not there yet (one statement).

        On PostgreSQL a row another transaction is inserting right now makes this wait for that
        transaction: committed, its message is a duplicate here; rolled back, it is ours.
        """
        now = utcnow()
        table: sa.Table = self.inbox.__table__  # type: ignore[attr-defined]
        statement = insert_ignoring_conflict(
            session.get_bind().dialect.name,
            table,
            [{"message_id": message_id, "topic": topic, "received_at": now} for message_id in message_ids],
        ).returning(table.c.message_id)
        return set((await session.execute(statement)).scalars())

    async def dead_letter(
        self,
        topic: str,
        message_id: str,
        body: bytes,
        headers: dict[str, str],
        error: str,
        *,
        attempts: int,
        replaying: uuid.UUID | None = None,
    ) -> None:
        """Publish to `<topic>.dlq` and keep a copy; raises if the broker is down, so the message is redelivered.

        A replayed dead letter that fails again stays the one dead letter: its attempts and error are updated,
        and nothing more goes to `<topic>.dlq`.
        """
        if replaying is not None:
            async with self.sessions() as session:
                d = self.dead_letters
                await session.execute(
                    sa.update(d).where(d.id == replaying).values(attempts=d.attempts + attempts, error=error[:4000])
                )
                await session.commit()
            _log.error(
                "message.replay_failed",
                extra={"topic": topic, "message_id": message_id, "dead_letter": str(replaying), "error": error},
            )
            return
        dlq_headers = {
            **headers,
            "dlq-error": error[:1000],
            "dlq-attempts": str(attempts),
            "dlq-consumer": self.service,
        }
        await self.broker.publish(f"{topic}.dlq", body, dlq_headers, headers.get(codec.HEADER_KEY))
        async with self.sessions() as session:
            session.add(
                self.dead_letters(  # type: ignore[call-arg]
                    message_id=message_id,
                    topic=topic,
                    body=body,
                    headers=headers,
                    error=error[:4000],
                    attempts=attempts,
                    created_at=utcnow(),
                )
            )
            await session.commit()
        DEAD.labels(self.service, topic).inc()
        _log.error("message.dead_lettered", extra={"topic": topic, "message_id": message_id, "error": error})

    def _observe_age(self, topic: str, headers: dict[str, str]) -> None:
        stamp = headers.get(codec.HEADER_TIMESTAMP)
        if stamp:
            with contextlib.suppress(ValueError):
                AGE.labels(self.service, topic).observe(
                    max((utcnow() - datetime.fromisoformat(stamp)).total_seconds(), 0)
                )

    async def replay(self, dead_letter_id: uuid.UUID) -> str:
        """Run a dead letter through its handler again (its inbox row never existed, so it can take effect)."""
        async with self.sessions() as session:
            letter = await session.get(self.dead_letters, dead_letter_id)
            if letter is None or letter.replayed_at is not None:
                return "unknown"
            topic, body, headers = letter.topic, letter.body, dict(letter.headers)
        outcome = await self.receive(topic, body, headers, replaying=dead_letter_id)
        if outcome != "dead-lettered":
            async with self.sessions() as session:
                letter = await session.get(self.dead_letters, dead_letter_id)
                if letter is not None:
                    letter.replayed_at = utcnow()
                    await session.commit()
        return outcome
