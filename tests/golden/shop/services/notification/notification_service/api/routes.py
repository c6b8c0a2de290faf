"""Routes of the notification service: generated from the spec; the logic lives in handlers/."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from msgen_runtime.db import get_session
from msgen_runtime.pagination import PageParams, page_params
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service import handlers
from notification_service.schemas import NotificationPage, NotificationRead

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@router.get(
    "/notifications",
    operation_id="listNotifications",
    summary="List Notifications",
    status_code=200,
    openapi_extra={"x-scopes": ["notifications:read"]},
)
async def list_notifications(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> NotificationPage:
    """List Notifications."""
    return await handlers.notification.list_notifications(session, page)


@router.get(
    "/notifications/{id}",
    operation_id="getNotification",
    summary="Get a Notification by id",
    status_code=200,
    openapi_extra={"x-scopes": ["notifications:read"]},
)
async def get_notification(session: SessionDep, id: UUID) -> NotificationRead:
    """Get a Notification by id."""
    return await handlers.notification.get_notification(session, id)
