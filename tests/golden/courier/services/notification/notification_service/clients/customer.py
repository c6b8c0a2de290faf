"""Client of the customer service, typed from its contract (generated).

Its models read tolerantly: fields the customer service adds later are ignored.
"""

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from msgen_runtime.http import ServiceClient
from msgen_runtime.schemas import ClientModel
from msgen_runtime.types import Email
from pydantic import AwareDatetime, Field


class Location(ClientModel):
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


class CustomerRead(ClientModel):
    """A Customer as clients see it."""

    id: UUID
    email: Email
    full_name: Annotated[str, Field(max_length=120, pattern="^[^\\x00]*$")]
    home: Location | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class CustomerClient(ServiceClient):
    """Calls to customer-service: per-call timeouts, retries for idempotent calls, a circuit breaker."""

    async def get_customer(self, id: UUID) -> CustomerRead:
        """Get a Customer by id (customer-service, GET /v1/customers/{id})."""
        return await self.call("GET", f"/v1/customers/{id}", CustomerRead, timeout=0.5)
