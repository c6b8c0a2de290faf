"""Events of the order service: payload models and Avro types (generated from the spec).

The schemas are those of contracts/avro/. Publish with `await publish(session, Event(...))`:
the event is written to the outbox in your transaction and relayed after the commit.
"""

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from msgen_runtime.messaging.codec import EventType
from msgen_runtime.messaging.outbox import stage
from msgen_runtime.messaging.saga import EntityStatus, SagaDefinition, Step
from msgen_runtime.schemas import EventPayload
from msgen_runtime.types import Email
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.models import Order, OutboxMessage, SagaState, StatusLog
from order_service.schemas import OrderLine


class OrderCreated(EventPayload):
    """order.created v1: Published by order when order created."""

    order_id: UUID
    user_id: UUID
    email: Email
    amount: Annotated[Decimal, Field(decimal_places=2, max_digits=12)]
    currency: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]
    lines: list[OrderLine]


class PaymentAuthorized(EventPayload):
    """payment.authorized v1: Published by payment when payment authorized."""

    order_id: UUID
    payment_id: UUID
    amount: Annotated[Decimal, Field(decimal_places=2, max_digits=12)]


class PaymentFailed(EventPayload):
    """payment.failed v1: Published by payment when payment failed."""

    order_id: UUID
    reason: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]


class InventoryReserved(EventPayload):
    """inventory.reserved v1: Published by inventory when inventory reserved."""

    order_id: UUID
    reservation_id: UUID


class InventoryRejected(EventPayload):
    """inventory.rejected v1: Published by inventory when inventory rejected."""

    order_id: UUID
    reason: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]


class PaymentRefunded(EventPayload):
    """payment.refunded v1: Published by payment when payment refunded."""

    order_id: UUID
    payment_id: UUID
    amount: Annotated[Decimal, Field(decimal_places=2, max_digits=12)]


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


ORDER_CREATED = EventType(
    name="order.created",
    version=1,
    model=OrderCreated,
    key="order_id",
    schema={
        "type": "record",
        "name": "OrderCreated",
        "namespace": "shop.events",
        "doc": "Published by order when order created.",
        "fields": [
            {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "user_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "email", "type": "string"},
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
            },
            {"name": "currency", "type": "string"},
            {
                "name": "lines",
                "type": {
                    "type": "array",
                    "items": {
                        "type": "record",
                        "name": "OrderLine",
                        "fields": [
                            {"name": "product_id", "type": {"type": "string", "logicalType": "uuid"}},
                            {"name": "quantity", "type": "long"},
                            {
                                "name": "unit_price",
                                "type": {
                                    "type": "bytes",
                                    "logicalType": "decimal",
                                    "precision": 12,
                                    "scale": 2,
                                },
                            },
                        ],
                    },
                },
            },
        ],
        "msgen.event": "order.created",
        "msgen.version": 1,
    },
)
PAYMENT_AUTHORIZED = EventType(
    name="payment.authorized",
    version=1,
    model=PaymentAuthorized,
    key="order_id",
    schema={
        "type": "record",
        "name": "PaymentAuthorized",
        "namespace": "shop.events",
        "doc": "Published by payment when payment authorized.",
        "fields": [
            {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "payment_id", "type": {"type": "string", "logicalType": "uuid"}},
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
            },
        ],
        "msgen.event": "payment.authorized",
        "msgen.version": 1,
    },
)
PAYMENT_FAILED = EventType(
    name="payment.failed",
    version=1,
    model=PaymentFailed,
    key="order_id",
    schema={
        "type": "record",
        "name": "PaymentFailed",
        "namespace": "shop.events",
        "doc": "Published by payment when payment failed.",
        "fields": [
            {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "reason", "type": "string"},
        ],
        "msgen.event": "payment.failed",
        "msgen.version": 1,
    },
)
INVENTORY_RESERVED = EventType(
    name="inventory.reserved",
    version=1,
    model=InventoryReserved,
    key="order_id",
    schema={
        "type": "record",
        "name": "InventoryReserved",
        "namespace": "shop.events",
        "doc": "Published by inventory when inventory reserved.",
        "fields": [
            {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "reservation_id", "type": {"type": "string", "logicalType": "uuid"}},
        ],
        "msgen.event": "inventory.reserved",
        "msgen.version": 1,
    },
)
INVENTORY_REJECTED = EventType(
    name="inventory.rejected",
    version=1,
    model=InventoryRejected,
    key="order_id",
    schema={
        "type": "record",
        "name": "InventoryRejected",
        "namespace": "shop.events",
        "doc": "Published by inventory when inventory rejected.",
        "fields": [
            {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "reason", "type": "string"},
        ],
        "msgen.event": "inventory.rejected",
        "msgen.version": 1,
    },
)
PAYMENT_REFUNDED = EventType(
    name="payment.refunded",
    version=1,
    model=PaymentRefunded,
    key="order_id",
    schema={
        "type": "record",
        "name": "PaymentRefunded",
        "namespace": "shop.events",
        "doc": "Published by payment when payment refunded.",
        "fields": [
            {"name": "order_id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "payment_id", "type": {"type": "string", "logicalType": "uuid"}},
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
            },
        ],
        "msgen.event": "payment.refunded",
        "msgen.version": 1,
    },
)
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

PLACE_ORDER = SagaDefinition(
    name="place_order",
    start="order.created",
    key="order_id",
    steps=(
        Step(
            name="authorize_payment",
            success="payment.authorized",
            failure="payment.failed",
            timeout=30.0,
            compensation_triggers=("inventory.rejected", "order.cancelled"),
            compensation_done="payment.refunded",
            status="PAID",
        ),
        Step(
            name="reserve_inventory",
            success="inventory.reserved",
            failure="inventory.rejected",
            timeout=30.0,
            compensation_triggers=("order.cancelled",),
            compensation_done=None,
            status=None,
        ),
    ),
    on_success="order.confirmed",
    on_failure="order.cancelled",
    events={
        "order.created": ORDER_CREATED,
        "order.confirmed": ORDER_CONFIRMED,
        "order.cancelled": ORDER_CANCELLED,
    },
    state=SagaState,
    outbox=OutboxMessage,
    status_log=StatusLog,
    entity=EntityStatus(
        table=Order, field="status", started="PENDING_PAYMENT", completed="CONFIRMED", failed="CANCELLED"
    ),
)


async def publish(session: AsyncSession, event: OrderCreated | OrderConfirmed | OrderCancelled) -> None:
    """Write `event` to the outbox, in the session's transaction."""
    if isinstance(event, OrderCreated):
        await stage(session, OutboxMessage, ORDER_CREATED, event)
        await PLACE_ORDER.started(session, event)
    elif isinstance(event, OrderConfirmed):
        await stage(session, OutboxMessage, ORDER_CONFIRMED, event)
    elif isinstance(event, OrderCancelled):
        await stage(session, OutboxMessage, ORDER_CANCELLED, event)
