"""The gateway as the SDKs' pacts see it (shop-sdk-python, shop-sdk-typescript).

Beside the gateway's package and not part of its suite: `msgen contracts verify` starts the gateway with the
services behind it (each on a scratch database, as `msgen up` runs them), puts the services'
folders on the path and replays every pact naming `gateway` as its provider, each
request with a token of the project's dev issuer. Each provider state is stored in the
database of the service that owns its rows, through that service's own models.
"""

from collections.abc import Mapping

from msgen_runtime.contracts import Clear, Provider, seed

from order_service import models as order_models
from order_service import schemas as order_schemas
from product_service import models as product_models
from product_service import schemas as product_schemas
from user_service import models as user_models
from user_service import schemas as user_schemas


def provider(url: str, databases: Mapping[str, str], token: str) -> Provider:
    """The running gateway at `url`; `databases`: each service's database URL, by service name."""
    return Provider(
        name="gateway",
        url=url,
        headers={"Authorization": f"Bearer {token}"},
        states={
            "a Product exists": seed(
                databases["product"],
                product_models.Product,
                product_schemas.ProductCreate.model_validate(
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
            "a User exists": seed(
                databases["user"],
                user_models.User,
                user_schemas.UserCreate.model_validate(
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
            "a Order exists": seed(
                databases["order"],
                order_models.Order,
                order_schemas.OrderCreate.model_validate(
                    {
                        "user_id": "00000000-0000-4000-8000-000000000001",
                        "email": "someone@example.com",
                        "lines": [
                            {
                                "product_id": "00000000-0000-4000-8000-000000000001",
                                "quantity": 1,
                                "unit_price": "12.50",
                            }
                        ],
                        "amount": "12.50",
                        "currency": "EUR",
                    }
                ),
                ("lines",),
            ),
            "no Order exists": Clear(databases["order"], order_models.Order),
        },
    )
