"""The order service's events on a real broker: idempotent consumers, dead letters, the outbox, its sagas (generated)."""

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from msgen_runtime.messaging.codec import EventType

from order_service import events
from order_service.models import DeadLetter, InboxMessage, OutboxMessage, SagaState

pytestmark = pytest.mark.anyio


def message(event: EventType[Any], payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """An encoded message as the outbox relay sends it."""
    body = event.encode(event.model.model_validate(payload))
    return body, {"message-id": str(uuid.uuid4()), "event": event.name, "event-version": str(event.version)}


async def count(app: FastAPI, statement: Any) -> int:
    async with app.state.database.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(statement)) or 0)


async def test_payment_authorized_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.PAYMENT_AUTHORIZED,
        {
            "order_id": "00000000-0000-4000-8000-000000000001",
            "payment_id": "00000000-0000-4000-8000-000000000001",
            "amount": "12.50",
        },
    )
    outcomes = [await consumer.receive("payment.authorized", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_payment_authorized_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "payment.authorized"}
    assert await consumer.receive("payment.authorized", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.PAYMENT_AUTHORIZED,
        {
            "order_id": "00000000-0000-4000-8000-000000000001",
            "payment_id": "00000000-0000-4000-8000-000000000001",
            "amount": "12.50",
        },
    )
    assert await consumer.receive("payment.authorized", body, headers) == "processed"


async def test_payment_failed_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.PAYMENT_FAILED, {"order_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"}
    )
    outcomes = [await consumer.receive("payment.failed", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_payment_failed_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "payment.failed"}
    assert await consumer.receive("payment.failed", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.PAYMENT_FAILED, {"order_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"}
    )
    assert await consumer.receive("payment.failed", body, headers) == "processed"


async def test_inventory_reserved_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.INVENTORY_RESERVED,
        {
            "order_id": "00000000-0000-4000-8000-000000000001",
            "reservation_id": "00000000-0000-4000-8000-000000000001",
        },
    )
    outcomes = [await consumer.receive("inventory.reserved", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_inventory_reserved_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "inventory.reserved"}
    assert await consumer.receive("inventory.reserved", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.INVENTORY_RESERVED,
        {
            "order_id": "00000000-0000-4000-8000-000000000001",
            "reservation_id": "00000000-0000-4000-8000-000000000001",
        },
    )
    assert await consumer.receive("inventory.reserved", body, headers) == "processed"


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


async def test_payment_refunded_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.PAYMENT_REFUNDED,
        {
            "order_id": "00000000-0000-4000-8000-000000000001",
            "payment_id": "00000000-0000-4000-8000-000000000001",
            "amount": "12.50",
        },
    )
    outcomes = [await consumer.receive("payment.refunded", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_payment_refunded_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "payment.refunded"}
    assert await consumer.receive("payment.refunded", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.PAYMENT_REFUNDED,
        {
            "order_id": "00000000-0000-4000-8000-000000000001",
            "payment_id": "00000000-0000-4000-8000-000000000001",
            "amount": "12.50",
        },
    )
    assert await consumer.receive("payment.refunded", body, headers) == "processed"


async def test_the_outbox_relays_what_a_transaction_publishes(app: FastAPI) -> None:
    async with app.state.database.sessions() as session:
        await events.publish(
            session,
            events.OrderCreated.model_validate(
                {
                    "order_id": "00000000-0000-4000-8000-000000000001",
                    "user_id": "00000000-0000-4000-8000-000000000001",
                    "email": "someone@example.com",
                    "amount": "12.50",
                    "currency": "Example",
                    "lines": [
                        {
                            "product_id": "00000000-0000-4000-8000-000000000001",
                            "quantity": 1,
                            "unit_price": "12.50",
                        }
                    ],
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
    sent = sa.select(OutboxMessage).where(OutboxMessage.topic == "order.created").subquery()
    assert await count(app, sent) >= 1


SAMPLES_PLACE_ORDER: dict[str, dict[str, Any]] = {
    "payment.authorized": {
        "order_id": "00000000-0000-4000-8000-000000000001",
        "payment_id": "00000000-0000-4000-8000-000000000001",
        "amount": "12.50",
    },
    "payment.failed": {"order_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"},
    "inventory.reserved": {
        "order_id": "00000000-0000-4000-8000-000000000001",
        "reservation_id": "00000000-0000-4000-8000-000000000001",
    },
    "inventory.rejected": {"order_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"},
    "payment.refunded": {
        "order_id": "00000000-0000-4000-8000-000000000001",
        "payment_id": "00000000-0000-4000-8000-000000000001",
        "amount": "12.50",
    },
}


async def _start_place_order(client: httpx.AsyncClient) -> str:
    created = await client.post(
        "/v1/orders",
        json={
            "user_id": "00000000-0000-4000-8000-000000000001",
            "email": "someone@example.com",
            "lines": [
                {"product_id": "00000000-0000-4000-8000-000000000001", "quantity": 1, "unit_price": "12.50"}
            ],
            "amount": "12.50",
            "currency": "EUR",
        },
    )
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


async def _feed(app: FastAPI, name: str, key: str) -> None:
    event = next(e for e in vars(events).values() if isinstance(e, EventType) and e.name == name)
    body, headers = message(event, {**SAMPLES_PLACE_ORDER[name], "order_id": key})
    assert await app.state.messaging.consumer.receive(name, body, headers) == "processed"


async def _status(client: httpx.AsyncClient, ident: str) -> str:
    return str((await client.get(f"/v1/orders/{ident}")).json()["status"])


async def test_saga_place_order_completes(app: FastAPI, client: httpx.AsyncClient) -> None:
    ident = await _start_place_order(client)
    state = await _saga_state(app, ident)
    assert state == "RUNNING"
    await _feed(app, "payment.authorized", ident)
    await _feed(app, "inventory.reserved", ident)
    assert await _saga_state(app, ident) == "COMPLETED"
    assert await _status(client, ident) == "CONFIRMED"
    ending = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.topic == "order.confirmed", OutboxMessage.key == ident)
        .subquery()
    )
    assert await count(app, ending) == 1
    # the status stream replays every status, in order, then ends
    async with client.stream("GET", f"/v1/orders/{ident}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        seen = [
            json.loads(line[5:])["status"] async for line in stream.aiter_lines() if line.startswith("data:")
        ]
    assert seen == ["PENDING_PAYMENT", "PAID", "CONFIRMED"]


async def test_saga_place_order_compensates_and_fails(app: FastAPI, client: httpx.AsyncClient) -> None:
    ident = await _start_place_order(client)
    await _feed(app, "payment.authorized", ident)
    await _feed(app, "inventory.rejected", ident)
    assert await _saga_state(app, ident) == "COMPENSATING"
    await _feed(app, "payment.refunded", ident)
    assert await _saga_state(app, ident) == "FAILED"
    assert await _status(client, ident) == "CANCELLED"
    ending = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.topic == "order.cancelled", OutboxMessage.key == ident)
        .subquery()
    )
    assert await count(app, ending) == 1


async def _saga_state(app: FastAPI, ident: str) -> str:
    async with app.state.database.sessions() as session:
        state = await session.get(SagaState, ("place_order", ident))
        assert state is not None
        return str(state.status)
