"""Consumer-driven contracts of the notification service: what it needs of the services it calls and the events it reads.

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

from notification_service.clients.customer import CustomerClient
from notification_service.events import DELIVERY_CANCELLED, DELIVERY_SCHEDULED

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")
pytestmark = pytest.mark.anyio

CUSTOMER = Expectations(
    consumer="notification-service",
    provider="customer-service",
    http=(
        {
            "description": "getCustomer: GET /v1/customers/{id}",
            "state": "a Customer exists",
            "params": {"id": "00000000-0000-4000-8000-000000000001"},
            "method": "GET",
            "path": "/v1/customers/00000000-0000-4000-8000-000000000001",
            "query": {},
            "body": None,
            "status": 200,
            "response": {
                "id": "00000000-0000-4000-8000-000000000001",
                "email": "someone@example.com",
                "full_name": "Example",
                "home": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
                "created_at": "2026-01-01T10:00:00Z",
                "updated_at": "2026-01-01T10:00:00Z",
            },
            "formats": {
                "created_at": "datetime",
                "id": "uuid",
                "lat": "decimal",
                "lng": "decimal",
                "updated_at": "datetime",
            },
        },
    ),
)
DISPATCH = Expectations(
    consumer="notification-service",
    provider="dispatch-service",
    messages=(
        {
            "description": "delivery.scheduled v1",
            "event": "delivery.scheduled",
            "version": 1,
            "body": {
                "delivery_id": "00000000-0000-4000-8000-000000000001",
                "customer_id": "00000000-0000-4000-8000-000000000001",
                "courier_id": "00000000-0000-4000-8000-000000000001",
                "fee": "12.50",
            },
            "formats": {"courier_id": "uuid", "customer_id": "uuid", "delivery_id": "uuid", "fee": "decimal"},
        },
        {
            "description": "delivery.cancelled v1",
            "event": "delivery.cancelled",
            "version": 1,
            "body": {
                "delivery_id": "00000000-0000-4000-8000-000000000001",
                "customer_id": "00000000-0000-4000-8000-000000000001",
                "reason": "Example",
            },
            "formats": {"customer_id": "uuid", "delivery_id": "uuid"},
        },
    ),
)


async def test_notification_needs_of_customer() -> None:
    pacts = build_pacts(CUSTOMER)
    with pacts.http.serve() as server:
        client = CustomerClient("customer", str(server.url), retries=0, timeout_floor=30.0)
        try:
            assert (await client.get_customer(UUID("00000000-0000-4000-8000-000000000001"))).id == UUID(
                "00000000-0000-4000-8000-000000000001"
            )
        finally:
            await client.close()
    pacts.write(PACTS)


def test_notification_needs_of_dispatch() -> None:
    pacts = build_pacts(DISPATCH)
    pacts.messages.verify(event_reader(DELIVERY_SCHEDULED, DELIVERY_CANCELLED), "Async")
    pacts.write(PACTS)
