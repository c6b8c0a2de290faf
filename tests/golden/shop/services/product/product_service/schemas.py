"""Request and response models of the product service.

Generated from the spec by msgen, as is its contract, contracts/openapi/product.v1.yaml.
"""

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from msgen_runtime.schemas import PatchModel, RequestModel, ResponseModel
from pydantic import AwareDatetime, Field


class ProductCurrency(StrEnum):
    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"


class ProductCreate(RequestModel):
    """The body that creates a Product."""

    sku: Annotated[str, Field(max_length=32, pattern="^[A-Z0-9-]+$")]
    name: Annotated[str, Field(max_length=200, pattern="^[^\\x00]*$")]
    description: Annotated[str | None, Field(pattern="^[^\\x00]*$")] = None
    price: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=12)
    ]
    currency: ProductCurrency = ProductCurrency.EUR
    image_url: Annotated[str | None, Field(max_length=2048, pattern="^https?://[^\\s\\x00]+$")] = None
    released_on: date | None = None


class ProductUpdate(PatchModel):
    """A partial update of a Product: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"currency", "name", "price", "sku"})
    sku: Annotated[str | None, Field(max_length=32, pattern="^[A-Z0-9-]+$")] = None
    name: Annotated[str | None, Field(max_length=200, pattern="^[^\\x00]*$")] = None
    description: Annotated[str | None, Field(pattern="^[^\\x00]*$")] = None
    price: Annotated[
        Decimal | None,
        Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=12),
    ] = None
    currency: ProductCurrency | None = None
    image_url: Annotated[str | None, Field(max_length=2048, pattern="^https?://[^\\s\\x00]+$")] = None
    released_on: date | None = None


class ProductRead(ResponseModel):
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


class ProductPage(ResponseModel):
    """One page of Product items."""

    items: list[ProductRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]
