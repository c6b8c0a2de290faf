"""Consumer-driven contracts of the dispatch service: what it needs of the services it calls and the events it reads.

Each test states one pair's expectations as data, holds the service's real
client and event models to them through Pact, and writes the pact to pacts/
(PACT_DIR overrides the folder), where the provider's tests and
`msgen contracts verify` replay it against the provider. When this service comes
to need more of a provider (a field, a call), say so here: the provider's
verification then tells whether it gets it.

Calls to custom operations have no default expectation, their answer being the
provider's own logic: pricing.quoteDelivery. Add one beside the others
once that logic exists.
"""

import os
from pathlib import Path
from uuid import UUID

import pytest
from msgen_runtime.contracts import Expectations, build_pacts, event_reader

from dispatch_service.clients.customer import CustomerClient
from dispatch_service.events import CHARGE_CAPTURED, CHARGE_DECLINED, COURIER_ASSIGNED, COURIER_UNAVAILABLE

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")
pytestmark = pytest.mark.anyio

BILLING = Expectations(
    consumer="dispatch-service",
    provider="billing-service",
    messages=(
        {
            "description": "charge.captured v1",
            "event": "charge.captured",
            "version": 1,
            "body": {
                "delivery_id": "00000000-0000-4000-8000-000000000001",
                "charge_id": "00000000-0000-4000-8000-000000000001",
                "fee": "12.50",
            },
            "formats": {"charge_id": "uuid", "delivery_id": "uuid", "fee": "decimal"},
        },
        {
            "description": "charge.declined v1",
            "event": "charge.declined",
            "version": 1,
            "body": {"delivery_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"},
            "formats": {"delivery_id": "uuid"},
        },
    ),
)
COURIER = Expectations(
    consumer="dispatch-service",
    provider="courier-service",
    messages=(
        {
            "description": "courier.assigned v1",
            "event": "courier.assigned",
            "version": 1,
            "body": {
                "delivery_id": "00000000-0000-4000-8000-000000000001",
                "assignment_id": "00000000-0000-4000-8000-000000000001",
                "courier_id": "00000000-0000-4000-8000-000000000001",
            },
            "formats": {"assignment_id": "uuid", "courier_id": "uuid", "delivery_id": "uuid"},
        },
        {
            "description": "courier.unavailable v1",
            "event": "courier.unavailable",
            "version": 1,
            "body": {"delivery_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"},
            "formats": {"delivery_id": "uuid"},
        },
    ),
)
CUSTOMER = Expectations(
    consumer="dispatch-service",
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


def test_dispatch_needs_of_billing() -> None:
    pacts = build_pacts(BILLING)
    pacts.messages.verify(event_reader(CHARGE_CAPTURED, CHARGE_DECLINED), "Async")
    pacts.write(PACTS)


def test_dispatch_needs_of_courier() -> None:
    pacts = build_pacts(COURIER)
    pacts.messages.verify(event_reader(COURIER_ASSIGNED, COURIER_UNAVAILABLE), "Async")
    pacts.write(PACTS)


async def test_dispatch_needs_of_customer() -> None:
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
