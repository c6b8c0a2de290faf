"""Consumer-driven contracts of the inventory service: what it needs of the services it calls and the events it reads.

Each test states one pair's expectations as data, holds the service's real
client and event models to them through Pact, and writes the pact to pacts/
(PACT_DIR overrides the folder), where the provider's tests and
`msgen contracts verify` replay it against the provider. When this service comes
to need more of a provider (a field, a call), say so here: the provider's
verification then tells whether it gets it.
"""

import os
from pathlib import Path
from uuid import UUID

import pytest
from msgen_runtime.contracts import Expectations, build_pacts, event_reader

from inventory_service.clients.product import ProductClient
from inventory_service.events import ORDER_CANCELLED, ORDER_CREATED, PAYMENT_AUTHORIZED

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")
pytestmark = pytest.mark.anyio

ORDER = Expectations(
    consumer="inventory-service",
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
PAYMENT = Expectations(
    consumer="inventory-service",
    provider="payment-service",
    messages=(
        {
            "description": "payment.authorized v1",
            "event": "payment.authorized",
            "version": 1,
            "body": {
                "order_id": "00000000-0000-4000-8000-000000000001",
                "payment_id": "00000000-0000-4000-8000-000000000001",
                "amount": "12.50",
            },
            "formats": {"amount": "decimal", "order_id": "uuid", "payment_id": "uuid"},
        },
    ),
)
PRODUCT = Expectations(
    consumer="inventory-service",
    provider="product-service",
    http=(
        {
            "description": "getProduct: GET /v1/products/{id}",
            "state": "a Product exists",
            "params": {"id": "00000000-0000-4000-8000-000000000001"},
            "method": "GET",
            "path": "/v1/products/00000000-0000-4000-8000-000000000001",
            "query": {},
            "body": None,
            "status": 200,
            "response": {
                "id": "00000000-0000-4000-8000-000000000001",
                "sku": "E",
                "name": "Example",
                "description": "Some example text.",
                "price": "12.50",
                "currency": "EUR",
                "image_url": "https://example.com/0",
                "released_on": "2026-01-01",
                "created_at": "2026-01-01T10:00:00Z",
                "updated_at": "2026-01-01T10:00:00Z",
            },
            "formats": {
                "created_at": "datetime",
                "currency": ["EUR", "USD", "GBP"],
                "id": "uuid",
                "price": "decimal",
                "released_on": "date",
                "updated_at": "datetime",
            },
        },
    ),
)


def test_inventory_needs_of_order() -> None:
    pacts = build_pacts(ORDER)
    pacts.messages.verify(event_reader(ORDER_CREATED, ORDER_CANCELLED), "Async")
    pacts.write(PACTS)


def test_inventory_needs_of_payment() -> None:
    pacts = build_pacts(PAYMENT)
    pacts.messages.verify(event_reader(PAYMENT_AUTHORIZED), "Async")
    pacts.write(PACTS)


async def test_inventory_needs_of_product() -> None:
    pacts = build_pacts(PRODUCT)
    with pacts.http.serve() as server:
        client = ProductClient("product", str(server.url), retries=0, timeout_floor=30.0)
        try:
            assert (await client.get_product(UUID("00000000-0000-4000-8000-000000000001"))).id == UUID(
                "00000000-0000-4000-8000-000000000001"
            )
        finally:
            await client.close()
    pacts.write(PACTS)
