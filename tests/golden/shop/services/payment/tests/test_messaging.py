"""The payment service's events on a real broker: idempotent consumers, dead letters, the outbox (generated)."""

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from msgen_runtime.messaging.codec import EventType

from payment_service import events
from payment_service.models import DeadLetter, InboxMessage, OutboxMessage

pytestmark = pytest.mark.anyio


def message(event: EventType[Any], payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """An encoded message as the outbox relay sends it."""
    body = event.encode(event.model.model_validate(payload))
    return body, {"message-id": str(uuid.uuid4()), "event": event.name, "event-version": str(event.version)}


async def count(app: FastAPI, statement: Any) -> int:
    async with app.state.database.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(statement)) or 0)


async def test_order_created_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.ORDER_CREATED,
        {
            "order_id": "00000000-0000-4000-8000-000000000001",
            "user_id": "00000000-0000-4000-8000-000000000001",
            "email": "someone@example.com",
            "amount": "12.50",
            "currency": "Example",
            "lines": [
                {"product_id": "00000000-0000-4000-8000-000000000001", "quantity": 1, "unit_price": "12.50"}
            ],
        },
    )
    outcomes = [await consumer.receive("order.created", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_order_created_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "order.created"}
    assert await consumer.receive("order.created", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.ORDER_CREATED,
        {
            "order_id": "00000000-0000-4000-8000-000000000001",
            "user_id": "00000000-0000-4000-8000-000000000001",
            "email": "someone@example.com",
            "amount": "12.50",
            "currency": "Example",
            "lines": [
                {"product_id": "00000000-0000-4000-8000-000000000001", "quantity": 1, "unit_price": "12.50"}
            ],
        },
    )
    assert await consumer.receive("order.created", body, headers) == "processed"


async def test_inventory_rejected_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.INVENTORY_REJECTED, {"order_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"}
    )
    outcomes = [await consumer.receive("inventory.rejected", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_inventory_rejected_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "inventory.rejected"}
    assert await consumer.receive("inventory.rejected", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.INVENTORY_REJECTED, {"order_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"}
    )
    assert await consumer.receive("inventory.rejected", body, headers) == "processed"


async def test_order_cancelled_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.ORDER_CANCELLED,
        {
            "order_id": "00000000-0000-4000-8000-000000000001",
            "user_id": "00000000-0000-4000-8000-000000000001",
            "email": "someone@example.com",
            "reason": "Example",
        },
    )
    outcomes = [await consumer.receive("order.cancelled", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_order_cancelled_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "order.cancelled"}
    assert await consumer.receive("order.cancelled", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.ORDER_CANCELLED,
        {
            "order_id": "00000000-0000-4000-8000-000000000001",
            "user_id": "00000000-0000-4000-8000-000000000001",
            "email": "someone@example.com",
            "reason": "Example",
        },
    )
    assert await consumer.receive("order.cancelled", body, headers) == "processed"


async def test_the_outbox_relays_what_a_transaction_publishes(app: FastAPI) -> None:
    async with app.state.database.sessions() as session:
        await events.publish(
            session,
            events.PaymentAuthorized.model_validate(
                {
                    "order_id": "00000000-0000-4000-8000-000000000001",
                    "payment_id": "00000000-0000-4000-8000-000000000001",
                    "amount": "12.50",
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
    sent = sa.select(OutboxMessage).where(OutboxMessage.topic == "payment.authorized").subquery()
    assert await count(app, sent) >= 1
