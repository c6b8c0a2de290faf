"""The dispatch service's events on a real broker: idempotent consumers, dead letters, the outbox, its sagas (generated)."""

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from msgen_runtime.messaging.codec import EventType

from dispatch_service import events
from dispatch_service.models import DeadLetter, InboxMessage, OutboxMessage, SagaState

pytestmark = pytest.mark.anyio


def message(event: EventType[Any], payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """An encoded message as the outbox relay sends it."""
    body = event.encode(event.model.model_validate(payload))
    return body, {"message-id": str(uuid.uuid4()), "event": event.name, "event-version": str(event.version)}


async def count(app: FastAPI, statement: Any) -> int:
    async with app.state.database.sessions() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(statement)) or 0)


async def test_courier_assigned_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.COURIER_ASSIGNED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "assignment_id": "00000000-0000-4000-8000-000000000001",
        },
    )
    outcomes = [await consumer.receive("courier.assigned", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_courier_assigned_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "courier.assigned"}
    assert await consumer.receive("courier.assigned", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.COURIER_ASSIGNED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "assignment_id": "00000000-0000-4000-8000-000000000001",
        },
    )
    assert await consumer.receive("courier.assigned", body, headers) == "processed"


async def test_courier_unavailable_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.COURIER_UNAVAILABLE,
        {"delivery_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"},
    )
    outcomes = [await consumer.receive("courier.unavailable", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_courier_unavailable_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "courier.unavailable"}
    assert await consumer.receive("courier.unavailable", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.COURIER_UNAVAILABLE,
        {"delivery_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"},
    )
    assert await consumer.receive("courier.unavailable", body, headers) == "processed"


async def test_courier_released_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.COURIER_RELEASED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "assignment_id": "00000000-0000-4000-8000-000000000001",
        },
    )
    outcomes = [await consumer.receive("courier.released", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_courier_released_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "courier.released"}
    assert await consumer.receive("courier.released", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.COURIER_RELEASED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "assignment_id": "00000000-0000-4000-8000-000000000001",
        },
    )
    assert await consumer.receive("courier.released", body, headers) == "processed"


async def test_charge_captured_has_one_effect_when_delivered_three_times(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    body, headers = message(
        events.CHARGE_CAPTURED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "charge_id": "00000000-0000-4000-8000-000000000001",
            "amount": "12.50",
        },
    )
    outcomes = [await consumer.receive("charge.captured", body, headers) for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    inbox = sa.select(InboxMessage).where(InboxMessage.message_id == headers["message-id"]).subquery()
    assert await count(app, inbox) == 1


async def test_undecodable_charge_captured_goes_to_the_dead_letter_topic(app: FastAPI) -> None:
    consumer = app.state.messaging.consumer
    poison = {"message-id": str(uuid.uuid4()), "event": "charge.captured"}
    assert await consumer.receive("charge.captured", b"\xff\xfe not avro", poison) == "dead-lettered"
    letters = sa.select(DeadLetter).where(DeadLetter.message_id == poison["message-id"]).subquery()
    assert await count(app, letters) == 1
    # and the consumer keeps going
    body, headers = message(
        events.CHARGE_CAPTURED,
        {
            "delivery_id": "00000000-0000-4000-8000-000000000001",
            "charge_id": "00000000-0000-4000-8000-000000000001",
            "amount": "12.50",
        },
    )
    assert await consumer.receive("charge.captured", body, headers) == "processed"


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


async def test_the_outbox_relays_what_a_transaction_publishes(app: FastAPI) -> None:
    async with app.state.database.sessions() as session:
        await events.publish(
            session,
            events.DeliveryRequested.model_validate(
                {
                    "delivery_id": "00000000-0000-4000-8000-000000000001",
                    "customer_id": "00000000-0000-4000-8000-000000000001",
                    "email": "someone@example.com",
                    "pickup": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
                    "dropoff": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
                    "fee": "12.50",
                }
            ),
        )
        await session.commit()
    for _ in range(200):
        pending = sa.select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)).subquery()
        if await count(app, pending) == 0:
            break
        await asyncio.sleep(0.05)
    assert await count(app, pending) == 0
    sent = sa.select(OutboxMessage).where(OutboxMessage.topic == "delivery.requested").subquery()
    assert await count(app, sent) >= 1


SAMPLES_BOOK_DELIVERY: dict[str, dict[str, Any]] = {
    "courier.assigned": {
        "delivery_id": "00000000-0000-4000-8000-000000000001",
        "assignment_id": "00000000-0000-4000-8000-000000000001",
    },
    "courier.unavailable": {"delivery_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"},
    "courier.released": {
        "delivery_id": "00000000-0000-4000-8000-000000000001",
        "assignment_id": "00000000-0000-4000-8000-000000000001",
    },
    "charge.captured": {
        "delivery_id": "00000000-0000-4000-8000-000000000001",
        "charge_id": "00000000-0000-4000-8000-000000000001",
        "amount": "12.50",
    },
    "charge.declined": {"delivery_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"},
}


async def _start_book_delivery(client: httpx.AsyncClient) -> str:
    created = await client.post(
        "/v1/deliveries",
        json={
            "customer_id": "00000000-0000-4000-8000-000000000001",
            "email": "someone@example.com",
            "pickup": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
            "dropoff": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
            "zone": "city-centre",
            "distance_km": "12.50",
            "express": True,
            "fee": "12.50",
        },
    )
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


async def _feed(app: FastAPI, name: str, key: str) -> None:
    event = next(e for e in vars(events).values() if isinstance(e, EventType) and e.name == name)
    body, headers = message(event, {**SAMPLES_BOOK_DELIVERY[name], "delivery_id": key})
    assert await app.state.messaging.consumer.receive(name, body, headers) == "processed"


async def _status(client: httpx.AsyncClient, ident: str) -> str:
    return str((await client.get(f"/v1/deliveries/{ident}")).json()["status"])


async def test_saga_book_delivery_completes(app: FastAPI, client: httpx.AsyncClient) -> None:
    ident = await _start_book_delivery(client)
    state = await _saga_state(app, ident)
    assert state == "RUNNING"
    await _feed(app, "courier.assigned", ident)
    await _feed(app, "charge.captured", ident)
    assert await _saga_state(app, ident) == "COMPLETED"
    assert await _status(client, ident) == "SCHEDULED"
    ending = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.topic == "delivery.scheduled", OutboxMessage.key == ident)
        .subquery()
    )
    assert await count(app, ending) == 1
    # the status stream replays every status, in order, then ends
    async with client.stream("GET", f"/v1/deliveries/{ident}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        seen = [
            json.loads(line[5:])["status"] async for line in stream.aiter_lines() if line.startswith("data:")
        ]
    assert seen == ["REQUESTED", "COURIER_ASSIGNED", "SCHEDULED"]


async def test_saga_book_delivery_compensates_and_fails(app: FastAPI, client: httpx.AsyncClient) -> None:
    ident = await _start_book_delivery(client)
    await _feed(app, "courier.assigned", ident)
    await _feed(app, "charge.declined", ident)
    assert await _saga_state(app, ident) == "COMPENSATING"
    await _feed(app, "courier.released", ident)
    assert await _saga_state(app, ident) == "FAILED"
    assert await _status(client, ident) == "CANCELLED"
    ending = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.topic == "delivery.cancelled", OutboxMessage.key == ident)
        .subquery()
    )
    assert await count(app, ending) == 1


async def _saga_state(app: FastAPI, ident: str) -> str:
    async with app.state.database.sessions() as session:
        state = await session.get(SagaState, ("book_delivery", ident))
        assert state is not None
        return str(state.status)
