"""The user service keeps what its consumers' pacts expect of it (order).

Every pact in pacts/ naming user-service as its provider is replayed:
its HTTP interactions against this app served by uvicorn, each provider state
stored in its database first.
`msgen contracts verify` runs the same check through `provider()`.
"""

import os
from pathlib import Path

from msgen_runtime.contracts import Provider, failures, seed, verify

from user_service.main import create_app
from user_service.models import User
from user_service.schemas import UserCreate
from user_service.settings import Settings

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")


def provider(database_url: str) -> Provider:
    """This service as its consumers' pacts see it, on the database at `database_url`."""
    return Provider(
        name="user-service",
        app=create_app(Settings(database_url=database_url, dev_mode=True)),
        states={
            "a User exists": seed(
                database_url,
                User,
                UserCreate.model_validate(
                    {
                        "email": "someone@example.com",
                        "full_name": "Example",
                        "address": {
                            "street": "Example",
                            "city": "Example",
                            "postcode": "Example",
                            "country": "EX",
                        },
                        "active": True,
                    }
                ),
                ("address",),
            ),
        },
    )


def test_keeps_what_its_consumers_expect(database_url: str) -> None:
    results = verify(provider(database_url), PACTS)
    assert sorted(r.consumer for r in results) == ["order-service"]
    assert all(r.passed for r in results), failures(results)
