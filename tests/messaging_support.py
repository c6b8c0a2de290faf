"""The tables and the event the messaging tests share: an outbox, its partitions, an inbox, dead letters, a ping."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlalchemy.orm import DeclarativeBase

from msgen_runtime.messaging.codec import EventType
from msgen_runtime.messaging.consumer import DeadLetterMixin, InboxMessageMixin
from msgen_runtime.messaging.outbox import OutboxMessageMixin, OutboxPartitionMixin


class BusBase(DeclarativeBase):
    pass


class Outbox(OutboxMessageMixin, BusBase):
    __tablename__ = "outbox"


class Partition(OutboxPartitionMixin, BusBase):
    __tablename__ = "outbox_partitions"


class Inbox(InboxMessageMixin, BusBase):
    __tablename__ = "inbox"


class Dead(DeadLetterMixin, BusBase):
    __tablename__ = "dead_letters"


class Ping(BaseModel):
    ping_id: uuid.UUID
    n: int


def ping_event(name: str) -> EventType[Ping]:
    """An event named `name` (its topic too), keyed by ping_id, so each test can have a topic of its own."""
    return EventType(
        name=name,
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
