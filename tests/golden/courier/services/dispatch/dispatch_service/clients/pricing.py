"""Client of the pricing service, typed from its contract (generated).

Its models read tolerantly: fields the pricing service adds later are ignored.
"""

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from msgen_runtime.http import ServiceClient
from msgen_runtime.schemas import ClientModel
from pydantic import Field


class QuoteCurrency(StrEnum):
    EUR = "EUR"
    GBP = "GBP"


class Quote(ClientModel):
    """The fee of a delivery of that distance in that zone."""

    zone: Annotated[str, Field(max_length=32, pattern="^[^\\x00]*$")]
    distance_km: Annotated[
        Decimal,
        Field(
            decimal_places=2,
            description="A decimal number, at least 0.0 and at most 500.0.",
            ge=0,
            le=500,
            max_digits=6,
        ),
    ]
    express: bool
    fee: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=10)
    ]
    currency: QuoteCurrency = QuoteCurrency.EUR


class PricingClient(ServiceClient):
    """Calls to pricing-service: per-call timeouts, retries for idempotent calls, a circuit breaker."""

    async def quote_delivery(
        self,
        zone: str,
        *,
        distance_km: Decimal,
        express: bool = False,
        currency: Literal["EUR", "GBP"] = "EUR",
    ) -> Quote:
        """The fee of a delivery in a zone (pricing-service, GET /v1/quotes/{zone})."""
        return await self.cached_call(
            10.0,
            "GET",
            f"/v1/quotes/{zone}",
            Quote,
            timeout=0.3,
            params={"distance_km": distance_km, "express": express, "currency": currency},
        )
