"""The billing service keeps what its consumers' pacts expect of it (courier, dispatch).

Every pact in pacts/ naming billing-service as its provider is replayed:
its messages as this service's own event types build them, through their Avro
codec, as the outbox relay publishes them.
`msgen contracts verify` runs the same check through `provider()`.
"""

import os
from pathlib import Path

from msgen_runtime.contracts import Provider, event_message, failures, verify

from billing_service.events import CHARGE_CAPTURED, CHARGE_DECLINED

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")


def provider(database_url: str) -> Provider:
    """This service as its consumers' pacts see it, on the database at `database_url`."""
    return Provider(
        name="billing-service",
        messages={
            "charge.captured v1": event_message(
                CHARGE_CAPTURED,
                {
                    "delivery_id": "00000000-0000-4000-8000-000000000001",
                    "charge_id": "00000000-0000-4000-8000-000000000001",
                    "fee": "12.50",
                },
            ),
            "charge.declined v1": event_message(
                CHARGE_DECLINED, {"delivery_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"}
            ),
        },
    )


def test_keeps_what_its_consumers_expect(database_url: str) -> None:
    results = verify(provider(database_url), PACTS)
    assert sorted(r.consumer for r in results) == ["courier-service", "dispatch-service"]
    assert all(r.passed for r in results), failures(results)
