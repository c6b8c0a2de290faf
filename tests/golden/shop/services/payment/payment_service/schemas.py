"""Request and response models of the payment service.

Generated from the spec by msgen, as is its contract, contracts/openapi/payment.v1.yaml.
"""

from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from msgen_runtime.schemas import RequestModel, ResponseModel
from pydantic import AwareDatetime, Field


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
    amount: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=12)
    ]
    currency: PaymentCurrency = PaymentCurrency.EUR
    provider_ref: Annotated[str | None, Field(max_length=64, pattern="^[^\\x00]*$")] = None


class PaymentRead(ResponseModel):
    """A Payment as clients see it."""

    id: UUID
    order_id: UUID
    amount: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=12)
    ]
    currency: PaymentCurrency
    status: PaymentStatus
    provider_ref: Annotated[str | None, Field(max_length=64, pattern="^[^\\x00]*$")]
    created_at: AwareDatetime
    updated_at: AwareDatetime


class PaymentPage(ResponseModel):
    """One page of Payment items."""

    items: list[PaymentRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]
