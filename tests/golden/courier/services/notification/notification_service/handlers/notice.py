"""Notice operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.models import Notice
from notification_service.schemas import NoticePage, NoticeRead


async def list_notices(session: AsyncSession, page: PageParams) -> NoticePage:
    """List Notices."""
    rows, total = await crud.list_page(session, Notice, limit=page.limit, offset=page.offset)
    return NoticePage(
        items=[NoticeRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_notice(session: AsyncSession, id: UUID) -> NoticeRead:
    """Get a Notice by id."""
    notice = await crud.get_or_404(session, Notice, id)
    return NoticeRead.model_validate(notice)
