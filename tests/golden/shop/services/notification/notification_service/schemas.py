"""Request and response models of the notification service (generated from the spec)."""

from datetime import datetime
from typing import Annotated, ClassVar
from uuid import UUID

from msgen_runtime.schemas import PatchModel, RequestModel, ResponseModel
from msgen_runtime.types import Email
from pydantic import AwareDatetime, Field


class NotificationCreate(RequestModel):
    """The body that creates a Notification."""

    order_id: UUID
    recipient: Email
    subject: Annotated[str, Field(max_length=200, pattern="^[^\\x00]*$")]
    sent_at: AwareDatetime | None = None


class NotificationUpdate(PatchModel):
    """A partial update of a Notification: only the fields sent change."""

    non_nullable: ClassVar[frozenset[str]] = frozenset({"order_id", "recipient", "subject"})
    order_id: UUID | None = None
    recipient: Email | None = None
    subject: Annotated[str, Field(max_length=200, pattern="^[^\\x00]*$")] | None = None
    sent_at: AwareDatetime | None = None


class NotificationRead(ResponseModel):
    """A Notification as clients see it."""

    id: UUID
    order_id: UUID
    recipient: Email
    subject: Annotated[str, Field(max_length=200, pattern="^[^\\x00]*$")]
    sent_at: AwareDatetime | None
    created_at: datetime
    updated_at: datetime


class NotificationPage(ResponseModel):
    """One page of Notification items."""

    items: list[NotificationRead]
    total: int
    limit: int
    offset: int
