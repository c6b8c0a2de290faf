"""The product service keeps what its consumers' pacts expect of it (inventory, order).

Every pact in pacts/ naming product-service as its provider is replayed:
its HTTP interactions against this app served by uvicorn, each provider state
stored in its database first.
`msgen contracts verify` runs the same check through `provider()`.
"""

import os
from pathlib import Path

from msgen_runtime.contracts import Provider, failures, seed, verify

from product_service.main import create_app
from product_service.models import Product
from product_service.schemas import ProductCreate
from product_service.settings import Settings

PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")


def provider(database_url: str) -> Provider:
    """This service as its consumers' pacts see it, on the database at `database_url`."""
    return Provider(
        name="product-service",
        app=create_app(Settings(database_url=database_url, dev_mode=True)),
        states={
            "a Product exists": seed(
                database_url,
                Product,
                ProductCreate.model_validate(
                    {
                        "sku": "E",
                        "name": "Example",
                        "description": "Some example text.",
                        "price": "12.50",
                        "currency": "EUR",
                        "image_url": "https://example.com/0",
                        "released_on": "2026-01-01",
                    }
                ),
                (),
            ),
        },
    )


def test_keeps_what_its_consumers_expect(database_url: str) -> None:
    results = verify(provider(database_url), PACTS)
    assert sorted(r.consumer for r in results) == ["inventory-service", "order-service"]
    assert all(r.passed for r in results), failures(results)
