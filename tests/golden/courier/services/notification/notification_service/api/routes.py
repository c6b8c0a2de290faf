"""Routes of the notification service: generated from the spec; the logic lives in handlers/."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from msgen_runtime.db import get_session
from msgen_runtime.pagination import PageParams, page_params
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service import handlers
from notification_service.schemas import NoticePage, NoticeRead

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@router.get(
    "/notices",
    operation_id="listNotices",
    summary="List Notices",
    status_code=200,
    openapi_extra={"x-scopes": ["notices:read"]},
)
async def list_notices(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> NoticePage:
    """List Notices."""
    return await handlers.notice.list_notices(session, page)


@router.get(
    "/notices/{id}",
    operation_id="getNotice",
    summary="Get a Notice by id",
    status_code=200,
    openapi_extra={"x-scopes": ["notices:read"]},
)
async def get_notice(session: SessionDep, id: UUID) -> NoticeRead:
    """Get a Notice by id."""
    return await handlers.notice.get_notice(session, id)
