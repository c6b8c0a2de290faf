"""Request and response models of the pricing service.

Generated from the spec by msgen, as is its contract, contracts/openapi/pricing.v1.yaml.
"""

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from msgen_runtime.schemas import PatchModel, RequestModel, ResponseModel
from pydantic import AwareDatetime, Field


class TariffCreate(RequestModel):
    """The body that creates a Tariff."""

    zone: Annotated[str, Field(max_length=32, pattern="^[a-z0-9-]+$")]
    base_fee: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=10)
    ]
    per_km: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=10)
    ]
    express_factor: Annotated[
        Decimal,
        Field(
            decimal_places=2,
            description="A decimal number, at least 1.0 and at most 5.0.",
            ge=1,
            le=5,
            max_digits=4,
        ),
    ] = Decimal("1.5")


class TariffUpdate(PatchModel):
    """A partial update of a Tariff: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"base_fee", "express_factor", "per_km", "zone"})
    zone: Annotated[str | None, Field(max_length=32, pattern="^[a-z0-9-]+$")] = None
    base_fee: Annotated[
        Decimal | None,
        Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=10),
    ] = None
    per_km: Annotated[
        Decimal | None,
        Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=10),
    ] = None
    express_factor: Annotated[
        Decimal | None,
        Field(
            decimal_places=2,
            description="A decimal number, at least 1.0 and at most 5.0.",
            ge=1,
            le=5,
            max_digits=4,
        ),
    ] = None


class TariffRead(ResponseModel):
    """A Tariff as clients see it."""

    id: UUID
    zone: Annotated[str, Field(max_length=32, pattern="^[a-z0-9-]+$")]
    base_fee: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=10)
    ]
    per_km: Annotated[
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=10)
    ]
    express_factor: Annotated[
        Decimal,
        Field(
            decimal_places=2,
            description="A decimal number, at least 1.0 and at most 5.0.",
            ge=1,
            le=5,
            max_digits=4,
        ),
    ]
    created_at: AwareDatetime
    updated_at: AwareDatetime


class TariffPage(ResponseModel):
    """One page of Tariff items."""

    items: list[TariffRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]


class QuoteCurrency(StrEnum):
    EUR = "EUR"
    GBP = "GBP"


class Quote(RequestModel):
    """The fee of a delivery of that distance in that zone."""

    zone: Annotated[str, Field(max_length=32, pattern="^[^\\x00]*$")]
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
        Decimal, Field(decimal_places=2, description="A decimal number, at least 0.0.", ge=0, max_digits=10)
    ]
    currency: QuoteCurrency = QuoteCurrency.EUR
