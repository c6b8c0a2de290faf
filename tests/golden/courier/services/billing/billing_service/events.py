"""Events of the billing service: payload models and Avro types (generated from the spec).

The schemas are those of contracts/avro/. Publish with `await publish(session, Event(...))`:
the event is written to the outbox in your transaction and relayed after the commit.
"""

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from msgen_runtime.messaging.codec import EventType
from msgen_runtime.messaging.outbox import stage
from msgen_runtime.messaging.participant import Participant
from msgen_runtime.schemas import EventPayload
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.models import OutboxMessage, SagaStep


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


class DeliveryCancelled(EventPayload):
    """delivery.cancelled v1: Published by dispatch when delivery cancelled."""

    delivery_id: UUID
    customer_id: UUID
    reason: Annotated[str, Field(max_length=255, pattern="^[^\\x00]*$")]


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
BOOK_DELIVERY_CHARGE_FEE = Participant(saga="book_delivery", step="charge_fee", ledger=SagaStep)


async def publish(session: AsyncSession, event: ChargeCaptured | ChargeDeclined) -> None:
    """Write `event` to the outbox, in the session's transaction."""
    if isinstance(event, ChargeCaptured):
        await stage(session, OutboxMessage, CHARGE_CAPTURED, event)
    elif isinstance(event, ChargeDeclined):
        await stage(session, OutboxMessage, CHARGE_DECLINED, event)
