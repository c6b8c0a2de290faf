"""Request and response models of the inventory service.

Generated from the spec by msgen, as is its contract, contracts/openapi/inventory.v1.yaml.
"""

from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from msgen_runtime.schemas import PatchModel, RequestModel, ResponseModel
from pydantic import AwareDatetime, Field


class ReservedLine(RequestModel):
    """The ReservedLine value object."""

    product_id: UUID
    quantity: Annotated[int, Field(ge=1, le=9223372036854775807)]


class Availability(RequestModel):
    """The Availability value object."""

    product_id: UUID
    available: Annotated[int, Field(ge=0, le=9223372036854775807)]


class StockItemCreate(RequestModel):
    """The body that creates a StockItem."""

    product_id: UUID
    quantity: Annotated[int, Field(ge=0, le=9223372036854775807)]


class StockItemUpdate(PatchModel):
    """A partial update of a StockItem: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"product_id", "quantity"})
    product_id: UUID | None = None
    quantity: Annotated[int | None, Field(ge=0, le=9223372036854775807)] = None


class StockItemRead(ResponseModel):
    """A StockItem as clients see it."""

    id: UUID
    product_id: UUID
    quantity: Annotated[int, Field(ge=0, le=9223372036854775807)]
    created_at: AwareDatetime
    updated_at: AwareDatetime


class StockItemPage(ResponseModel):
    """One page of StockItem items."""

    items: list[StockItemRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]


class ReservationStatus(StrEnum):
    PENDING = "PENDING"
    RESERVED = "RESERVED"
    REJECTED = "REJECTED"
    RELEASED = "RELEASED"


class ReservationRead(ResponseModel):
    """A Reservation as clients see it."""

    id: UUID
    order_id: UUID
    lines: list[ReservedLine]
    status: ReservationStatus
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ReservationPage(ResponseModel):
    """One page of Reservation items."""

    items: list[ReservationRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]
