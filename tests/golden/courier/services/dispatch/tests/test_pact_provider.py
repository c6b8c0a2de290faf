"""The dispatch service keeps what its consumers' pacts expect of it (billing, courier, notification).

Every pact in pacts/ naming dispatch-service as its provider is replayed:
its messages as this service's own event types build them, through their Avro
codec, as the outbox relay publishes them.
`msgen contracts verify` runs the same check through `provider()`.
"""

import os
from pathlib import Path

from msgen_runtime.contracts import Provider, event_message, failures, verify

from dispatch_service.events import DELIVERY_CANCELLED, DELIVERY_CHARGED, DELIVERY_PRICED, DELIVERY_SCHEDULED

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")


def provider(database_url: str) -> Provider:
    """This service as its consumers' pacts see it, on the database at `database_url`."""
    return Provider(
        name="dispatch-service",
        messages={
            "delivery.cancelled v1": event_message(
                DELIVERY_CANCELLED,
                {
                    "delivery_id": "00000000-0000-4000-8000-000000000001",
                    "customer_id": "00000000-0000-4000-8000-000000000001",
                    "reason": "Example",
                },
            ),
            "delivery.charged v1": event_message(
                DELIVERY_CHARGED,
                {
                    "delivery_id": "00000000-0000-4000-8000-000000000001",
                    "customer_id": "00000000-0000-4000-8000-000000000001",
                    "fee": "12.50",
                },
            ),
            "delivery.priced v1": event_message(
                DELIVERY_PRICED,
                {
                    "delivery_id": "00000000-0000-4000-8000-000000000001",
                    "pickup": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
                    "dropoff": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
                    "express": True,
                },
            ),
            "delivery.scheduled v1": event_message(
                DELIVERY_SCHEDULED,
                {
                    "delivery_id": "00000000-0000-4000-8000-000000000001",
                    "customer_id": "00000000-0000-4000-8000-000000000001",
                    "courier_id": "00000000-0000-4000-8000-000000000001",
                    "fee": "12.50",
                },
            ),
        },
    )


def test_keeps_what_its_consumers_expect(database_url: str) -> None:
    results = verify(provider(database_url), PACTS)
    assert sorted(r.consumer for r in results) == [
        "billing-service",
        "courier-service",
        "notification-service",
    ]
    assert all(r.passed for r in results), failures(results)
