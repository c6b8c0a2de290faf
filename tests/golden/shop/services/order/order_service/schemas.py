"""Request and response models of the order service (generated from the spec)."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from msgen_runtime.schemas import PatchModel, RequestModel, ResponseModel
from msgen_runtime.types import Email
from pydantic import Field


class OrderCurrency(StrEnum):
    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "PENDING_PAYMENT"
    PAID = "PAID"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


class OrderLine(RequestModel):
    """The OrderLine value object."""

    product_id: UUID
    quantity: Annotated[int, Field(ge=1, le=1000)]
    unit_price: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


class OrderCreate(RequestModel):
    """The body that creates an Order."""

    user_id: UUID
    email: Annotated[Email, Field(description="Where the customer hears about the order.")]
    lines: Annotated[list[OrderLine], Field(min_length=1)]
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: OrderCurrency = OrderCurrency.EUR


class OrderUpdate(PatchModel):
    """A partial update of an Order: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"amount", "currency", "email", "lines", "user_id"})
    user_id: UUID | None = None
    email: Annotated[Email, Field(description="Where the customer hears about the order.")] | None = None
    lines: Annotated[list[OrderLine], Field(min_length=1)] | None = None
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = None
    currency: OrderCurrency | None = None


class OrderRead(ResponseModel):
    """An Order as clients see it."""

    id: UUID
    user_id: UUID
    email: Annotated[Email, Field(description="Where the customer hears about the order.")]
    lines: Annotated[list[OrderLine], Field(min_length=1)]
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: OrderCurrency
    status: OrderStatus
    created_at: datetime
    updated_at: datetime


class OrderPage(ResponseModel):
    """One page of Order items."""

    items: list[OrderRead]
    total: int
    limit: int
    offset: int


class OrderAccepted(ResponseModel):
    """The answer to an accepted Order request: where to follow it."""

    id: UUID
    status_url: str
