"""Request and response models of the user service.

Generated from the spec by msgen, as is its contract, contracts/openapi/user.v1.yaml.
"""

from typing import Annotated, ClassVar
from uuid import UUID

from msgen_runtime.schemas import PatchModel, RequestModel, ResponseModel
from msgen_runtime.types import Email
from pydantic import AwareDatetime, Field


class Address(RequestModel):
    """The Address value object."""

    street: Annotated[str, Field(max_length=200, pattern="^[^\\x00]*$")]
    city: Annotated[str, Field(max_length=100, pattern="^[^\\x00]*$")]
    postcode: Annotated[str, Field(max_length=16, pattern="^[^\\x00]*$")]
    country: Annotated[str, Field(max_length=2, min_length=2, pattern="^[A-Z]{2}$")]


class UserCreate(RequestModel):
    """The body that creates an User."""

    email: Email
    full_name: Annotated[str, Field(max_length=120, pattern="^[^\\x00]*$")]
    address: Address | None = None
    active: bool = True


class UserUpdate(PatchModel):
    """A partial update of an User: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"active", "email", "full_name"})
    email: Email | None = None
    full_name: Annotated[str | None, Field(max_length=120, pattern="^[^\\x00]*$")] = None
    address: Address | None = None
    active: bool | None = None


class UserRead(ResponseModel):
    """An User as clients see it."""

    id: UUID
    email: Email
    full_name: Annotated[str, Field(max_length=120, pattern="^[^\\x00]*$")]
    address: Address | None
    active: bool
    created_at: AwareDatetime
    updated_at: AwareDatetime


class UserPage(ResponseModel):
    """One page of User items."""

    items: list[UserRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]
