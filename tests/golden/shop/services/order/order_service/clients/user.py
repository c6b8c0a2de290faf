"""Client of the user service, typed from its contract (generated).

Its models read tolerantly: fields the user service adds later are ignored.
"""

from typing import Annotated
from uuid import UUID

from msgen_runtime.http import ServiceClient
from msgen_runtime.schemas import ClientModel
from msgen_runtime.types import Email
from pydantic import AwareDatetime, Field


class Address(ClientModel):
    """The Address value object."""

    street: Annotated[str, Field(max_length=200, pattern="^[^\\x00]*$")]
    city: Annotated[str, Field(max_length=100, pattern="^[^\\x00]*$")]
    postcode: Annotated[str, Field(max_length=16, pattern="^[^\\x00]*$")]
    country: Annotated[str, Field(max_length=2, min_length=2, pattern="^[A-Z]{2}$")]


class UserRead(ClientModel):
    """An User as clients see it."""

    id: UUID
    email: Email
    full_name: Annotated[str, Field(max_length=120, pattern="^[^\\x00]*$")]
    address: Address | None
    active: bool
    created_at: AwareDatetime
    updated_at: AwareDatetime


class UserClient(ServiceClient):
    """Calls to user-service: per-call timeouts, retries for idempotent calls, a circuit breaker."""

    async def get_user(self, id: UUID) -> UserRead:
        """Get an User by id (user-service, GET /v1/users/{id})."""
        return await self.call("GET", f"/v1/users/{id}", UserRead, timeout=0.5)
