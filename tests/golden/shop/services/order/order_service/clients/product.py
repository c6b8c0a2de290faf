"""Client of the product service, typed from its contract (generated).

Its models read tolerantly: fields the product service adds later are ignored.
"""

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from msgen_runtime.http import ServiceClient
from msgen_runtime.schemas import ClientModel
from pydantic import AwareDatetime, Field


class ProductCurrency(StrEnum):
    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"


class ProductRead(ClientModel):
    """A Product as clients see it."""

    id: UUID
    sku: Annotated[str, Field(max_length=32, pattern="^[A-Z0-9-]+$")]
    name: Annotated[str, Field(max_length=200, pattern="^[^\\x00]*$")]
    description: Annotated[str | None, Field(pattern="^[^\\x00]*$")]
    price: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=12)
    ]
    currency: ProductCurrency
    image_url: Annotated[str | None, Field(max_length=2048, pattern="^https?://[^\\s\\x00]+$")]
    released_on: date | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ProductClient(ServiceClient):
    """Calls to product-service: per-call timeouts, retries for idempotent calls, a circuit breaker."""

    async def get_product(self, id: UUID) -> ProductRead:
        """Get a Product by id (product-service, GET /v1/products/{id})."""
        return await self.cached_call(60.0, "GET", f"/v1/products/{id}", ProductRead, timeout=0.3)
