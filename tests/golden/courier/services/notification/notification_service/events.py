"""Events of the notification service: payload models and Avro types (generated from the spec).

The schemas are those of contracts/avro/. Publish with `await publish(session, Event(...))`:
the event is written to the outbox in your transaction and relayed after the commit.
"""

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from msgen_runtime.messaging.codec import EventType
from msgen_runtime.schemas import EventPayload
from pydantic import Field


class DeliveryScheduled(EventPayload):
    """delivery.scheduled v1: Published by dispatch when delivery scheduled."""

    delivery_id: UUID
    customer_id: UUID
    courier_id: UUID
    fee: Annotated[Decimal, Field(decimal_places=2, max_digits=10)]


class DeliveryCancelled(EventPayload):
    """delivery.cancelled v1: Published by dispatch when delivery cancelled."""

    delivery_id: UUID
    customer_id: UUID
    reason: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]


DELIVERY_SCHEDULED = EventType(
    name="delivery.scheduled",
    version=1,
    model=DeliveryScheduled,
    key="delivery_id",
    schema={
        "type": "record",
        "name": "DeliveryScheduled",
        "namespace": "courier.events",
        "doc": "Published by dispatch when delivery scheduled.",
        "fields": [
            {"name": "delivery_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "customer_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "courier_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "fee", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        ],
        "msgen.event": "delivery.scheduled",
        "msgen.version": 1,
    },
)
DELIVERY_CANCELLED = EventType(
    name="delivery.cancelled",
    version=1,
    model=DeliveryCancelled,
    key="delivery_id",
    schema={
        "type": "record",
        "name": "DeliveryCancelled",
        "namespace": "courier.events",
        "doc": "Published by dispatch when delivery cancelled.",
        "fields": [
            {"name": "delivery_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "customer_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "reason", "type": "string"},
        ],
        "msgen.event": "delivery.cancelled",
        "msgen.version": 1,
    },
)
