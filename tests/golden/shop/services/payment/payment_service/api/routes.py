"""Routes of the payment service: generated from the spec; the logic lives in handlers/."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from msgen_runtime.db import get_session
from msgen_runtime.pagination import PageParams, page_params
from sqlalchemy.ext.asyncio import AsyncSession

from payment_service import handlers
from payment_service.schemas import PaymentCreate, PaymentPage, PaymentRead

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@router.get(
    "/payments",
    operation_id="listPayments",
    summary="List Payments",
    status_code=200,
    openapi_extra={"x-scopes": ["payments:read"]},
)
async def list_payments(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> PaymentPage:
    """List Payments."""
    return await handlers.payment.list_payments(session, page)


@router.get(
    "/payments/{id}",
    operation_id="getPayment",
    summary="Get a Payment by id",
    status_code=200,
    openapi_extra={"x-scopes": ["payments:read"]},
)
async def get_payment(session: SessionDep, id: UUID) -> PaymentRead:
    """Get a Payment by id."""
    return await handlers.payment.get_payment(session, id)


@router.post(
    "/payments",
    operation_id="chargePayment",
    summary="Create a Payment",
    status_code=201,
    openapi_extra={"x-scopes": ["payments:charge"]},
)
async def charge_payment(session: SessionDep, payload: PaymentCreate) -> PaymentRead:
    """Create a Payment."""
    return await handlers.payment.charge_payment(session, payload)
