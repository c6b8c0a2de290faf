"""Messaging inside a service process: the broker connection, the outbox relay, consumers, saga timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from prometheus_client import Gauge

from msgen_runtime.db import Database
from msgen_runtime.messaging.broker import Broker, default_broker_url, make_broker
from msgen_runtime.messaging.codec import EventType, SchemaRegistry
from msgen_runtime.messaging.consumer import Consumer, DeadLetterMixin, InboxMessageMixin, Subscription
from msgen_runtime.messaging.outbox import OutboxMessageMixin, OutboxPartitionMixin, Relay
from msgen_runtime.messaging.saga import SagaDefinition
from msgen_runtime.problems import NotFound

__all__ = ["LAG", "READY_CACHE_SECONDS", "READY_TIMEOUT_SECONDS", "Messaging", "MessagingConfig"]

LAG = Gauge(
    "msgen_consumer_lag_messages", "Messages waiting for this consumer (where the broker tells).", ["service", "topic"]
)
_log = logging.getLogger("msgen.messaging")
READY_CACHE_SECONDS = 0.5
READY_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class MessagingConfig:
    """What a generated service publishes and consumes (built by its messaging.py)."""

    system: str
    default_broker: str
    topics: Sequence[str]  # every topic of the system, for the NATS stream
    outbox: type[OutboxMessageMixin] | None = None
    partitions: type[OutboxPartitionMixin] | None = None
    inbox: type[InboxMessageMixin] | None = None
    dead_letters: type[DeadLetterMixin] | None = None
    subscriptions: Sequence[Subscription] = ()
    published: Sequence[EventType[Any]] = ()
    sagas: Sequence[SagaDefinition] = field(default_factory=tuple)


class Messaging:
    def __init__(
        self,
        config: MessagingConfig,
        *,
        service: str,
        broker_url: str | None,
        database: Database,
        registry_url: str | None = None,
        attempts: int = 5,
        backoff: float = 0.1,
    ) -> None:
        self.config = config
        self.service = service
        self.url = broker_url or default_broker_url(config.default_broker)
        self.database = database
        self.broker: Broker = make_broker(self.url, system=config.system, topics=config.topics)
        self.relay: Relay | None = None
        self.consumer: Consumer | None = None
        if config.outbox is not None and config.partitions is not None:
            self.relay = Relay(
                service=service,
                sessions=database.sessions,
                model=config.outbox,
                partitions=config.partitions,
                broker=self.broker,
                registry=SchemaRegistry(registry_url) if registry_url else None,
                event_types={(e.name, e.version): e for e in config.published},
            )
        if config.subscriptions and config.inbox is not None and config.dead_letters is not None:
            self.consumer = Consumer(
                service=service,
                sessions=database.sessions,
                inbox=config.inbox,
                dead_letters=config.dead_letters,
                broker=self.broker,
                subscriptions=list(config.subscriptions),
                registry=registry_url is not None,
                attempts=attempts,
                backoff=backoff,
            )
            self.consumer.attach()
        self.connected = False
        self._stopping = False
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ready_at = float("-inf")  # when the live connection was last asked
        self._ready = False

    async def start(self) -> None:
        """Connect in the background (the API stays up while the broker is away) and start the loops."""
        self._tasks.append(asyncio.create_task(self._connect()))
        if self.relay is not None:
            self._tasks.append(asyncio.create_task(self._measure_outbox()))
        if self.config.sagas:
            self._tasks.append(asyncio.create_task(self._expire_sagas()))

    async def _connect(self) -> None:
        delay = 0.2
        while True:
            try:
                await self.broker.start()
                break
            except asyncio.CancelledError:
                # stop() while connecting: what the start opened (connection, pull loops) closes too
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                raise
            except Exception as exc:
                if self._stopping:  # a cancellation the client turned into an error
                    return
                _log.warning("broker.unreachable", extra={"url": self.url, "error": str(exc), "retry_in": delay})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.connected = True
        if self._stopping:
            # The client swallowed stop()'s cancellation inside its start: start no loop stop() would not see.
            return
        _log.info("broker.connected", extra={"broker": self.broker.kind})
        if self.relay is not None:
            self._tasks.append(asyncio.create_task(self.relay.run()))
        if self.consumer is not None:
            self._tasks.append(asyncio.create_task(self._measure_lag()))

    async def ready(self) -> bool:
        """Whether the broker connection is up now: asked of the live connection, at most every half second."""
        if not self.connected:
            return False
        loop = asyncio.get_running_loop()
        if loop.time() - self._ready_at >= READY_CACHE_SECONDS:
            self._ready = await self._ping()
            self._ready_at = loop.time()
        return self._ready

    async def _ping(self) -> bool:
        try:
            return await self.broker.alive(READY_TIMEOUT_SECONDS)  # a round trip, not a flag of the client
        except Exception:
            return False

    async def _measure_outbox(self) -> None:
        """The outbox gauges on their own timer: current while the broker is away and nothing is published."""
        assert self.relay is not None
        while not self._stopping:
            try:
                await self.relay._measure()
            except Exception:  # the table before migrations, a database restart: measure again later
                _log.debug("outbox.measure_failed", exc_info=True)
            await self._pause(self.relay.measure_every)

    async def stop(self) -> None:
        """Flush the outbox once more, then close the broker (in-flight handlers finish first)."""
        self._stopping = True
        self._stop.set()
        if self.relay is not None:
            self.relay.stop()
            if self.connected:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.relay.relay_once(), 5)
        # Until none is left: a connection that completes meanwhile may have started a loop.
        while pending := [task for task in self._tasks if not task.done()]:
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks.clear()
        if self.connected:
            with contextlib.suppress(Exception):
                await self.broker.stop()

    async def _pause(self, seconds: float) -> None:
        """Sleep between two rounds of a loop, or less when stop() begins.

        The loops end on `_stopping`, not only on cancellation: the broker's client may swallow a
        cancellation (nats-py turns one into ConnectionClosedError), and a loop that went on would
        keep stop() waiting for ever.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _expire_sagas(self) -> None:
        """Each second, or as soon as a saga reaches a call step: make the calls due, end the steps past due."""
        due = asyncio.Event()
        for saga in self.config.sagas:
            saga.wakers.append(due.set)
        try:
            while not self._stopping:
                due.clear()  # before the round: a call step reached meanwhile wakes the next one
                for saga in self.config.sagas:
                    try:
                        await saga.run_calls(self.database.sessions)
                    except Exception:
                        _log.warning("saga.calls_failed", exc_info=True)
                    try:
                        await saga.expire(self.database.sessions)
                    except Exception:
                        _log.warning("saga.expire_failed", exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(self._stop, due), 1.0)
        finally:
            for saga in self.config.sagas:
                with contextlib.suppress(ValueError):
                    saga.wakers.remove(due.set)

    async def _measure_lag(self) -> None:
        assert self.consumer is not None
        while not self._stopping:
            for topic in self.consumer.by_topic:
                lag = await self.broker.lag(topic, self.service)
                if lag is not None:
                    LAG.labels(self.service, topic).set(lag)
            await self._pause(5.0)

    def admin_router(self, token: str | None = None) -> APIRouter:
        """/admin/dead-letters: list them, replay one (what `msgen dlq` calls); behind `token` when given."""
        from msgen_runtime.admin import require_token

        router = APIRouter(
            prefix="/admin", tags=["admin"], include_in_schema=False, dependencies=[require_token(token)]
        )
        consumer = self.consumer
        dead_letters = self.config.dead_letters

        @router.get("/dead-letters")
        async def list_dead_letters(request: Request) -> list[dict[str, Any]]:
            if dead_letters is None:
                return []
            async with self.database.sessions() as session:
                rows = await session.scalars(
                    sa.select(dead_letters).where(dead_letters.replayed_at.is_(None)).order_by(dead_letters.created_at)
                )
                return [
                    {
                        "id": str(row.id),
                        "topic": row.topic,
                        "message_id": row.message_id,
                        "error": row.error,
                        "attempts": row.attempts,
                        "created_at": row.created_at.isoformat(),
                        "event": row.headers.get("event"),
                    }
                    for row in rows
                ]

        @router.post("/dead-letters/{ident}/replay")
        async def replay(ident: uuid.UUID) -> dict[str, str]:
            if consumer is None:
                raise NotFound("dead letter", ident)
            outcome = await consumer.replay(ident)
            if outcome == "unknown":
                raise NotFound("dead letter", ident)
            return {"id": str(ident), "outcome": outcome}

        sagas = self.config.sagas

        @router.get("/sagas")
        async def list_sagas(limit: int = 100) -> list[dict[str, Any]]:
            """The latest instances of the sagas this service runs, each with its status timeline (msgen up's dashboard)."""
            limit = max(1, min(limit, 500))
            found: list[dict[str, Any]] = []
            async with self.database.sessions() as session:
                for saga in sagas:
                    state = saga.state
                    rows = await session.scalars(
                        sa.select(state).where(state.saga == saga.name).order_by(state.updated_at.desc()).limit(limit)
                    )
                    for row in rows:
                        found.append(
                            {
                                "saga": row.saga,
                                "key": row.key,
                                "status": row.status,
                                "step": saga.steps[row.step].name if 0 <= row.step < len(saga.steps) else None,
                                "steps": [step.name for step in saga.steps],
                                "done": list(row.done),
                                "awaiting": list(row.awaiting),
                                "reason": row.reason,
                                "deadline": row.deadline.isoformat(),
                                "updated_at": row.updated_at.isoformat(),
                                "timeline": [],
                            }
                        )
                    log = saga.status_log
                    keys = [item["key"] for item in found if item["saga"] == saga.name]
                    if log is not None and keys:
                        entries = await session.scalars(sa.select(log).where(log.entity_id.in_(keys)).order_by(log.id))
                        by_key = {item["key"]: item for item in found if item["saga"] == saga.name}
                        for entry in entries:
                            by_key[entry.entity_id]["timeline"].append(
                                {"status": entry.status, "cause": entry.cause, "at": entry.at.isoformat()}
                            )
            found.sort(key=lambda item: item["updated_at"], reverse=True)
            return found[:limit]

        return router


async def _first(*events: asyncio.Event) -> None:
    """Return when any of `events` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
