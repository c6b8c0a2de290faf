"""The courier service's events on a real broker: idempotent consumers, dead letters, the outbox (generated)."""

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from msgen_runtime.messaging.codec import EventType

from courier_service import events
from courier_service.models import DeadLetter, InboxMessage, OutboxMessage

pytestmark = pytest.mark.anyio


def message(event: EventType[Any], payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """An encoded message as the outbox relay sends it."""
    body = event.encode(event.model.model_validate(payload))
    return body, {"message-id": str(uuid.uuid4()), "event": event.name, "event-version": str(event.version)}


async def count(app: FastAPI, statement: Any) -> int:
    async with app.state.database.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(statement)) or 0)


async def test_delivery_priced_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.DELIVERY_PRICED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "pickup": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
            "dropoff": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
            "express": True,
        },
    )
    outcomes = [await consumer.receive("delivery.priced", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_delivery_priced_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "delivery.priced"}
    assert await consumer.receive("delivery.priced", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.DELIVERY_PRICED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "pickup": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
            "dropoff": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
            "express": True,
        },
    )
    assert await consumer.receive("delivery.priced", body, headers) == "processed"


async def test_charge_declined_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.CHARGE_DECLINED, {"delivery_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"}
    )
    outcomes = [await consumer.receive("charge.declined", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_charge_declined_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "charge.declined"}
    assert await consumer.receive("charge.declined", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.CHARGE_DECLINED, {"delivery_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"}
    )
    assert await consumer.receive("charge.declined", body, headers) == "processed"


async def test_delivery_cancelled_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.DELIVERY_CANCELLED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "customer_id": "00000000-0000-4000-8000-000000000001",
            "reason": "Example",
        },
    )
    outcomes = [await consumer.receive("delivery.cancelled", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_delivery_cancelled_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "delivery.cancelled"}
    assert await consumer.receive("delivery.cancelled", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.DELIVERY_CANCELLED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "customer_id": "00000000-0000-4000-8000-000000000001",
            "reason": "Example",
        },
    )
    assert await consumer.receive("delivery.cancelled", body, headers) == "processed"


async def test_the_outbox_relays_what_a_transaction_publishes(app: FastAPI) -> None:
    async with app.state.database.sessions() as session:
        await events.publish(
            session,
            events.CourierAssigned.model_validate(
                {
                    "delivery_id": "00000000-0000-4000-8000-000000000001",
                    "assignment_id": "00000000-0000-4000-8000-000000000001",
                    "courier_id": "00000000-0000-4000-8000-000000000001",
                }
            ),
        )
        await session.commit()
    for _ in range(1200):  # up to a minute: a loaded machine relays late
        pending = sa.select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)).subquery()
        if await count(app, pending) == 0:
            break
        await asyncio.sleep(0.05)
    assert await count(app, pending) == 0
    sent = sa.select(OutboxMessage).where(OutboxMessage.topic == "courier.assigned").subquery()
    assert await count(app, sent) >= 1
