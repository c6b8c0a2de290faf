"""Consumer-driven contracts of the billing service: what it needs of the services it calls and the events it reads.

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

from billing_service.events import DELIVERY_CANCELLED, DELIVERY_CHARGED

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")

DISPATCH = Expectations(
    consumer="billing-service",
    provider="dispatch-service",
    messages=(
        {
            "description": "delivery.charged v1",
            "event": "delivery.charged",
            "version": 1,
            "body": {
                "delivery_id": "00000000-0000-4000-8000-000000000001",
                "customer_id": "00000000-0000-4000-8000-000000000001",
                "fee": "12.50",
            },
            "formats": {"customer_id": "uuid", "delivery_id": "uuid", "fee": "decimal"},
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


def test_billing_needs_of_dispatch() -> None:
    pacts = build_pacts(DISPATCH)
    pacts.messages.verify(event_reader(DELIVERY_CHARGED, DELIVERY_CANCELLED), "Async")
    pacts.write(PACTS)
