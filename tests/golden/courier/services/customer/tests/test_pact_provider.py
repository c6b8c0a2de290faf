"""The customer service keeps what its consumers' pacts expect of it (dispatch, notification).

Every pact in pacts/ naming customer-service as its provider is replayed:
its HTTP interactions against this app served by uvicorn, each provider state
stored in its database first.
`msgen contracts verify` runs the same check through `provider()`.
"""

import os
from pathlib import Path

from msgen_runtime.contracts import Provider, failures, seed, verify

from customer_service.main import create_app
from customer_service.models import Customer
from customer_service.schemas import CustomerCreate
from customer_service.settings import Settings

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")


def provider(database_url: str) -> Provider:
    """This service as its consumers' pacts see it, on the database at `database_url`."""
    return Provider(
        name="customer-service",
        app=create_app(Settings(database_url=database_url, dev_mode=True)),
        states={
            "a Customer exists": seed(
                database_url,
                Customer,
                CustomerCreate.model_validate(
                    {
                        "email": "someone@example.com",
                        "full_name": "Example",
                        "home": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
                    }
                ),
                ("home",),
            ),
        },
    )


def test_keeps_what_its_consumers_expect(database_url: str) -> None:
    results = verify(provider(database_url), PACTS)
    assert sorted(r.consumer for r in results) == ["dispatch-service", "notification-service"]
    assert all(r.passed for r in results), failures(results)
