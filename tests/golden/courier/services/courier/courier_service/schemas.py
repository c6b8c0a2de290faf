"""Request and response models of the courier service.

Generated from the spec by msgen, as is its contract, contracts/openapi/courier.v1.yaml.
"""

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from msgen_runtime.schemas import PatchModel, RequestModel, ResponseModel
from pydantic import AwareDatetime, Field


class Location(RequestModel):
    """A point on the map, with a label a courier can read."""

    lat: Annotated[
        Decimal,
        Field(
            decimal_places=6,
            description="A decimal number, at least -90.0 and at most 90.0.",
            ge=-90,
            le=90,
            max_digits=8,
        ),
    ]
    lng: Annotated[
        Decimal,
        Field(
            decimal_places=6,
            description="A decimal number, at least -180.0 and at most 180.0.",
            ge=-180,
            le=180,
            max_digits=9,
        ),
    ]
    label: Annotated[str | None, Field(max_length=200, pattern="^[^\\x00]*$")] = None


class CourierVehicle(StrEnum):
    BIKE = "BIKE"
    CARGO_BIKE = "CARGO_BIKE"
    VAN = "VAN"


class CourierStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


class AssignmentStatus(StrEnum):
    ASSIGNED = "ASSIGNED"
    UNAVAILABLE = "UNAVAILABLE"
    RELEASED = "RELEASED"


class CourierCreate(RequestModel):
    """The body that creates a Courier."""

    name: Annotated[str, Field(max_length=120, pattern="^[^\\x00]*$")]
    phone: Annotated[str, Field(max_length=32, pattern="^[+0-9 ]+$")]
    vehicle: CourierVehicle = CourierVehicle.BIKE
    base: Location


class CourierUpdate(PatchModel):
    """A partial update of a Courier: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"base", "name", "phone", "vehicle"})
    name: Annotated[str | None, Field(max_length=120, pattern="^[^\\x00]*$")] = None
    phone: Annotated[str | None, Field(max_length=32, pattern="^[+0-9 ]+$")] = None
    vehicle: CourierVehicle | None = None
    base: Location | None = None


class CourierRead(ResponseModel):
    """A Courier as clients see it."""

    id: UUID
    name: Annotated[str, Field(max_length=120, pattern="^[^\\x00]*$")]
    phone: Annotated[str, Field(max_length=32, pattern="^[+0-9 ]+$")]
    vehicle: CourierVehicle
    base: Location
    status: CourierStatus
    created_at: AwareDatetime
    updated_at: AwareDatetime


class CourierPage(ResponseModel):
    """One page of Courier items."""

    items: list[CourierRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]


class AssignmentRead(ResponseModel):
    """An Assignment as clients see it."""

    id: UUID
    delivery_id: UUID
    courier_id: Annotated[UUID | None, Field(description="The courier who took the job.")]
    status: AssignmentStatus
    created_at: AwareDatetime
    updated_at: AwareDatetime


class AssignmentPage(ResponseModel):
    """One page of Assignment items."""

    items: list[AssignmentRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]
