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

from msgen_runtime.contracts import Expectations, build_pacts, event_reader

from notification_service.events import ORDER_CANCELLED, ORDER_CONFIRMED

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")

ORDER = Expectations(
    consumer="notification-service",
    provider="order-service",
    messages=(
        {
            "description": "order.confirmed v1",
            "event": "order.confirmed",
            "version": 1,
            "body": {
                "order_id": "00000000-0000-4000-8000-000000000001",
                "user_id": "00000000-0000-4000-8000-000000000001",
                "email": "someone@example.com",
            },
            "formats": {"order_id": "uuid", "user_id": "uuid"},
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


def test_notification_needs_of_order() -> None:
    pacts = build_pacts(ORDER)
    pacts.messages.verify(event_reader(ORDER_CONFIRMED, ORDER_CANCELLED), "Async")
    pacts.write(PACTS)
