"""The payment service keeps what its consumers' pacts expect of it (inventory, order).

Every pact in pacts/ naming payment-service as its provider is replayed:
its messages as this service's own event types build them, through their Avro
codec, as the outbox relay publishes them.
`msgen contracts verify` runs the same check through `provider()`.
"""

import os
from pathlib import Path

from msgen_runtime.contracts import Provider, event_message, failures, verify

from payment_service.events import PAYMENT_AUTHORIZED, PAYMENT_FAILED, PAYMENT_REFUNDED

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")


def provider(database_url: str) -> Provider:
    """This service as its consumers' pacts see it, on the database at `database_url`."""
    return Provider(
        name="payment-service",
        messages={
            "payment.authorized v1": event_message(
                PAYMENT_AUTHORIZED,
                {
                    "order_id": "00000000-0000-4000-8000-000000000001",
                    "payment_id": "00000000-0000-4000-8000-000000000001",
                    "amount": "12.50",
                },
            ),
            "payment.failed v1": event_message(
                PAYMENT_FAILED, {"order_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"}
            ),
            "payment.refunded v1": event_message(
                PAYMENT_REFUNDED,
                {
                    "order_id": "00000000-0000-4000-8000-000000000001",
                    "payment_id": "00000000-0000-4000-8000-000000000001",
                    "amount": "12.50",
                },
            ),
        },
    )


def test_keeps_what_its_consumers_expect(database_url: str) -> None:
    results = verify(provider(database_url), PACTS)
    assert sorted(r.consumer for r in results) == ["inventory-service", "order-service"]
    assert all(r.passed for r in results), failures(results)
