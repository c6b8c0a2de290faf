"""The gateway as the SDKs' pacts see it (courier-sdk-python, courier-sdk-typescript).

Beside the gateway's package and not part of its suite: `msgen contracts verify` starts the gateway with the
services behind it (each on a scratch database, as `msgen up` runs them), puts the services'
folders on the path and replays every pact naming `gateway` as its provider, each
request with a token of the project's dev issuer. Each provider state is stored in the
database of the service that owns its rows, through that service's own models.
"""

from collections.abc import Mapping

from msgen_runtime.contracts import Clear, Provider, seed

from customer_service import models as customer_models
from customer_service import schemas as customer_schemas
from dispatch_service import models as dispatch_models
from dispatch_service import schemas as dispatch_schemas


def provider(url: str, databases: Mapping[str, str], token: str) -> Provider:
    """The running gateway at `url`; `databases`: each service's database URL, by service name."""
    return Provider(
        name="gateway",
        url=url,
        headers={"Authorization": f"Bearer {token}"},
        states={
            "a Customer exists": seed(
                databases["customer"],
                customer_models.Customer,
                customer_schemas.CustomerCreate.model_validate(
                    {
                        "email": "someone@example.com",
                        "full_name": "Example",
                        "home": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
                    }
                ),
                ("home",),
            ),
            "a Delivery exists": seed(
                databases["dispatch"],
                dispatch_models.Delivery,
                dispatch_schemas.DeliveryCreate.model_validate(
                    {
                        "customer_id": "00000000-0000-4000-8000-000000000001",
                        "pickup": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
                        "dropoff": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
                        "zone": "city-centre",
                        "distance_km": "12.50",
                        "express": True,
                    }
                ),
                ("pickup", "dropoff"),
            ),
            "no Delivery exists": Clear(databases["dispatch"], dispatch_models.Delivery),
        },
    )
