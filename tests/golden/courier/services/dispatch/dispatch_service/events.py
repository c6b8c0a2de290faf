"""Events of the dispatch service: payload models and Avro types (generated from the spec).

The schemas are those of contracts/avro/. Publish with `await publish(session, Event(...))`:
the event is written to the outbox in your transaction and relayed after the commit.
"""

from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from msgen_runtime.messaging.codec import EventType
from msgen_runtime.messaging.outbox import stage
from msgen_runtime.messaging.saga import EntityStatus, SagaDefinition, Step
from msgen_runtime.schemas import EventPayload
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch_service.clients import clients
from dispatch_service.models import Delivery, OutboxMessage, SagaState, StatusLog
from dispatch_service.schemas import Location


class DeliveryRequested(EventPayload):
    """delivery.requested v1: Published by dispatch when delivery requested."""

    delivery_id: UUID
    customer_id: UUID
    zone: Annotated[str, Field(max_length=32, pattern="^[^\\x00]*$")]
    distance_km: Annotated[Decimal, Field(decimal_places=2, max_digits=6)]
    express: bool
    pickup: Location
    dropoff: Location


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


class DeliveryCharged(EventPayload):
    """delivery.charged v1: Published by dispatch when delivery charged."""

    delivery_id: UUID
    customer_id: UUID
    fee: Annotated[Decimal, Field(decimal_places=2, max_digits=10)]


class ChargeCaptured(EventPayload):
    """charge.captured v1: Published by billing when charge captured."""

    delivery_id: UUID
    charge_id: UUID
    fee: Annotated[Decimal, Field(decimal_places=2, max_digits=10)]


class ChargeDeclined(EventPayload):
    """charge.declined v1: Published by billing when charge declined."""

    delivery_id: UUID
    reason: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]


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


DELIVERY_REQUESTED = EventType(
    name="delivery.requested",
    version=1,
    model=DeliveryRequested,
    key="delivery_id",
    schema={
        "type": "record",
        "name": "DeliveryRequested",
        "namespace": "courier.events",
        "doc": "Published by dispatch when delivery requested.",
        "fields": [
            {"name": "delivery_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "customer_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "zone", "type": "string"},
            {
                "name": "distance_km",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2},
            },
            {"name": "express", "type": "boolean"},
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
        ],
        "msgen.event": "delivery.requested",
        "msgen.version": 1,
    },
)
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
DELIVERY_CHARGED = EventType(
    name="delivery.charged",
    version=1,
    model=DeliveryCharged,
    key="delivery_id",
    schema={
        "type": "record",
        "name": "DeliveryCharged",
        "namespace": "courier.events",
        "doc": "Published by dispatch when delivery charged.",
        "fields": [
            {"name": "delivery_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "customer_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "fee", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        ],
        "msgen.event": "delivery.charged",
        "msgen.version": 1,
    },
)
CHARGE_CAPTURED = EventType(
    name="charge.captured",
    version=1,
    model=ChargeCaptured,
    key="delivery_id",
    schema={
        "type": "record",
        "name": "ChargeCaptured",
        "namespace": "courier.events",
        "doc": "Published by billing when charge captured.",
        "fields": [
            {"name": "delivery_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "charge_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "fee", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        ],
        "msgen.event": "charge.captured",
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


async def _call_book_delivery_price_delivery(context: dict[str, Any]) -> BaseModel:
    """Step 'price_delivery' of saga 'book_delivery': GET /v1/quotes/{zone} of the pricing service, filled from the saga."""
    return await clients().pricing.quote_delivery(
        str(context["zone"]),
        **{
            name: context[name]
            for name in (
                "distance_km",
                "express",
                "currency",
            )
            if name in context
        },
    )


BOOK_DELIVERY = SagaDefinition(
    name="book_delivery",
    start="delivery.requested",
    key="delivery_id",
    steps=(
        Step(
            name="price_delivery",
            success="",
            failure=None,
            timeout=30.0,
            compensation_triggers=(),
            compensation_done=None,
            status="PRICED",
            call=_call_book_delivery_price_delivery,
            publishes=("delivery.priced",),
            records=(("fee", "fee"),),
        ),
        Step(
            name="assign_courier",
            success="courier.assigned",
            failure="courier.unavailable",
            timeout=30.0,
            compensation_triggers=("charge.declined", "delivery.cancelled"),
            compensation_done=None,
            status="COURIER_ASSIGNED",
            trigger="delivery.priced",
            records=(("courier_id", "courier_id"),),
        ),
        Step(
            name="charge_fee",
            success="charge.captured",
            failure="charge.declined",
            timeout=30.0,
            compensation_triggers=("delivery.cancelled",),
            compensation_done=None,
            status=None,
            trigger="delivery.charged",
        ),
    ),
    on_success="delivery.scheduled",
    on_failure="delivery.cancelled",
    events={
        "delivery.requested": DELIVERY_REQUESTED,
        "delivery.priced": DELIVERY_PRICED,
        "delivery.charged": DELIVERY_CHARGED,
        "delivery.scheduled": DELIVERY_SCHEDULED,
        "delivery.cancelled": DELIVERY_CANCELLED,
    },
    state=SagaState,
    outbox=OutboxMessage,
    status_log=StatusLog,
    entity=EntityStatus(
        table=Delivery, field="status", started="REQUESTED", completed="SCHEDULED", failed="CANCELLED"
    ),
)


async def publish(
    session: AsyncSession,
    event: DeliveryRequested | DeliveryPriced | DeliveryCharged | DeliveryScheduled | DeliveryCancelled,
) -> None:
    """Write `event` to the outbox, in the session's transaction."""
    if isinstance(event, DeliveryRequested):
        await stage(session, OutboxMessage, DELIVERY_REQUESTED, event)
        await BOOK_DELIVERY.started(session, event)
    elif isinstance(event, DeliveryPriced):
        await stage(session, OutboxMessage, DELIVERY_PRICED, event)
    elif isinstance(event, DeliveryCharged):
        await stage(session, OutboxMessage, DELIVERY_CHARGED, event)
    elif isinstance(event, DeliveryScheduled):
        await stage(session, OutboxMessage, DELIVERY_SCHEDULED, event)
    elif isinstance(event, DeliveryCancelled):
        await stage(session, OutboxMessage, DELIVERY_CANCELLED, event)
