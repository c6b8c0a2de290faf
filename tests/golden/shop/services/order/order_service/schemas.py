"""Request and response models of the order service.

Generated from the spec by msgen, as is its contract, contracts/openapi/order.v1.yaml.
"""

from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from msgen_runtime.schemas import RequestModel, ResponseModel
from msgen_runtime.types import Email
from pydantic import AwareDatetime, Field


class OrderLine(RequestModel):
    """The OrderLine value object."""

    product_id: UUID
    quantity: Annotated[int, Field(ge=1, le=1000)]
    unit_price: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=12)
    ]


class OrderAccepted(ResponseModel):
    """The answer to an accepted Order request: where to follow it."""

    id: UUID
    status_url: str


class OrderCurrency(StrEnum):
    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "PENDING_PAYMENT"
    PAID = "PAID"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


class OrderCreate(RequestModel):
    """The body that creates an Order."""

    user_id: UUID
    email: Annotated[Email, Field(description="Where the customer hears about the order.")]
    lines: Annotated[list[OrderLine], Field(min_length=1)]
    amount: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=12)
    ]
    currency: OrderCurrency = OrderCurrency.EUR


class OrderRead(ResponseModel):
    """An Order as clients see it."""

    id: UUID
    user_id: UUID
    email: Annotated[Email, Field(description="Where the customer hears about the order.")]
    lines: Annotated[list[OrderLine], Field(min_length=1)]
    amount: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=12)
    ]
    currency: OrderCurrency
    status: OrderStatus
    created_at: AwareDatetime
    updated_at: AwareDatetime


class OrderPage(ResponseModel):
    """One page of Order items."""

    items: list[OrderRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]
