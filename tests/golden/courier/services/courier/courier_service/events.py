"""Events of the courier service: payload models and Avro types (generated from the spec).

The schemas are those of contracts/avro/. Publish with `await publish(session, Event(...))`:
the event is written to the outbox in your transaction and relayed after the commit.
"""

from typing import Annotated
from uuid import UUID

from msgen_runtime.messaging.codec import EventType
from msgen_runtime.messaging.outbox import stage
from msgen_runtime.messaging.participant import Participant
from msgen_runtime.schemas import EventPayload
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from courier_service.models import OutboxMessage, SagaStep
from courier_service.schemas import Location


class DeliveryPriced(EventPayload):
    """delivery.priced v1: Published by dispatch when delivery priced."""

    delivery_id: UUID
    pickup: Location
    dropoff: Location
    express: bool


class CourierAssigned(EventPayload):
    """courier.assigned v1: Published by courier when courier assigned."""

    delivery_id: UUID
    assignment_id: UUID
    courier_id: UUID


class CourierUnavailable(EventPayload):
    """courier.unavailable v1: Published by courier when courier unavailable."""

    delivery_id: UUID
    reason: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]


class ChargeDeclined(EventPayload):
    """charge.declined v1: Published by billing when charge declined."""

    delivery_id: UUID
    reason: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]


class CourierSuspended(EventPayload):
    """courier.suspended v1: Published by courier when courier suspended."""

    courier_id: UUID
    name: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]
    status: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]


class DeliveryCancelled(EventPayload):
    """delivery.cancelled v1: Published by dispatch when delivery cancelled."""

    delivery_id: UUID
    customer_id: UUID
    reason: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]


DELIVERY_PRICED = EventType(
    name="delivery.priced",
    version=1,
    model=DeliveryPriced,
    key="delivery_id",
    schema={
        "type": "record",
        "name": "DeliveryPriced",
        "namespace": "courier.events",
        "doc": "Published by dispatch when delivery priced.",
        "fields": [
            {"name": "delivery_id", "type": {"type": "string", "logicalType": "uuid"}},
            {
                "name": "pickup",
                "type": {
                    "type": "record",
                    "name": "Location",
                    "fields": [
                        {
                            "name": "lat",
                            "type": {"type": "bytes", "logicalType": "decimal", "precision": 8, "scale": 6},
                        },
                        {
                            "name": "lng",
                            "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 6},
                        },
                        {"name": "label", "type": ["null", "string"], "default": None},
                    ],
                },
            },
            {"name": "dropoff", "type": "Location"},
            {"name": "express", "type": "boolean"},
        ],
        "msgen.event": "delivery.priced",
        "msgen.version": 1,
    },
)
COURIER_ASSIGNED = EventType(
    name="courier.assigned",
    version=1,
    model=CourierAssigned,
    key="delivery_id",
    schema={
        "type": "record",
        "name": "CourierAssigned",
        "namespace": "courier.events",
        "doc": "Published by courier when courier assigned.",
        "fields": [
            {"name": "delivery_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "assignment_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "courier_id", "type": {"type": "string", "logicalType": "uuid"}},
        ],
        "msgen.event": "courier.assigned",
        "msgen.version": 1,
    },
)
COURIER_UNAVAILABLE = EventType(
    name="courier.unavailable",
    version=1,
    model=CourierUnavailable,
    key="delivery_id",
    schema={
        "type": "record",
        "name": "CourierUnavailable",
        "namespace": "courier.events",
        "doc": "Published by courier when courier unavailable.",
        "fields": [
            {"name": "delivery_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "reason", "type": "string"},
        ],
        "msgen.event": "courier.unavailable",
        "msgen.version": 1,
    },
)
CHARGE_DECLINED = EventType(
    name="charge.declined",
    version=1,
    model=ChargeDeclined,
    key="delivery_id",
    schema={
        "type": "record",
        "name": "ChargeDeclined",
        "namespace": "courier.events",
        "doc": "Published by billing when charge declined.",
        "fields": [
            {"name": "delivery_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "reason", "type": "string"},
        ],
        "msgen.event": "charge.declined",
        "msgen.version": 1,
    },
)
COURIER_SUSPENDED = EventType(
    name="courier.suspended",
    version=1,
    model=CourierSuspended,
    key="courier_id",
    schema={
        "type": "record",
        "name": "CourierSuspended",
        "namespace": "courier.events",
        "doc": "Published by courier when courier suspended.",
        "fields": [
            {"name": "courier_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "name", "type": "string"},
            {"name": "status", "type": "string"},
        ],
        "msgen.event": "courier.suspended",
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

# The saga steps this service performs: their ledger makes each act once, and never after the saga failed.
BOOK_DELIVERY_ASSIGN_COURIER = Participant(saga="book_delivery", step="assign_courier", ledger=SagaStep)


async def publish(
    session: AsyncSession, event: CourierAssigned | CourierUnavailable | CourierSuspended
) -> None:
    """Write `event` to the outbox, in the session's transaction."""
    if isinstance(event, CourierAssigned):
        await stage(session, OutboxMessage, COURIER_ASSIGNED, event)
    elif isinstance(event, CourierUnavailable):
        await stage(session, OutboxMessage, COURIER_UNAVAILABLE, event)
    elif isinstance(event, CourierSuspended):
        await stage(session, OutboxMessage, COURIER_SUSPENDED, event)
