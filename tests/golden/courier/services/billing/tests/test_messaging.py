"""The billing service's events on a real broker: idempotent consumers, dead letters, the outbox (generated)."""

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from msgen_runtime.messaging.codec import EventType

from billing_service import events
from billing_service.models import DeadLetter, InboxMessage, OutboxMessage

pytestmark = pytest.mark.anyio


def message(event: EventType[Any], payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """An encoded message as the outbox relay sends it."""
    body = event.encode(event.model.model_validate(payload))
    return body, {"message-id": str(uuid.uuid4()), "event": event.name, "event-version": str(event.version)}


async def count(app: FastAPI, statement: Any) -> int:
    async with app.state.database.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(statement)) or 0)


async def test_delivery_charged_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.DELIVERY_CHARGED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "customer_id": "00000000-0000-4000-8000-000000000001",
            "fee": "12.50",
        },
    )
    outcomes = [await consumer.receive("delivery.charged", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_delivery_charged_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "delivery.charged"}
    assert await consumer.receive("delivery.charged", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.DELIVERY_CHARGED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "customer_id": "00000000-0000-4000-8000-000000000001",
            "fee": "12.50",
        },
    )
    assert await consumer.receive("delivery.charged", body, headers) == "processed"


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
            events.ChargeCaptured.model_validate(
                {
                    "delivery_id": "00000000-0000-4000-8000-000000000001",
                    "charge_id": "00000000-0000-4000-8000-000000000001",
                    "fee": "12.50",
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
    sent = sa.select(OutboxMessage).where(OutboxMessage.topic == "charge.captured").subquery()
    assert await count(app, sent) >= 1
