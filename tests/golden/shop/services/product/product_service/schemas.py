"""Request and response models of the product service (generated from the spec)."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from msgen_runtime.schemas import PatchModel, RequestModel, ResponseModel
from pydantic import Field


class ProductCurrency(StrEnum):
    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"


class ProductCreate(RequestModel):
    """The body that creates a Product."""

    sku: Annotated[str, Field(max_length=32, pattern="^[A-Z0-9-]+$")]
    name: Annotated[str, Field(max_length=200, pattern="^[^\\x00]*$")]
    description: Annotated[str, Field(pattern="^[^\\x00]*$")] | None = None
    price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: ProductCurrency = ProductCurrency.EUR
    image_url: Annotated[str, Field(max_length=2048, pattern="^https?://[^\\s\\x00]+$")] | None = None
    released_on: date | None = None


class ProductUpdate(PatchModel):
    """A partial update of a Product: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"currency", "name", "price", "sku"})
    sku: Annotated[str, Field(max_length=32, pattern="^[A-Z0-9-]+$")] | None = None
    name: Annotated[str, Field(max_length=200, pattern="^[^\\x00]*$")] | None = None
    description: Annotated[str, Field(pattern="^[^\\x00]*$")] | None = None
    price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = None
    currency: ProductCurrency | None = None
    image_url: Annotated[str, Field(max_length=2048, pattern="^https?://[^\\s\\x00]+$")] | None = None
    released_on: date | None = None


class ProductRead(ResponseModel):
    """A Product as clients see it."""

    id: UUID
    sku: Annotated[str, Field(max_length=32, pattern="^[A-Z0-9-]+$")]
    name: Annotated[str, Field(max_length=200, pattern="^[^\\x00]*$")]
    description: Annotated[str, Field(pattern="^[^\\x00]*$")] | None
    price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: ProductCurrency
    image_url: Annotated[str, Field(max_length=2048, pattern="^https?://[^\\s\\x00]+$")] | None
    released_on: date | None
    created_at: datetime
    updated_at: datetime


class ProductPage(ResponseModel):
    """One page of Product items."""

    items: list[ProductRead]
    total: int
    limit: int
    offset: int
