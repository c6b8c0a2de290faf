"""Notification operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.models import Notification
from notification_service.schemas import NotificationPage, NotificationRead


async def list_notifications(session: AsyncSession, page: PageParams) -> NotificationPage:
    """List Notifications."""
    rows, total = await crud.list_page(session, Notification, limit=page.limit, offset=page.offset)
    return NotificationPage(
        items=[NotificationRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_notification(session: AsyncSession, id: UUID) -> NotificationRead:
    """Get a Notification by id."""
    notification = await crud.get_or_404(session, Notification, id)
    return NotificationRead.model_validate(notification)
