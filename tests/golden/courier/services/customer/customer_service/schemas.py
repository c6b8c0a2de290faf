"""Request and response models of the customer service.

Generated from the spec by msgen, as is its contract, contracts/openapi/customer.v1.yaml.
"""

from decimal import Decimal
from typing import Annotated, ClassVar
from uuid import UUID

from msgen_runtime.schemas import PatchModel, RequestModel, ResponseModel
from msgen_runtime.types import Email
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


class CustomerCreate(RequestModel):
    """The body that creates a Customer."""

    email: Email
    full_name: Annotated[str, Field(max_length=120, pattern="^[^\\x00]*$")]
    home: Location | None = None


class CustomerUpdate(PatchModel):
    """A partial update of a Customer: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"email", "full_name"})
    email: Email | None = None
    full_name: Annotated[str | None, Field(max_length=120, pattern="^[^\\x00]*$")] = None
    home: Location | None = None


class CustomerRead(ResponseModel):
    """A Customer as clients see it."""

    id: UUID
    email: Email
    full_name: Annotated[str, Field(max_length=120, pattern="^[^\\x00]*$")]
    home: Location | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class CustomerPage(ResponseModel):
    """One page of Customer items."""

    items: list[CustomerRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]
