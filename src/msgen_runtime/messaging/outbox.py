"""The transactional outbox: an event is a row written in the business transaction, then relayed.

The relay publishes pending rows in id order within a partition (a hash of the
aggregate key), so each aggregate's events keep their order. On PostgreSQL each
partition is claimed with `SELECT ... FOR UPDATE SKIP LOCKED`, so several
replicas relay side by side without ever publishing one aggregate out of order.
A crash between publish and commit publishes again: consumers are idempotent.
A batch is published with pipelined acknowledgements: one chain per aggregate key,
each chain in id order, the chains side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
import zlib
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from asgi_correlation_id import correlation_id
from opentelemetry import propagate, trace
from prometheus_client import Counter, Gauge
from pydantic import BaseModel
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped

from msgen_runtime.entities import utcnow
from msgen_runtime.messaging import codec
from msgen_runtime.messaging.broker import Broker
from msgen_runtime.orm import insert_statement, mapped, table_args
from msgen_runtime.tables import OUTBOX, OUTBOX_PARTITIONS

__all__ = [
    "OLDEST",
    "PARTITIONS",
    "PENDING",
    "PUBLISHED",
    "PUBLISH_FAILURES",
    "OutboxMessageMixin",
    "OutboxPartitionMixin",
    "Relay",
    "message_headers",
    "partition_of",
    "stage",
    "staged",
]

PARTITIONS = 8
_tracer = trace.get_tracer("msgen_runtime.messaging")
_log = logging.getLogger("msgen.outbox")
PENDING = Gauge("msgen_outbox_pending", "Outbox rows not yet published.", ["service"])
OLDEST = Gauge("msgen_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row.", ["service"])
PUBLISHED = Counter("msgen_messages_published_total", "Events published by the outbox relay.", ["service", "topic"])
PUBLISH_FAILURES = Counter("msgen_outbox_publish_failures_total", "Failed attempts to publish.", ["service"])

# every partition, as SQL literals: `partition IN (0, 1, ...)` compiled once, no parameters to expand
_EVERY_PARTITION: list[sa.ColumnElement[Any]] = [sa.literal_column(str(p)) for p in range(PARTITIONS)]
_wakeup: asyncio.Event | None = None
_Row = tuple[int, str, bytes, dict[str, str], str | None]  # id, topic, bytes on the wire, headers, key


def _wake() -> None:
    if _wakeup is not None:
        _wakeup.set()


class OutboxMessageMixin:
    """Columns of a service's outbox table."""

    __table_args__ = table_args(OUTBOX)

    id: Mapped[int] = mapped(OUTBOX, "id")
    message_id: Mapped[str] = mapped(OUTBOX, "message_id")
    topic: Mapped[str] = mapped(OUTBOX, "topic")
    event: Mapped[str] = mapped(OUTBOX, "event")
    version: Mapped[int] = mapped(OUTBOX, "version")
    key: Mapped[str | None] = mapped(OUTBOX, "key")
    partition: Mapped[int] = mapped(OUTBOX, "partition")
    body: Mapped[bytes] = mapped(OUTBOX, "body")
    headers: Mapped[dict[str, str]] = mapped(OUTBOX, "headers")
    created_at: Mapped[datetime] = mapped(OUTBOX, "created_at")
    sent_at: Mapped[datetime | None] = mapped(OUTBOX, "sent_at")
    attempts: Mapped[int] = mapped(OUTBOX, "attempts", default=0)
    last_error: Mapped[str | None] = mapped(OUTBOX, "last_error")


class OutboxPartitionMixin:
    """One row per partition: the row a relay locks to own that partition for a batch."""

    __table_args__ = table_args(OUTBOX_PARTITIONS)

    partition: Mapped[int] = mapped(OUTBOX_PARTITIONS, "partition")


def partition_of(key: str | None, message_id: str) -> int:
    return zlib.crc32((key or message_id).encode()) % PARTITIONS


def message_headers(event: codec.EventType[Any], message_id: str, key: str | None) -> dict[str, str]:
    """Headers captured when the event is written: correlation and trace context of the business request."""
    headers = {
        codec.HEADER_EVENT: event.name,
        codec.HEADER_VERSION: str(event.version),
        codec.HEADER_MESSAGE_ID: message_id,
        codec.HEADER_TIMESTAMP: codec.now_iso(),
        "content-type": codec.CONTENT_TYPE,
    }
    if key is not None:
        headers[codec.HEADER_KEY] = key
    cid = correlation_id.get()
    if cid:
        headers[codec.HEADER_CORRELATION] = cid
    carrier: dict[str, str] = {}
    # The broker hop in the trace: a PRODUCER span for the write, whose context the consumers continue.
    with _tracer.start_as_current_span(
        f"publish {event.topic}",
        kind=trace.SpanKind.PRODUCER,
        attributes={"messaging.destination.name": event.topic, "messaging.message.id": message_id},
    ):
        propagate.inject(carrier)
    headers.update(carrier)
    return headers


async def stage(
    session: AsyncSession, model: type[OutboxMessageMixin], event: codec.EventType[Any], payload: BaseModel
) -> str:
    """Write `payload` as an outbox row in the session's transaction; returns its message id.

    A Core insert, executed at once: the ORM's unit of work (an object to track, a flush at commit)
    cost more CPU than the row itself, and nothing reads the row back through the session. What was
    staged in the session's current transaction stays known to `staged`.
    """
    message_id = str(uuid.uuid4())
    key = event.key_of(payload)
    await session.execute(
        insert_statement(model),
        {
            "message_id": message_id,
            "topic": event.topic,
            "event": event.name,
            "version": event.version,
            "key": key,
            "partition": partition_of(key, message_id),
            "body": event.encode(payload),
            "headers": message_headers(event, message_id, key),
            "created_at": utcnow(),
            "attempts": 0,
        },
    )
    transaction = session.sync_session.get_transaction()
    noted: tuple[Any, list[tuple[str, str | None, str]]] | None = session.info.get(_STAGED)
    if noted is None or noted[0] is not transaction:
        noted = session.info[_STAGED] = (transaction, [])
        sa_event.listen(session.sync_session, "after_commit", lambda _s: _wake(), once=True)
    noted[1].append((event.name, key, message_id))
    return message_id


def staged(session: AsyncSession, event: str, key: str | None) -> str | None:
    """The message id of `event` for `key` staged by `stage` in the session's current transaction, if any."""
    noted: tuple[Any, list[tuple[str, str | None, str]]] | None = session.info.get(_STAGED)
    if noted is None or noted[0] is not session.sync_session.get_transaction():
        return None
    for name, staged_key, message_id in noted[1]:
        if name == event and staged_key == key:
            return message_id
    return None


_STAGED = "msgen_outbox_staged"  # session.info: (the transaction, [(event, key, message id)]) of `stage`


class Relay:
    """Publishes pending outbox rows; runs as a task of the service process."""

    def __init__(
        self,
        *,
        service: str,
        sessions: async_sessionmaker[AsyncSession],
        model: type[OutboxMessageMixin],
        partitions: type[OutboxPartitionMixin],
        broker: Broker,
        batch: int = 100,
        poll_interval: float = 0.5,
        measure_every: float = 1.0,
        retention: timedelta = timedelta(hours=1),
        registry: codec.SchemaRegistry | None = None,
        event_types: dict[tuple[str, int], codec.EventType[Any]] | None = None,
    ) -> None:
        self.registry = registry
        self.event_types = event_types or {}
        self.service = service
        self.sessions = sessions
        self.model = model
        self.partitions = partitions
        self.broker = broker
        self.batch = batch
        self.poll_interval = poll_interval
        self.measure_every = measure_every  # the pending-rows gauges: how often the runtime measures them
        self.retention = retention
        self._stopping = False
        self._locking: bool | None = None
        # SQLite, in `run`: rows published but not yet marked sent, with when they went out; the next pass
        # marks them in the transaction that reads what is pending (see `_relay_unlocked`)
        self._unmarked: list[tuple[datetime, list[int]]] = []
        self._one_pass = asyncio.Lock()  # see `_pass`

    async def prepare(self) -> None:
        """Make sure every partition row exists (idempotent)."""
        async with self.sessions() as session:
            existing = set((await session.scalars(sa.select(self.partitions.partition))).all())
            for p in range(PARTITIONS):
                if p not in existing:
                    session.add(self.partitions(partition=p))  # type: ignore[call-arg]
            await session.commit()
            self._locking = session.get_bind().dialect.name == "postgresql"

    async def run(self) -> None:
        global _wakeup
        _wakeup = asyncio.Event()
        await self.prepare()
        backoff = 0.1
        last_cleanup = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            _wakeup.clear()
            try:
                published = await self._pass(defer=True)
                backoff = 0.1
            except Exception as exc:  # broker down, database restarting: retry with backoff
                PUBLISH_FAILURES.labels(self.service).inc()
                _log.warning("outbox.publish_failed", extra={"error": str(exc), "retry_in": backoff})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if loop.time() - last_cleanup > 60:
                await self._cleanup()
                last_cleanup = loop.time()
            # A partial batch emptied the outbox as it was when read; a commit since then has set the event
            # (cleared before the pass), so waiting now misses nothing and saves a pass that finds nothing.
            if published < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_wakeup.wait(), self.poll_interval)

        if self._unmarked:  # what the last pass published: marked now rather than published again at the next start
            with contextlib.suppress(Exception):
                async with self._one_pass, self.sessions() as session:
                    await self._mark_published(session, self._unmarked)
                    await session.commit()
                    self._unmarked = []

    def stop(self) -> None:
        self._stopping = True
        _wake()

    async def relay_once(self) -> int:
        """One pass over every partition; returns how many messages were published."""
        # The gauges are not measured here: the messaging runtime measures them on a timer of their own
        # (every `measure_every`), which also keeps them current while the broker is away; measuring after
        # passes too cost a query and a session per pass that found nothing, and one a second while busy.
        return await self._pass(defer=False)

    async def _pass(self, *, defer: bool) -> int:
        """One pass, never two at once (the loop's, and `relay_once` from a stopping service, which then marks
        what the loop's last pass published instead of reading those rows again)."""
        async with self._one_pass:
            return await (self._relay_locked() if self._locking else self._relay_unlocked(defer=defer))

    def _pending(self, partitions: Any) -> Any:
        m = self.model
        # Columns, not ORM objects: nothing is changed through them, and loading entities costs more CPU.
        # `partition IN (...)`: the pending index (partition, sent_at, id) is searched, not the whole table.
        return (
            sa.select(m.id, m.topic, m.event, m.version, m.key, m.body, m.headers)
            .where(m.partition.in_(partitions), m.sent_at.is_(None))
            .order_by(m.id)
            .limit(self.batch)
        )

    @functools.cached_property
    def _all_pending(self) -> Any:
        """`_pending` of every partition, built once: the partitions written into the SQL (`IN (0, 1, ...)`),
        so a pass neither builds the statement nor expands eight parameters again."""
        return self._pending(_EVERY_PARTITION)

    @functools.cached_property
    def _mark_one(self) -> Any:
        """The UPDATE marking one row sent (a pass that published one row: most passes), built once."""
        table = self.model.__table__  # type: ignore[attr-defined]
        return (
            sa.update(table)
            .where(table.c.id == sa.bindparam("ident"))
            .values(sent_at=sa.bindparam("at", type_=table.c.sent_at.type))
        )

    async def _relay_locked(self) -> int:
        """PostgreSQL: own every partition no other replica holds (row locks, SKIP LOCKED), in one transaction.

        One query claims the free partitions and one reads their pending rows, so a pass costs one
        transaction whatever the number of partitions; a replica that finds every partition taken
        publishes nothing this pass. The locks are held until the rows are marked sent.
        """
        async with self.sessions() as session:
            owned = list(
                await session.scalars(
                    sa.select(self.partitions.partition)
                    .order_by(self.partitions.partition)
                    .with_for_update(skip_locked=True)
                )
            )
            if not owned:
                return 0  # other replicas relay every partition right now
            rows = [
                (row.id, row.topic, await self._wire(row), dict(row.headers), row.key)
                for row in await session.execute(self._pending(owned))
            ]
            sent, failures = await self._publish(rows)
            await self._mark(session, sent)
            await self._record(session, failures)
            await session.commit()  # keep what was published, and the attempts
        if failures:
            raise failures[0][1]
        return len(sent)

    async def _relay_unlocked(self, *, defer: bool = False) -> int:
        """SQLite (one relay per database): no transaction is held while publishing.

        One query for every partition: rows in id order keep each partition's (each aggregate's)
        order, and the database connection, which the requests and consumers share, is asked once
        per pass instead of once per partition.

        With `defer` (the relay's own loop), what a pass published is marked sent by the next pass, in
        the transaction that reads what is pending: one transaction per pass instead of two. The next
        pass comes with the next commit, or after `poll_interval` when none comes, so a row stays
        unmarked that long at most; a crash meanwhile publishes it again, as a crash between publish
        and mark always could (consumers are idempotent). Marks go first, so a pass never reads a row it
        published.
        """
        unmarked, self._unmarked = self._unmarked, []
        try:
            async with self.sessions() as session:
                await self._mark_published(session, unmarked)
                rows = [
                    (row.id, row.topic, await self._wire(row), dict(row.headers), row.key)
                    for row in await session.execute(self._all_pending)
                ]
                if unmarked:
                    await session.commit()
        except BaseException:
            self._unmarked = unmarked + self._unmarked  # marked by a later pass
            raise
        published_at = utcnow()
        sent, failures = await self._publish(rows)
        if defer and sent and not failures:
            self._unmarked.append((published_at, sent))
        elif sent or failures:
            async with self.sessions() as session:
                await self._mark(session, sent)
                await self._record(session, failures)
                await session.commit()
        if failures:
            raise failures[0][1]
        return len(sent)

    async def _publish(self, rows: list[_Row]) -> tuple[list[int], list[tuple[int, Exception]]]:
        """Publish a batch with pipelined acks: one chain per aggregate key, the chains side by side.

        Within a key the rows go one after another in id order, each after the broker acknowledged the
        one before, so an aggregate's events keep their order; different keys do not wait for each
        other's acknowledgements. A failure stops its own chain only (the rest of that key stays
        pending, for the next pass); returns the ids published and the first failure of each chain.
        """
        chains: dict[str, list[_Row]] = {}
        for row in rows:
            chains.setdefault(row[4] if row[4] is not None else f"\x00{row[0]}", []).append(row)
        sent: list[int] = []
        failures: list[tuple[int, Exception]] = []

        async def chain(items: list[_Row]) -> None:
            for ident, topic, body, headers, key in items:
                try:
                    await self.broker.publish(topic, body, headers, key)
                except Exception as exc:
                    failures.append((ident, exc))
                    return
                sent.append(ident)
                PUBLISHED.labels(self.service, topic).inc()

        if len(chains) == 1:
            await chain(rows)
        else:
            await asyncio.gather(*(chain(items) for items in chains.values()))
        return sent, failures

    async def _record(self, session: AsyncSession, failures: list[tuple[int, Exception]]) -> None:
        m = self.model
        for ident, exc in failures:
            await session.execute(
                sa.update(m).where(m.id == ident).values(attempts=m.attempts + 1, last_error=str(exc)[:500])
            )

    async def _mark(self, session: AsyncSession, idents: list[int], at: datetime | None = None) -> None:
        """Mark rows sent: Core UPDATEs of the table (the ORM's bulk-update path only added CPU)."""
        if len(idents) == 1:
            await session.execute(self._mark_one, {"ident": idents[0], "at": at or utcnow()})
        elif idents:
            table = self.model.__table__  # type: ignore[attr-defined]
            await session.execute(sa.update(table).where(table.c.id.in_(idents)).values(sent_at=at or utcnow()))

    async def _mark_published(self, session: AsyncSession, passes: list[tuple[datetime, list[int]]]) -> None:
        """Mark what earlier passes published, each row with when its pass sent it."""
        for at, idents in passes:
            await self._mark(session, idents, at)

    async def _wire(self, row: Any) -> bytes:
        """The bytes on the wire: the Avro body, behind the registry's magic byte and schema id when configured."""
        body = bytes(row.body)
        if self.registry is None:
            return body
        schema_id = await self.registry.id_for(self.event_types[(row.event, row.version)])
        return b"\x00" + schema_id.to_bytes(4, "big") + body

    async def _measure(self) -> None:
        m = self.model
        async with self.sessions() as session:
            count, oldest = (
                await session.execute(
                    sa.select(sa.func.count(), sa.func.min(m.created_at)).where(
                        m.partition.in_(_EVERY_PARTITION), m.sent_at.is_(None)
                    )
                )
            ).one()
        PENDING.labels(self.service).set(count or 0)
        if oldest is not None and not isinstance(oldest, datetime):
            oldest = datetime.fromisoformat(str(oldest))
        age = (utcnow() - oldest.replace(tzinfo=oldest.tzinfo or utcnow().tzinfo)).total_seconds() if oldest else 0.0
        OLDEST.labels(self.service).set(max(age, 0.0))

    async def _cleanup(self) -> None:
        m = self.model
        async with self.sessions() as session:
            await session.execute(sa.delete(m).where(m.sent_at.is_not(None), m.sent_at < utcnow() - self.retention))
            await session.commit()
