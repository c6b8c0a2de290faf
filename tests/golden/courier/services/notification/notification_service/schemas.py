"""Request and response models of the notification service.

Generated from the spec by msgen, as is its contract, contracts/openapi/notification.v1.yaml.
"""

from typing import Annotated
from uuid import UUID

from msgen_runtime.schemas import ResponseModel
from msgen_runtime.types import Email
from pydantic import AwareDatetime, Field


class NoticeRead(ResponseModel):
    """A Notice as clients see it."""

    id: UUID
    delivery_id: UUID
    recipient: Email
    subject: Annotated[str, Field(max_length=200, pattern="^[^\\x00]*$")]
    created_at: AwareDatetime
    updated_at: AwareDatetime


class NoticePage(ResponseModel):
    """One page of Notice items."""

    items: list[NoticeRead]
    total: Annotated[int, Field(ge=0)]
    limit: Annotated[int, Field(ge=1)]
    offset: Annotated[int, Field(ge=0)]
