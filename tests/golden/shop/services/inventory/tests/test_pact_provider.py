"""The inventory service keeps what its consumers' pacts expect of it (order, payment).

Every pact in pacts/ naming inventory-service as its provider is replayed:
its messages as this service's own event types build them, through their Avro
codec, as the outbox relay publishes them.
`msgen contracts verify` runs the same check through `provider()`.
"""

import os
from pathlib import Path

from msgen_runtime.contracts import Provider, event_message, failures, verify

from inventory_service.events import INVENTORY_REJECTED, INVENTORY_RESERVED

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")


def provider(database_url: str) -> Provider:
    """This service as its consumers' pacts see it, on the database at `database_url`."""
    return Provider(
        name="inventory-service",
        messages={
            "inventory.rejected v1": event_message(
                INVENTORY_REJECTED, {"order_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"}
            ),
            "inventory.reserved v1": event_message(
                INVENTORY_RESERVED,
                {
                    "order_id": "00000000-0000-4000-8000-000000000001",
                    "reservation_id": "00000000-0000-4000-8000-000000000001",
                },
            ),
        },
    )


def test_keeps_what_its_consumers_expect(database_url: str) -> None:
    results = verify(provider(database_url), PACTS)
    assert sorted(r.consumer for r in results) == ["order-service", "payment-service"]
    assert all(r.passed for r in results), failures(results)
