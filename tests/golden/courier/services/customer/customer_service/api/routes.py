"""Routes of the customer service: generated from the spec; the logic lives in handlers/."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from msgen_runtime.db import get_session
from msgen_runtime.pagination import PageParams, page_params
from msgen_runtime.uow import commit
from sqlalchemy.ext.asyncio import AsyncSession

from customer_service import handlers
from customer_service.schemas import CustomerCreate, CustomerPage, CustomerRead, CustomerUpdate

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@router.get(
    "/customers",
    operation_id="listCustomers",
    summary="List Customers",
    status_code=200,
    openapi_extra={"x-scopes": ["customers:read"]},
)
async def list_customers(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> CustomerPage:
    """List Customers."""
    return await handlers.customer.list_customers(session, page)


@router.get(
    "/customers/{id}",
    operation_id="getCustomer",
    summary="Get a Customer by id",
    status_code=200,
    openapi_extra={"x-scopes": ["customers:read"]},
)
async def get_customer(session: SessionDep, id: UUID) -> CustomerRead:
    """Get a Customer by id."""
    return await handlers.customer.get_customer(session, id)


@router.post(
    "/customers",
    operation_id="createCustomer",
    summary="Create a Customer",
    status_code=201,
    openapi_extra={"x-scopes": ["customers:write"]},
)
async def create_customer(session: SessionDep, payload: CustomerCreate) -> CustomerRead:
    """Create a Customer."""
    result = await handlers.customer.create_customer(session, payload)
    await commit(session)
    return result


@router.patch(
    "/customers/{id}",
    operation_id="updateCustomer",
    summary="Update a Customer",
    status_code=200,
    openapi_extra={"x-scopes": ["customers:write"]},
)
async def update_customer(session: SessionDep, id: UUID, payload: CustomerUpdate) -> CustomerRead:
    """Update a Customer."""
    result = await handlers.customer.update_customer(session, id, payload)
    await commit(session)
    return result


@router.delete(
    "/customers/{id}",
    operation_id="deleteCustomer",
    summary="Delete a Customer",
    status_code=204,
    openapi_extra={"x-scopes": ["customers:write"]},
    response_class=Response,
)
async def delete_customer(session: SessionDep, id: UUID) -> Response:
    """Delete a Customer."""
    await handlers.customer.delete_customer(session, id)
    await commit(session)
    return Response(status_code=204)
