"""Routes of the user service: generated from the spec; the logic lives in handlers/."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from msgen_runtime.db import get_session
from msgen_runtime.pagination import PageParams, page_params
from msgen_runtime.uow import commit
from sqlalchemy.ext.asyncio import AsyncSession

from user_service import handlers
from user_service.schemas import UserCreate, UserPage, UserRead, UserUpdate

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@router.get(
    "/users",
    operation_id="listUsers",
    summary="List Users",
    status_code=200,
    openapi_extra={"x-scopes": ["users:read"]},
)
async def list_users(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> UserPage:
    """List Users."""
    return await handlers.user.list_users(session, page)


@router.get(
    "/users/{id}",
    operation_id="getUser",
    summary="Get an User by id",
    status_code=200,
    openapi_extra={"x-scopes": ["users:read"]},
)
async def get_user(session: SessionDep, id: UUID) -> UserRead:
    """Get an User by id."""
    return await handlers.user.get_user(session, id)


@router.post(
    "/users",
    operation_id="createUser",
    summary="Create an User",
    status_code=201,
    openapi_extra={"x-scopes": ["users:write"]},
)
async def create_user(session: SessionDep, payload: UserCreate) -> UserRead:
    """Create an User."""
    result = await handlers.user.create_user(session, payload)
    await commit(session)
    return result


@router.patch(
    "/users/{id}",
    operation_id="updateUser",
    summary="Update an User",
    status_code=200,
    openapi_extra={"x-scopes": ["users:write"]},
)
async def update_user(session: SessionDep, id: UUID, payload: UserUpdate) -> UserRead:
    """Update an User."""
    result = await handlers.user.update_user(session, id, payload)
    await commit(session)
    return result


@router.delete(
    "/users/{id}",
    operation_id="deleteUser",
    summary="Delete an User",
    status_code=204,
    openapi_extra={"x-scopes": ["users:write"]},
    response_class=Response,
)
async def delete_user(session: SessionDep, id: UUID) -> Response:
    """Delete an User."""
    await handlers.user.delete_user(session, id)
    await commit(session)
    return Response(status_code=204)
