"""Request and response models of the inventory service (generated from the spec)."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from msgen_runtime.schemas import PatchModel, RequestModel, ResponseModel
from pydantic import Field


class ReservationStatus(StrEnum):
    PENDING = "PENDING"
    RESERVED = "RESERVED"
    REJECTED = "REJECTED"
    RELEASED = "RELEASED"


class ReservedLine(RequestModel):
    """The ReservedLine value object."""

    product_id: UUID
    quantity: Annotated[int, Field(ge=1, le=2**63 - 1)]


class Availability(RequestModel):
    """The Availability value object."""

    product_id: UUID
    available: Annotated[int, Field(ge=0, le=2**63 - 1)]


class StockItemCreate(RequestModel):
    """The body that creates a StockItem."""

    product_id: UUID
    quantity: Annotated[int, Field(ge=0, le=2**63 - 1)]


class StockItemUpdate(PatchModel):
    """A partial update of a StockItem: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"product_id", "quantity"})
    product_id: UUID | None = None
    quantity: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None


class StockItemRead(ResponseModel):
    """A StockItem as clients see it."""

    id: UUID
    product_id: UUID
    quantity: Annotated[int, Field(ge=0, le=2**63 - 1)]
    created_at: datetime
    updated_at: datetime


class StockItemPage(ResponseModel):
    """One page of StockItem items."""

    items: list[StockItemRead]
    total: int
    limit: int
    offset: int


class ReservationCreate(RequestModel):
    """The body that creates a Reservation."""

    order_id: UUID
    lines: list[ReservedLine]
    status: ReservationStatus = ReservationStatus.PENDING


class ReservationUpdate(PatchModel):
    """A partial update of a Reservation: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"lines", "order_id", "status"})
    order_id: UUID | None = None
    lines: list[ReservedLine] | None = None
    status: ReservationStatus | None = None


class ReservationRead(ResponseModel):
    """A Reservation as clients see it."""

    id: UUID
    order_id: UUID
    lines: list[ReservedLine]
    status: ReservationStatus
    created_at: datetime
    updated_at: datetime


class ReservationPage(ResponseModel):
    """One page of Reservation items."""

    items: list[ReservationRead]
    total: int
    limit: int
    offset: int
