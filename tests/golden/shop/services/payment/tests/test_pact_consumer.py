"""Consumer-driven contracts of the payment service: what it needs of the services it calls and the events it reads.

Each test states one pair's expectations as data, holds the service's real
client and event models to them through Pact, and writes the pact to pacts/
(PACT_DIR overrides the folder), where the provider's tests and
`msgen contracts verify` replay it against the provider. When this service comes
to need more of a provider (a field, a call), say so here: the provider's
verification then tells whether it gets it.
"""

import os
from pathlib import Path

from msgen_runtime.contracts import Expectations, build_pacts, event_reader

from payment_service.events import INVENTORY_REJECTED, ORDER_CANCELLED, ORDER_CREATED

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")

INVENTORY = Expectations(
    consumer="payment-service",
    provider="inventory-service",
    messages=(
        {
            "description": "inventory.rejected v1",
            "event": "inventory.rejected",
            "version": 1,
            "body": {"order_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"},
            "formats": {"order_id": "uuid"},
        },
    ),
)
ORDER = Expectations(
    consumer="payment-service",
    provider="order-service",
    messages=(
        {
            "description": "order.created v1",
            "event": "order.created",
            "version": 1,
            "body": {
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
            },
            "formats": {
                "amount": "decimal",
                "order_id": "uuid",
                "product_id": "uuid",
                "unit_price": "decimal",
                "user_id": "uuid",
            },
        },
        {
            "description": "order.cancelled v1",
            "event": "order.cancelled",
            "version": 1,
            "body": {
                "order_id": "00000000-0000-4000-8000-000000000001",
                "user_id": "00000000-0000-4000-8000-000000000001",
                "email": "someone@example.com",
                "reason": "Example",
            },
            "formats": {"order_id": "uuid", "user_id": "uuid"},
        },
    ),
)


def test_payment_needs_of_inventory() -> None:
    pacts = build_pacts(INVENTORY)
    pacts.messages.verify(event_reader(INVENTORY_REJECTED), "Async")
    pacts.write(PACTS)


def test_payment_needs_of_order() -> None:
    pacts = build_pacts(ORDER)
    pacts.messages.verify(event_reader(ORDER_CREATED, ORDER_CANCELLED), "Async")
    pacts.write(PACTS)
