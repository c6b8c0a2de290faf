"""Request and response models of the dispatch service.

Generated from the spec by msgen, as is its contract, contracts/openapi/dispatch.v1.yaml.
"""

from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from msgen_runtime.schemas import RequestModel, ResponseModel
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


class DeliveryCreate(RequestModel):
    """The body that creates a Delivery."""

    customer_id: UUID
    pickup: Location
    dropoff: Location
    zone: Annotated[str, Field(max_length=32, pattern="^[a-z0-9-]+$")]
    distance_km: Annotated[
        Decimal,
        Field(
            decimal_places=2,
            description="A decimal number, at least 0.0 and at most 500.0.",
            ge=0,
            le=500,
            max_digits=6,
        ),
    ]
    express: bool = False


class DeliveryAccepted(ResponseModel):
    """The answer to an accepted Delivery request: where to follow it."""

    id: UUID
    status_url: str


class DeliveryStatus(StrEnum):
    REQUESTED = "REQUESTED"
    PRICED = "PRICED"
    COURIER_ASSIGNED = "COURIER_ASSIGNED"
    SCHEDULED = "SCHEDULED"
    CANCELLED = "CANCELLED"


class DeliveryRead(ResponseModel):
    """A Delivery as clients see it."""

    id: UUID
    customer_id: UUID
    pickup: Location
    dropoff: Location
    zone: Annotated[str, Field(max_length=32, pattern="^[a-z0-9-]+$")]
    distance_km: Annotated[
        Decimal,
        Field(
            decimal_places=2,
            description="A decimal number, at least 0.0 and at most 500.0.",
            ge=0,
            le=500,
            max_digits=6,
        ),
    ]
    express: bool
    fee: Annotated[
        Decimal | None,
        Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=10),
    ]
    courier_id: Annotated[UUID | None, Field(description="The courier who carries it.")]
    status: DeliveryStatus
    created_at: AwareDatetime
    updated_at: AwareDatetime


class DeliveryPage(ResponseModel):
    """One page of Delivery items."""

    items: list[DeliveryRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]
