"""Consumer-driven contracts of the courier service: what it needs of the services it calls and the events it reads.

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

from courier_service.events import CHARGE_DECLINED, DELIVERY_CANCELLED, DELIVERY_PRICED

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")

BILLING = Expectations(
    consumer="courier-service",
    provider="billing-service",
    messages=(
        {
            "description": "charge.declined v1",
            "event": "charge.declined",
            "version": 1,
            "body": {"delivery_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"},
            "formats": {"delivery_id": "uuid"},
        },
    ),
)
DISPATCH = Expectations(
    consumer="courier-service",
    provider="dispatch-service",
    messages=(
        {
            "description": "delivery.priced v1",
            "event": "delivery.priced",
            "version": 1,
            "body": {
                "delivery_id": "00000000-0000-4000-8000-000000000001",
                "pickup": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
                "dropoff": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
                "express": True,
            },
            "formats": {"delivery_id": "uuid", "lat": "decimal", "lng": "decimal"},
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


def test_courier_needs_of_billing() -> None:
    pacts = build_pacts(BILLING)
    pacts.messages.verify(event_reader(CHARGE_DECLINED), "Async")
    pacts.write(PACTS)


def test_courier_needs_of_dispatch() -> None:
    pacts = build_pacts(DISPATCH)
    pacts.messages.verify(event_reader(DELIVERY_PRICED, DELIVERY_CANCELLED), "Async")
    pacts.write(PACTS)
