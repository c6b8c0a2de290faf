"""Events of the notification service: payload models and Avro types (generated from the spec).

The schemas are those of contracts/avro/. Publish with `await publish(session, Event(...))`:
the event is written to the outbox in your transaction and relayed after the commit.
"""

from typing import Annotated
from uuid import UUID

from msgen_runtime.messaging.codec import EventType
from msgen_runtime.schemas import EventPayload
from msgen_runtime.types import Email
from pydantic import Field


class OrderConfirmed(EventPayload):
    """order.confirmed v1: Published by order when order confirmed."""

    order_id: UUID
    user_id: UUID
    email: Email


class OrderCancelled(EventPayload):
    """order.cancelled v1: Published by order when order cancelled."""

    order_id: UUID
    user_id: UUID
    email: Email
    reason: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]


ORDER_CONFIRMED = EventType(
    name="order.confirmed",
    version=1,
    model=OrderConfirmed,
    key="order_id",
    schema={
        "type": "record",
        "name": "OrderConfirmed",
        "namespace": "shop.events",
        "doc": "Published by order when order confirmed.",
        "fields": [
            {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "user_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "email", "type": "string"},
        ],
        "msgen.event": "order.confirmed",
        "msgen.version": 1,
    },
)
ORDER_CANCELLED = EventType(
    name="order.cancelled",
    version=1,
    model=OrderCancelled,
    key="order_id",
    schema={
        "type": "record",
        "name": "OrderCancelled",
        "namespace": "shop.events",
        "doc": "Published by order when order cancelled.",
        "fields": [
            {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "user_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "email", "type": "string"},
            {"name": "reason", "type": "string"},
        ],
        "msgen.event": "order.cancelled",
        "msgen.version": 1,
    },
)
