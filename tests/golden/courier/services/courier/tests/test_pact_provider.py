"""The courier service keeps what its consumers' pacts expect of it (dispatch).

Every pact in pacts/ naming courier-service as its provider is replayed:
its messages as this service's own event types build them, through their Avro
codec, as the outbox relay publishes them.
`msgen contracts verify` runs the same check through `provider()`.
"""

import os
from pathlib import Path

from msgen_runtime.contracts import Provider, event_message, failures, verify

from courier_service.events import COURIER_ASSIGNED, COURIER_UNAVAILABLE

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")


def provider(database_url: str) -> Provider:
    """This service as its consumers' pacts see it, on the database at `database_url`."""
    return Provider(
        name="courier-service",
        messages={
            "courier.assigned v1": event_message(
                COURIER_ASSIGNED,
                {
                    "delivery_id": "00000000-0000-4000-8000-000000000001",
                    "assignment_id": "00000000-0000-4000-8000-000000000001",
                    "courier_id": "00000000-0000-4000-8000-000000000001",
                },
            ),
            "courier.unavailable v1": event_message(
                COURIER_UNAVAILABLE,
                {"delivery_id": "00000000-0000-4000-8000-000000000001", "reason": "Example"},
            ),
        },
    )


def test_keeps_what_its_consumers_expect(database_url: str) -> None:
    results = verify(provider(database_url), PACTS)
    assert sorted(r.consumer for r in results) == ["dispatch-service"]
    assert all(r.passed for r in results), failures(results)
