"""Sagas orchestrated by one service: state in its database, steps triggered by events.

Each step waits for its success or failure event until its deadline. On a
failure or a timeout, the steps already done are compensated in reverse order:
the orchestrator publishes a compensation's trigger when it owns that event
(otherwise the failing step's own event triggers it) and waits for its `done`
event. The saga then ends with its on_success or on_failure event, and the
saga's entity gets the matching status, logged for the status stream.

A step's deadline counts from when its trigger was published: for a trigger the
orchestrator wrote to its outbox, from that row's `sent_at` (read when the first
deadline passes), so the relay's backlog never eats a step's time. A timeout is
decided once, under the state row's lock and its version (`updated_at`, checked by
every update: a reply committed meanwhile wins); a success arriving after the saga
failed never flips the outcome, it is compensated (the participants' ledgers,
`participant.py`, undo it on the saga's failure event).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, declared_attr
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from msgen_runtime import sse
from msgen_runtime.entities import utcnow
from msgen_runtime.http import DownstreamRefused
from msgen_runtime.idempotency import REPLAYED_HEADER
from msgen_runtime.messaging import codec
from msgen_runtime.messaging.outbox import OutboxMessageMixin, stage, staged
from msgen_runtime.middleware import answer_due
from msgen_runtime.orm import insert_statement, mapped, table_args
from msgen_runtime.prefer import PREFERENCE_APPLIED, preferred_wait
from msgen_runtime.tables import SAGA_STATES, STATUS_LOG

__all__ = [
    "EARLY",
    "EARLY_DONE",
    "FINISHED",
    "LATE",
    "TRIGGER",
    "EntityStatus",
    "SagaDefinition",
    "SagaStateMixin",
    "StatusLogMixin",
    "Step",
    "saga_handler",
    "settle",
    "status_events",
]

RUNNING, COMPENSATING, COMPLETED, FAILED = "RUNNING", "COMPENSATING", "COMPLETED", "FAILED"
EARLY = "__early_events__"  # context key: events that arrived before their step
# context key: the outbox message id of what the saga waits on, when the orchestrator published it; its
# deadline then counts from when the relay sent it, not from when it was written (the relay's backlog).
TRIGGER = "__trigger__"
LATE = "__late__"  # context key: steps whose success came after the saga had failed (compensated)
# context key: compensations' `done` events that arrived before the saga began compensating (a participant
# heard the failure event before the orchestrator did): not waited for again
EARLY_DONE = "__early_done__"
# The status streams of this process waiting on each entity: a commit of a status wakes the streams of
# that entity only. An event stays set until its stream re-reads, so a commit made while the stream
# was reading is never missed.
_watchers: dict[str, set[asyncio.Event]] = {}
# The creates of this process waiting (Prefer: wait) for a final status of each entity: woken by that only.
_final_watchers: dict[str, set[asyncio.Event]] = {}


def _status_committed(key: str, final: bool = False) -> None:
    for watcher in _watchers.get(key, ()):
        watcher.set()
    if final:
        for watcher in _final_watchers.get(key, ()):
            watcher.set()


STREAM_LIMIT = 300.0  # seconds a status stream stays open at most
_log = logging.getLogger("msgen.saga")
FINISHED = Counter("msgen_sagas_finished_total", "Sagas that ended.", ["saga", "outcome"])
WAITING = Gauge("msgen_prefer_waits", "Creates answered with Prefer: wait still waiting for their saga's final status.")
_WAIT_MARGIN = 0.2  # seconds kept, of the request's deadline, to read the entity and answer after the wait


class SagaStateMixin:
    """Columns of a service's saga_states table.

    `updated_at` is also the row's version: every UPDATE of a state says `WHERE updated_at = <the value
    read>`, and SQLAlchemy raises StaleDataError when another transaction changed the row in between.
    Row locks alone are not enough: SQLite ignores FOR UPDATE and, with more than one connection, a
    reader sees the state as it was before a writer's commit. The check needs no column of its own, so
    existing databases keep their schema.
    """

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # the application sets the new value (utcnow()) itself on every change of the state
        return {"version_id_col": cls.__table__.c.updated_at, "version_id_generator": False}  # type: ignore[attr-defined]

    __table_args__ = table_args(SAGA_STATES)

    saga: Mapped[str] = mapped(SAGA_STATES, "saga")
    key: Mapped[str] = mapped(SAGA_STATES, "key")
    status: Mapped[str] = mapped(SAGA_STATES, "status")
    step: Mapped[int] = mapped(SAGA_STATES, "step")
    done: Mapped[list[int]] = mapped(SAGA_STATES, "done")
    awaiting: Mapped[list[str]] = mapped(SAGA_STATES, "awaiting")
    context: Mapped[dict[str, Any]] = mapped(SAGA_STATES, "context")
    reason: Mapped[str | None] = mapped(SAGA_STATES, "reason")
    deadline: Mapped[datetime] = mapped(SAGA_STATES, "deadline")
    updated_at: Mapped[datetime] = mapped(SAGA_STATES, "updated_at")


class StatusLogMixin:
    """Every status an entity went through, in order (for the Server-Sent Events stream)."""

    __table_args__ = table_args(STATUS_LOG)

    id: Mapped[int] = mapped(STATUS_LOG, "id")
    entity_id: Mapped[str] = mapped(STATUS_LOG, "entity_id")
    status: Mapped[str] = mapped(STATUS_LOG, "status")
    cause: Mapped[str] = mapped(STATUS_LOG, "cause")
    at: Mapped[datetime] = mapped(STATUS_LOG, "at")


@dataclass(frozen=True)
class Step:
    name: str
    success: str
    failure: str | None
    timeout: float
    compensation_triggers: tuple[str, ...] = ()
    compensation_done: str | None = None
    status: str | None = None
    trigger: str = ""
    # a call step: the orchestrator calls the step's service with the saga's context, the answer is its result
    call: Callable[[dict[str, Any]], Awaitable[BaseModel]] | None = None
    publishes: tuple[str, ...] = ()  # events of the orchestrator published when the step succeeded
    records: tuple[tuple[str, str], ...] = ()  # (reply field, entity field) stored on the saga's entity


@dataclass(frozen=True)
class EntityStatus:
    """The orchestrator's entity the saga is about, and the statuses the saga gives it."""

    table: Any
    field: str
    started: str | None
    completed: str | None
    failed: str | None


@dataclass(frozen=True)
class SagaDefinition:
    name: str
    start: str
    key: str
    steps: tuple[Step, ...]
    on_success: str
    on_failure: str
    events: dict[str, codec.EventType[Any]]  # the events the orchestrator publishes
    state: type[SagaStateMixin]
    outbox: type[OutboxMessageMixin]
    status_log: type[StatusLogMixin] | None = None
    entity: EntityStatus | None = None
    listens: frozenset[str] = field(init=False)
    # step index -> the trigger the orchestrator publishes when that step begins (no earlier step published it)
    begins_with: dict[int, str] = field(init=False)
    # called after a commit that brought a saga to a call step: the messaging loop makes the call now
    wakers: list[Callable[[], None]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        names = {s.success for s in self.steps} | {s.failure for s in self.steps if s.failure}
        names |= {s.compensation_done for s in self.steps if s.compensation_done}
        object.__setattr__(self, "listens", frozenset(n for n in names if n))
        begins: dict[int, str] = {}
        for index, step in enumerate(self.steps):
            earlier = {name for s in self.steps[:index] for name in s.publishes}
            if index and step.trigger in self.events and step.trigger != self.start and step.trigger not in earlier:
                begins[index] = step.trigger
        object.__setattr__(self, "begins_with", begins)

    # -- transitions ---------------------------------------------------------------

    def _staged(self, session: AsyncSession, event: str, key: str) -> str | None:
        """The message id of `event` for `key` staged in this session's transaction, if any."""
        return staged(session, event, key)

    async def started(self, session: AsyncSession, payload: BaseModel) -> None:
        """Called in the transaction that publishes the start event."""
        data = payload.model_dump(mode="json")
        key = str(data[self.key])
        now = utcnow()
        trigger = self._staged(session, self.start, key)
        if trigger is not None:
            data[TRIGGER] = trigger
        # A Core insert, executed now: nothing in this transaction reads the state back, and an ORM object
        # flushed at commit cost more CPU than the row (a second start of the same key fails the same way).
        await session.execute(
            insert_statement(self.state),
            {
                "saga": self.name,
                "key": key,
                "status": RUNNING,
                "step": 0,
                "done": [],
                "awaiting": [],
                "context": data,
                "reason": None,
                "deadline": now + timedelta(seconds=self.steps[0].timeout),
                "updated_at": now,
            },
        )
        if self.entity and self.entity.started:
            await self._set_status(session, key, self.entity.started, self.start)
        if self.steps[0].call is not None:
            self._wake_after_commit(session)

    async def handle(self, session: AsyncSession, event: str, payload: BaseModel) -> bool:
        """Advance the saga the event belongs to; False when the event is not expected (ignored)."""
        # The state row is written once, when the transaction flushes at commit: the outbox and status
        # statements of a transition would otherwise autoflush its changes first, two UPDATEs per event.
        with session.no_autoflush:
            return await self._handle(session, event, payload)

    async def _handle(self, session: AsyncSession, event: str, payload: BaseModel) -> bool:
        data = payload.model_dump(mode="json")
        if self.key not in data:
            return False
        ident = (self.name, str(data[self.key]))
        # A state this transaction already holds (an earlier message of the same batch) is used as it is:
        # its lock is ours, and its changes are not flushed yet (no autoflush), so a second SELECT would
        # find the row's older version and fail the version check. Otherwise it is read under its lock.
        held = _held(session, self.state, ident)
        if held is not None and not sa.inspect(held).expired_attributes:
            state: SagaStateMixin | None = held
        else:
            state = await session.get(self.state, ident, with_for_update=True)
        if (
            state is not None
            and state.status in (FAILED, COMPENSATING)
            and await self._late_success(session, state, event, data)
        ):
            state.updated_at = utcnow()
            return True
        if state is None or state.status in (COMPLETED, FAILED):
            _log.info("saga.event_ignored", extra={"saga": self.name, "event": event, "key": data[self.key]})
            return False
        state.context = {**state.context, **data}
        later = {name for step in self.steps[state.step + 1 :] for name in (step.success, step.failure) if name}
        if state.status == RUNNING and event in later:
            # Events of different topics can overtake each other: keep it for when its step comes.
            state.context = {**state.context, EARLY: [*state.context.get(EARLY, []), event]}
            state.updated_at = utcnow()
            return True
        dones = {step.compensation_done for step in self.steps if step.compensation_done}
        if state.status == RUNNING and event in dones and event not in self._current_events(state):
            # a participant undid its step on the failure event before that event reached us: keep it
            state.context = {**state.context, EARLY_DONE: [*state.context.get(EARLY_DONE, []), event]}
            state.updated_at = utcnow()
            return True
        if state.status == RUNNING and event in self._current_events(state):
            await self._advance(session, state, event, data)
            while state.status == RUNNING and (early := self._early_for_current(state)):
                await self._advance(session, state, early, state.context)
        elif state.status == COMPENSATING and event in state.awaiting:
            remaining = list(state.awaiting)
            remaining.remove(event)
            state.awaiting = remaining
            if not remaining:
                await self._finish(session, state, FAILED, event)
        else:
            _log.info("saga.event_ignored", extra={"saga": self.name, "event": event, "key": state.key})
            return False
        state.updated_at = utcnow()
        return True

    async def _late_success(
        self, session: AsyncSession, state: SagaStateMixin, event: str, data: dict[str, Any]
    ) -> bool:
        """A step succeeded after the saga failed (a timeout decided it): undo that step, once.

        The outcome never flips. A compensation the saga's failure event triggers needs nothing here:
        the participant receives that event too and undoes the step itself (its ledger). A compensation
        triggered by a command of the orchestrator is published now.
        """
        index = next((i for i, step in enumerate(self.steps) if step.success == event), None)
        if index is None or index in state.done or index in state.context.get(LATE, []):
            return False
        step = self.steps[index]
        # the command undoing the step may need what its success carried (the booking's id)
        state.context = {**state.context, **data, LATE: [*state.context.get(LATE, []), index]}
        ours = [t for t in step.compensation_triggers if t in self.events and t != self.on_failure]
        _log.warning(
            "saga.late_success",
            extra={"saga": self.name, "key": state.key, "step": step.name, "compensated_by": ours or [self.on_failure]},
        )
        if ours:
            await self._publish(session, ours[0], state.context)
        elif self.on_failure not in step.compensation_triggers:
            _log.error("saga.cannot_compensate", extra={"saga": self.name, "key": state.key, "step": step.name})
        return True

    def _current_events(self, state: SagaStateMixin) -> set[str]:
        step = self.steps[state.step]
        return {name for name in (step.success, step.failure) if name}

    def _early_for_current(self, state: SagaStateMixin) -> str | None:
        early: list[str] = [str(name) for name in state.context.get(EARLY, [])]
        for name in early:
            if name in self._current_events(state):
                early.remove(name)
                state.context = {**state.context, EARLY: early}
                return name
        return None

    async def _advance(self, session: AsyncSession, state: SagaStateMixin, event: str, data: dict[str, Any]) -> None:
        current = self.steps[state.step]
        if event == current.success:
            await self._succeeded(session, state, event, data)
        else:
            await self._compensate(session, state, str(data.get("reason") or f"{current.name} failed"), event)

    async def _succeeded(self, session: AsyncSession, state: SagaStateMixin, cause: str, data: dict[str, Any]) -> None:
        """The current step succeeded (its success event, or its call's answer): record it, go on."""
        current = self.steps[state.step]
        state.done = [*state.done, state.step]
        await self._record(session, state.key, current, data)
        if current.status and self.entity:
            await self._set_status(session, state.key, current.status, cause)
        sent = {name: await self._publish(session, name, state.context) for name in current.publishes}
        if state.step + 1 == len(self.steps):
            await self._finish(session, state, COMPLETED, cause)
            return
        state.step += 1
        following = self.steps[state.step]
        # the next step's trigger is this event, which its participant receives now; or one we publish
        state.context = {k: v for k, v in state.context.items() if k != TRIGGER}
        state.deadline = utcnow() + timedelta(seconds=following.timeout)
        own = self.begins_with.get(state.step)
        if own is not None:
            sent[own] = await self._publish(session, own, state.context)
        if following.trigger in sent:  # its deadline counts from when the relay sends it
            state.context = {**state.context, TRIGGER: sent[following.trigger]}
        if following.call is not None:
            self._wake_after_commit(session)

    async def _record(self, session: AsyncSession, key: str, step: Step, data: dict[str, Any]) -> None:
        """Store the reply's fields named by the step's `records` on the saga's entity."""
        if not step.records or self.entity is None:
            return
        table = self.entity.table
        values = {
            target: _column_value(table, target, data[source]) for source, target in step.records if source in data
        }
        if values:
            with session.no_autoflush:
                await session.execute(
                    sa.update(table).where(table.id == uuid.UUID(key)).values({**values, "updated_at": utcnow()})
                )

    def _wake_after_commit(self, session: AsyncSession) -> None:
        def wake(_session: Any) -> None:
            for waker in list(self.wakers):
                waker()

        sa_event.listen(session.sync_session, "after_commit", wake, once=True)

    async def run_calls(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        """Make the calls of the sagas whose current step is a call; returns how many steps it decided."""
        calls = [index for index, step in enumerate(self.steps) if step.call is not None]
        if not calls:
            return 0
        async with sessions() as session:
            keys = list(
                await session.scalars(
                    sa.select(self.state.key).where(
                        self.state.saga == self.name, self.state.status == RUNNING, self.state.step.in_(calls)
                    )
                )
            )
        decided = 0
        for key in keys:
            try:
                decided += await self._call_one(sessions, key)
            except StaleDataError:  # something else changed the saga meanwhile: it decided
                _log.info("saga.call_superseded", extra={"saga": self.name, "key": key})
            except Exception:  # one saga's call must not stop the others'
                _log.exception("saga.call_failed", extra={"saga": self.name, "key": key})
        return decided

    async def _call_one(self, sessions: async_sessionmaker[AsyncSession], key: str) -> int:
        async with sessions() as session:
            state = await session.get(self.state, (self.name, key), with_for_update=True)
            if state is None or state.status != RUNNING or self.steps[state.step].call is None:
                return 0
            step = self.steps[state.step]
            assert step.call is not None
            try:
                reply = await step.call(dict(state.context))
            except DownstreamRefused as exc:  # a 4xx: the callee said no, the step failed
                _log.info("saga.call_refused", extra={"saga": self.name, "key": key, "step": step.name})
                await self._compensate(session, state, f"{step.name} refused: {exc.detail}", f"{step.name} refused")
            except Exception as exc:  # unavailable (or a reply we cannot read): again next round, until the deadline
                _log.warning(
                    "saga.call_unavailable", extra={"saga": self.name, "key": key, "step": step.name, "error": str(exc)}
                )
                return 0
            else:
                data = {k: v for k, v in reply.model_dump(mode="json").items() if k != self.key}
                state.context = {**state.context, **data}
                await self._succeeded(session, state, step.name, data)
                while state.status == RUNNING and (early := self._early_for_current(state)):
                    await self._advance(session, state, early, state.context)
            state.updated_at = utcnow()
            await session.commit()
            return 1

    async def expire(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        """Compensate (or end) sagas whose current step is past its deadline."""
        expired = 0
        async with sessions() as session:
            keys = list(
                await session.scalars(
                    sa.select(self.state.key).where(
                        self.state.saga == self.name,
                        self.state.status.in_((RUNNING, COMPENSATING)),
                        self.state.deadline < utcnow(),
                    )
                )
            )
        for key in keys:
            try:
                expired += await self._expire_one(sessions, key)
            except StaleDataError:  # a reply changed the state since we read it: it decided, not the clock
                _log.info("saga.expire_superseded", extra={"saga": self.name, "key": key})
            except Exception:  # one saga that cannot end must not stop the timeouts of the others
                _log.exception("saga.expire_failed", extra={"saga": self.name, "key": key})
        return expired

    async def _expire_one(self, sessions: async_sessionmaker[AsyncSession], key: str) -> int:
        async with sessions() as session:
            state = await session.get(self.state, (self.name, key), with_for_update=True)
            if state is None or state.deadline >= utcnow() or state.status not in (RUNNING, COMPENSATING):
                return 0
            rearmed = await self._rearmed(session, state)
            if not rearmed and state.status == RUNNING:
                await self._compensate(session, state, f"{self.steps[state.step].name} timed out", "timeout")
            elif not rearmed:
                await self._finish(session, state, FAILED, "timeout", note="compensation timed out")
            state.updated_at = utcnow()  # the row's version: a concurrent change makes this commit fail
            await session.commit()
            return 0 if rearmed else 1

    def _timeout(self, state: SagaStateMixin) -> float:
        if state.status == RUNNING:
            return self.steps[state.step].timeout
        return max(s.timeout for s in self.steps)

    async def _rearmed(self, session: AsyncSession, state: SagaStateMixin) -> bool:
        """Move the deadline to `sent + timeout` when the trigger we published went out late (or not yet)."""
        message_id = state.context.get(TRIGGER)
        if message_id is None:
            return False
        outbox = self.outbox
        sent = await session.execute(sa.select(outbox.sent_at).where(outbox.message_id == message_id))
        row = sent.first()
        now = utcnow()
        if row is not None and row.sent_at is None:  # still in the outbox: the step has not begun
            state.deadline = now + timedelta(seconds=self._timeout(state))
            return True
        state.context = {k: v for k, v in state.context.items() if k != TRIGGER}
        if row is not None and row.sent_at + timedelta(seconds=self._timeout(state)) > now:
            state.deadline = row.sent_at + timedelta(seconds=self._timeout(state))
            return True
        return False

    async def _compensate(self, session: AsyncSession, state: SagaStateMixin, reason: str, cause: str) -> None:
        state.reason = reason
        state.context = {k: v for k, v in state.context.items() if k != TRIGGER}  # the step's trigger is past
        waiting: list[str] = []
        early_done: list[str] = [str(name) for name in state.context.get(EARLY_DONE, [])]

        def wait_for(done: str) -> None:
            if done in early_done:  # already undone
                early_done.remove(done)
            else:
                waiting.append(done)

        ends_it = False
        for index in reversed(state.done):
            step = self.steps[index]
            ours = [t for t in step.compensation_triggers if t in self.events and t != self.on_failure]
            if not step.compensation_done:
                # nothing to wait for: a command of ours goes out now, the failure event or on_failure undoes it
                if ours:
                    await self._publish(session, ours[0], state.context)
                continue
            if ours:  # a command of ours: publish it and wait until the step is undone
                sent = await self._publish(session, ours[0], state.context)
                state.context = {**state.context, TRIGGER: sent}
                wait_for(step.compensation_done)
            elif cause in step.compensation_triggers:  # the failure event itself undoes the step
                wait_for(step.compensation_done)
            elif self.on_failure in step.compensation_triggers:
                ends_it = True  # the saga's own end (on_failure) undoes it: nothing to wait for
            else:
                _log.error("saga.cannot_compensate", extra={"saga": self.name, "key": state.key, "step": step.name})
        state.context = {**state.context, EARLY_DONE: early_done}
        if waiting and not ends_it:
            state.status = COMPENSATING
            state.awaiting = waiting
            state.deadline = utcnow() + timedelta(seconds=max(s.timeout for s in self.steps))
        else:
            await self._finish(session, state, FAILED, cause)

    async def _finish(
        self, session: AsyncSession, state: SagaStateMixin, outcome: str, cause: str, note: str = ""
    ) -> None:
        state.status = outcome
        ending = self.on_success if outcome == COMPLETED else self.on_failure
        context = dict(state.context)
        if outcome == FAILED:
            context.setdefault("reason", state.reason or note or cause)
            context["reason"] = state.reason or note or context["reason"]
        await self._publish(session, ending, context)
        if self.entity:
            status = self.entity.completed if outcome == COMPLETED else self.entity.failed
            if status:
                await self._set_status(session, state.key, status, ending)
        FINISHED.labels(self.name, outcome.lower()).inc()
        _log.info(
            "saga.finished", extra={"saga": self.name, "key": state.key, "outcome": outcome, "reason": state.reason}
        )

    async def _publish(self, session: AsyncSession, event: str, context: dict[str, Any]) -> str:
        event_type = self.events[event]
        fields = event_type.model.model_fields
        payload = event_type.model.model_validate({name: context[name] for name in fields if name in context})
        return await stage(session, self.outbox, event_type, payload)

    async def _set_status(self, session: AsyncSession, key: str, status: str, cause: str) -> None:
        """The entity's status and its status log row."""
        assert self.entity is not None
        field = self.entity.field
        held = _held(session, self.entity.table, uuid.UUID(key))
        if held is not None:
            # The entity is in this session (the create that starts the saga, a handler that loaded it): set
            # it there, flushed at commit, and nothing when it has the status already (the create's default).
            # Its own state is read, never loaded.
            if sa.inspect(held).dict.get(field) != status:
                setattr(held, field, status)
                held.updated_at = utcnow()
        else:
            # The state row's pending changes are flushed once, at commit: flushing them before this UPDATE
            # too (autoflush) wrote the state row twice per event.
            with session.no_autoflush:
                await session.execute(_status_update(self.entity.table, field), _status_values(key, status))
        if self.status_log is not None:
            # a Core insert: nothing reads the row back through the session, and flushing an object cost more
            await session.execute(
                insert_statement(self.status_log), {"entity_id": key, "status": status, "cause": cause, "at": utcnow()}
            )
            final = status in (self.entity.completed, self.entity.failed)
            sa_event.listen(session.sync_session, "after_commit", lambda _s: _status_committed(key, final), once=True)


def _held(session: AsyncSession, model: Any, ident: Any) -> Any:
    """The object of `model` with primary key `ident` this session holds already, or None (never loaded)."""
    return session.sync_session.identity_map.get(identity_key(model, ident))


@functools.cache
def _status_update(entity: Any, field: str) -> Any:
    """The UPDATE of an entity's status, built once per entity and reused (the values are parameters).

    A Core UPDATE of the table: the ORM's bulk-update path (synchronizing the session's objects) cost
    more CPU than the statement; it runs only when the session holds no object of that entity.
    """
    table = entity.__table__
    return (
        sa.update(table)
        .where(table.c.id == sa.bindparam("_ident"))
        .values({field: sa.bindparam("_status"), "updated_at": sa.bindparam("_at")})
    )


def _status_values(key: str, status: str) -> dict[str, Any]:
    return {"_ident": uuid.UUID(key), "_status": status, "_at": utcnow()}


def _column_value(table: Any, name: str, value: Any) -> Any:
    """A reply's JSON value as the entity's column takes it (Decimal, UUID, datetime...)."""
    try:
        python_type = table.__table__.c[name].type.python_type
    except (KeyError, NotImplementedError):
        return value
    try:
        return TypeAdapter(python_type).validate_python(value)
    except ValidationError:
        return value


class _StatusFeed:
    """One entity's status log from log id `after` on, read as columns; woken by this process's commits.

    Registered under the entity while open (`with`): `changed` is set by every commit of one of its
    statuses and cleared before each read, so a commit made while reading is never missed.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        log: type[StatusLogMixin],
        key: str,
        final: frozenset[str],
        after: int,
        *,
        final_only: bool = False,
    ) -> None:
        self.sessions = sessions
        self.log = log
        self.key = key
        self.final = final
        self.last = after
        self.changed = asyncio.Event()
        # woken only by a final status committed here (a create waiting for its saga's end, not its steps)
        self._registry = _final_watchers if final_only else _watchers

    def __enter__(self) -> _StatusFeed:
        self._registry.setdefault(self.key, set()).add(self.changed)
        return self

    def __exit__(self, *_: object) -> None:
        watchers = self._registry.get(self.key)
        if watchers is not None:
            watchers.discard(self.changed)
            if not watchers:
                del self._registry[self.key]

    async def read(self) -> tuple[list[tuple[str, str]], bool]:
        """The new statuses as (id, JSON data), up to the first final one; whether a final one came."""
        log = self.log
        self.changed.clear()  # before reading: a status committed from now on wakes the next wait
        async with self.sessions() as session:  # columns, not log objects: nothing to track in a session
            rows = (
                await session.execute(
                    sa.select(log.id, log.status, log.cause, log.at)
                    .where(log.entity_id == self.key, log.id > self.last)
                    .order_by(log.id)
                )
            ).all()
        out: list[tuple[str, str]] = []
        for row in rows:
            self.last = row.id
            out.append((str(row.id), json.dumps({"status": row.status, "cause": row.cause, "at": row.at.isoformat()})))
            if row.status in self.final:
                return out, True
        return out, False

    async def wait(self, seconds: float) -> None:
        """Until a status of the entity is committed here (or `changed` is set otherwise), `seconds` at most."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, seconds)):
                await self.changed.wait()


async def status_events(
    sessions: async_sessionmaker[AsyncSession],
    log: type[StatusLogMixin],
    key: str,
    *,
    final: frozenset[str],
    after: int = 0,
    poll: float = 1.0,
    limit: float = STREAM_LIMIT,
) -> AsyncIterator[dict[str, str]]:
    """Every status of one entity after log id `after`, in order, as SSE events (each with its log id as
    its `id`); ends after a final status (or `limit` seconds).

    The stream wakes when this process commits a status, and re-reads the log at least every `poll`
    seconds for statuses written by other replicas.
    """
    deadline = asyncio.get_running_loop().time() + limit
    with _StatusFeed(sessions, log, key, final, after) as feed:
        while asyncio.get_running_loop().time() < deadline:
            events, ended = await feed.read()
            for ident, data in events:
                yield {"event": "status", "id": ident, "data": data}
            if ended:
                return
            await feed.wait(poll)


class _StatusStream(Response):
    """The status stream as a plain ASGI response: sent from the request's task, no task group.

    Same wire format, headers and heartbeat as sse_starlette's stream. The client's disconnect is
    watched (one task) only once the stream has to wait for a status; it ends the stream at once.
    The stream also ends after a final status, after `limit` seconds, and when the server shuts down
    (seen at the next poll).
    """

    media_type = "text/event-stream"

    def __init__(self, feed: _StatusFeed, *, poll: float, limit: float) -> None:
        self.feed = feed
        self.poll = poll
        self.limit = limit
        self.status_code = 200
        self.background = None
        self.init_headers(sse.HEADERS)  # no body: no Content-Length

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limit
        last_send = loop.time()
        feed = self.feed
        client = sse.ClientGone(receive, feed.changed.set)
        try:
            with feed:
                while True:
                    events, ended = await feed.read()
                    if events or ended:
                        body = b"".join(sse.event("status", ident, data) for ident, data in events)
                        await send({"type": "http.response.body", "body": body, "more_body": not ended})
                        if ended:
                            return
                        last_send = loop.time()
                    now = loop.time()
                    if client.gone or now >= deadline or sse.shutting_down():
                        break
                    if now - last_send >= sse.HEARTBEAT:
                        await send({"type": "http.response.body", "body": sse.heartbeat(), "more_body": True})
                        last_send = now
                    client.start()
                    await feed.wait(min(self.poll, deadline - now, sse.HEARTBEAT - (now - last_send)))
                    if client.gone:
                        break
        finally:
            await client.stop()
        if not client.gone:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def resume_after(last_event_id: str | None) -> int:
    """The status-log id a reconnecting client last received (its `Last-Event-ID`); 0 when none or not an id."""
    if last_event_id and last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) <= 18:
        return int(last_event_id)
    return 0


async def status_stream(
    sessions: async_sessionmaker[AsyncSession],
    log: type[StatusLogMixin],
    key: str,
    *,
    final: frozenset[str],
    last_event_id: str | None = None,
    poll: float = 1.0,
    limit: float = STREAM_LIMIT,
) -> Response:
    """The answer to GET .../{id}/events: the statuses as Server-Sent Events, from the first one the client
    has not seen (`Last-Event-ID`, which a browser's EventSource sends when it reconnects).

    A client that already received a final status gets 204, which tells an EventSource to stop
    reconnecting.
    """
    after = resume_after(last_event_id)
    if after:
        async with sessions() as session:
            seen_final = await session.scalar(
                sa.select(log.id).where(log.entity_id == key, log.id <= after, log.status.in_(final)).limit(1)
            )
        if seen_final is not None:
            return Response(status_code=204)
    return _StatusStream(_StatusFeed(sessions, log, key, final, after), poll=poll, limit=limit)


async def _final_within(
    feed: _StatusFeed, seconds: float, receive: Any, poll: float, *, read_first: bool = True
) -> bool | None:
    """Whether the feed reached a final status within `seconds`; None when the client left first.

    `feed` is woken only by a final status this process commits (`final_only`): that needs no read of the
    log. The log is read at first (unless not `read_first`: an entity created a moment ago, whose saga
    cannot have ended yet) and every `poll` seconds (a status another replica wrote).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    client = sse.ClientGone(receive, feed.changed.set)
    WAITING.inc()
    try:
        with feed:
            ended = read_first and (await feed.read())[1]
            while True:
                if ended:
                    return True
                now = loop.time()
                if client.gone:
                    return None
                if now >= deadline or sse.shutting_down():
                    return False
                client.start()
                await feed.wait(min(poll, deadline - now))
                if client.gone:
                    return None
                # woken by a final status of the entity committed here; otherwise the poll: read the log
                ended = feed.changed.is_set() or (await feed.read())[1]
    finally:
        await client.stop()
        WAITING.dec()


async def settle(
    request: Request,
    accepted: Response,
    prefer: str | None,
    *,
    entity: Any,
    read: type[BaseModel],
    log: type[StatusLogMixin],
    final: frozenset[str],
    poll: float = 1.0,
) -> Response:
    """The answer to a create that starts a saga, given RFC 7240's `Prefer: wait=N`.

    Without the preference (or when `accepted` is not the 202 of a created entity) the answer is
    `accepted` as it is. With it, the entity's status is followed the way its status stream follows it
    (this process's commits wake it, other replicas' are read every `poll` seconds) for N seconds at
    most, and no longer than the request's deadline allows (the service's request timeout, less when
    the gateway gives less). A final status within that time answers 201 with the entity as it reads
    then (and `Location`); otherwise `accepted` goes out as it would have. Both say
    `Preference-Applied: wait=<seconds waited at most>`. `accepted` may be an idempotent replay: the
    replay waits the same way and answers from the entity as it is now (with `Idempotent-Replayed`).
    A client that leaves while waiting ends the wait at once.
    """
    asked = preferred_wait(prefer)
    if asked is None or accepted.status_code != 202:
        return accepted
    try:
        key = str(uuid.UUID(str(json.loads(bytes(accepted.body))["id"])))
    except (ValueError, KeyError, TypeError):
        return accepted
    loop = asyncio.get_running_loop()
    bound = asked
    due = answer_due()
    if due is not None:
        bound = min(bound, due - loop.time() - _WAIT_MARGIN)
    bound = max(0.0, bound)
    applied = f"wait={math.floor(bound)}"
    sessions = request.app.state.database.sessions
    feed = _StatusFeed(sessions, log, key, final, 0, final_only=True)
    if bound > 0:
        # A create answered now (not a replay): its saga started in the transaction just committed, and
        # cannot have ended before the feed is registered, so the log is not read first (the poll would
        # still see an end that came between).
        replayed = REPLAYED_HEADER in accepted.headers  # headers compare their names case-insensitively
        reached = await _final_within(feed, bound, request.receive, poll, read_first=replayed)
        if reached is None:  # the client left: nobody reads the answer
            return accepted
    else:  # no time to wait: final already, or not
        _events, reached = await feed.read()
    if not reached:
        accepted.headers[PREFERENCE_APPLIED] = applied
        return accepted
    async with sessions() as session:
        row = await session.get(entity, uuid.UUID(key))
        body = read.model_validate(row).model_dump(mode="json") if row is not None else None
    if body is None:  # deleted meanwhile: the accepted answer still holds
        accepted.headers[PREFERENCE_APPLIED] = applied
        return accepted
    headers = {name: value for name, value in accepted.headers.items() if name.lower() in _KEPT_HEADERS}
    headers[PREFERENCE_APPLIED] = applied
    return JSONResponse(body, status_code=201, headers=headers)


_KEPT_HEADERS = frozenset({"location", "idempotent-replayed"})


def saga_handler(saga: SagaDefinition, event: str) -> Callable[[AsyncSession, BaseModel], Awaitable[None]]:
    """A consumer handler that advances `saga` with `event`."""

    async def handle(session: AsyncSession, payload: BaseModel) -> None:
        await saga.handle(session, event, payload)

    return handle
