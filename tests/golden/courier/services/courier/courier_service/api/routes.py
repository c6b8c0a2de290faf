"""Routes of the courier service: generated from the spec; the logic lives in handlers/."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from msgen_runtime.db import get_session
from msgen_runtime.pagination import PageParams, page_params
from msgen_runtime.uow import commit
from sqlalchemy.ext.asyncio import AsyncSession

from courier_service import handlers
from courier_service.schemas import (
    AssignmentPage,
    AssignmentRead,
    CourierCreate,
    CourierPage,
    CourierRead,
    CourierUpdate,
)

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@router.get(
    "/couriers",
    operation_id="listCouriers",
    summary="List Couriers",
    status_code=200,
    openapi_extra={"x-scopes": ["couriers:read"]},
)
async def list_couriers(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> CourierPage:
    """List Couriers."""
    return await handlers.courier.list_couriers(session, page)


@router.get(
    "/couriers/{id}",
    operation_id="getCourier",
    summary="Get a Courier by id",
    status_code=200,
    openapi_extra={"x-scopes": ["couriers:read"]},
)
async def get_courier(session: SessionDep, id: UUID) -> CourierRead:
    """Get a Courier by id."""
    return await handlers.courier.get_courier(session, id)


@router.post(
    "/couriers",
    operation_id="createCourier",
    summary="Create a Courier",
    status_code=201,
    openapi_extra={"x-scopes": ["couriers:write"]},
)
async def create_courier(session: SessionDep, payload: CourierCreate) -> CourierRead:
    """Create a Courier."""
    result = await handlers.courier.create_courier(session, payload)
    await commit(session)
    return result


@router.patch(
    "/couriers/{id}",
    operation_id="updateCourier",
    summary="Update a Courier",
    status_code=200,
    openapi_extra={"x-scopes": ["couriers:write"]},
)
async def update_courier(session: SessionDep, id: UUID, payload: CourierUpdate) -> CourierRead:
    """Update a Courier."""
    result = await handlers.courier.update_courier(session, id, payload)
    await commit(session)
    return result


@router.delete(
    "/couriers/{id}",
    operation_id="deleteCourier",
    summary="Delete a Courier",
    status_code=204,
    openapi_extra={"x-scopes": ["couriers:write"]},
    response_class=Response,
)
async def delete_courier(session: SessionDep, id: UUID) -> Response:
    """Delete a Courier."""
    await handlers.courier.delete_courier(session, id)
    await commit(session)
    return Response(status_code=204)


@router.get(
    "/assignments",
    operation_id="listAssignments",
    summary="List Assignments",
    status_code=200,
    openapi_extra={"x-scopes": ["couriers:read"]},
)
async def list_assignments(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> AssignmentPage:
    """List Assignments."""
    return await handlers.assignment.list_assignments(session, page)


@router.get(
    "/assignments/{id}",
    operation_id="getAssignment",
    summary="Get an Assignment by id",
    status_code=200,
    openapi_extra={"x-scopes": ["couriers:read"]},
)
async def get_assignment(session: SessionDep, id: UUID) -> AssignmentRead:
    """Get an Assignment by id."""
    return await handlers.assignment.get_assignment(session, id)


@router.post(
    "/couriers/{id}/suspend",
    operation_id="suspendCourier",
    summary="Set status of a Courier",
    status_code=200,
    openapi_extra={"x-scopes": ["couriers:admin"]},
)
async def suspend_courier(session: SessionDep, id: UUID) -> CourierRead:
    """Set status of a Courier."""
    result = await handlers.courier.suspend_courier(session, id)
    await commit(session)
    return result
