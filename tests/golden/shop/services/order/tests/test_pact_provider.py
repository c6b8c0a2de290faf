"""The order service keeps what its consumers' pacts expect of it (inventory, notification, payment).

Every pact in pacts/ naming order-service as its provider is replayed:
its messages as this service's own event types build them, through their Avro
codec, as the outbox relay publishes them.
`msgen contracts verify` runs the same check through `provider()`.
"""

import os
from pathlib import Path

from msgen_runtime.contracts import Provider, event_message, failures, verify

from order_service.events import ORDER_CANCELLED, ORDER_CONFIRMED, ORDER_CREATED

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")


def provider(database_url: str) -> Provider:
    """This service as its consumers' pacts see it, on the database at `database_url`."""
    return Provider(
        name="order-service",
        messages={
            "order.cancelled v1": event_message(
                ORDER_CANCELLED,
                {
                    "order_id": "00000000-0000-4000-8000-000000000001",
                    "user_id": "00000000-0000-4000-8000-000000000001",
                    "email": "someone@example.com",
                    "reason": "Example",
                },
            ),
            "order.confirmed v1": event_message(
                ORDER_CONFIRMED,
                {
                    "order_id": "00000000-0000-4000-8000-000000000001",
                    "user_id": "00000000-0000-4000-8000-000000000001",
                    "email": "someone@example.com",
                },
            ),
            "order.created v1": event_message(
                ORDER_CREATED,
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
                },
            ),
        },
    )


def test_keeps_what_its_consumers_expect(database_url: str) -> None:
    results = verify(provider(database_url), PACTS)
    assert sorted(r.consumer for r in results) == [
        "inventory-service",
        "notification-service",
        "payment-service",
    ]
    assert all(r.passed for r in results), failures(results)
