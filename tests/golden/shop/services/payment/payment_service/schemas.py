"""Request and response models of the payment service (generated from the spec)."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from msgen_runtime.schemas import PatchModel, RequestModel, ResponseModel
from pydantic import Field


class PaymentCurrency(StrEnum):
    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"


class PaymentStatus(StrEnum):
    AUTHORIZED = "AUTHORIZED"
    FAILED = "FAILED"
    REFUNDED = "REFUNDED"


class PaymentCreate(RequestModel):
    """The body that creates a Payment."""

    order_id: UUID
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: PaymentCurrency = PaymentCurrency.EUR
    provider_ref: Annotated[str, Field(max_length=64, pattern="^[^\\x00]*$")] | None = None


class PaymentUpdate(PatchModel):
    """A partial update of a Payment: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"amount", "currency", "order_id"})
    order_id: UUID | None = None
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = None
    currency: PaymentCurrency | None = None
    provider_ref: Annotated[str, Field(max_length=64, pattern="^[^\\x00]*$")] | None = None


class PaymentRead(ResponseModel):
    """A Payment as clients see it."""

    id: UUID
    order_id: UUID
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: PaymentCurrency
    status: PaymentStatus
    provider_ref: Annotated[str, Field(max_length=64, pattern="^[^\\x00]*$")] | None
    created_at: datetime
    updated_at: datetime


class PaymentPage(ResponseModel):
    """One page of Payment items."""

    items: list[PaymentRead]
    total: int
    limit: int
    offset: int
