"""Request and response models of the billing service.

Generated from the spec by msgen, as is its contract, contracts/openapi/billing.v1.yaml.
"""

from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from msgen_runtime.schemas import ResponseModel
from pydantic import AwareDatetime, Field


class ChargeStatus(StrEnum):
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"


class ChargeRead(ResponseModel):
    """A Charge as clients see it."""

    id: UUID
    delivery_id: UUID
    fee: Annotated[Decimal, Field(decimal_places=2, description="The fee charged.", ge=0, max_digits=10)]
    status: ChargeStatus
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ChargePage(ResponseModel):
    """One page of Charge items."""

    items: list[ChargeRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]
