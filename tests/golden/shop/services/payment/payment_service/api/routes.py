"""Routes of the payment service: generated from the spec; the logic lives in handlers/."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from msgen_runtime.db import get_session
from msgen_runtime.idempotency import Idempotency, idempotency_dependency
from msgen_runtime.pagination import PageParams, page_params
from sqlalchemy.ext.asyncio import AsyncSession

from payment_service import handlers
from payment_service.models import IdempotencyKey
from payment_service.schemas import PaymentCreate, PaymentPage, PaymentRead

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]
IdempotencyDep = Annotated[Idempotency, Depends(idempotency_dependency(IdempotencyKey))]


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
    response_model=PaymentRead,
)
async def charge_payment(
    session: SessionDep, payload: PaymentCreate, idempotency: IdempotencyDep
) -> Response:
    """Create a Payment."""
    answer = await idempotency.run(
        "chargePayment", payload, lambda: handlers.payment.charge_payment(session, payload), status_code=201
    )
    return answer
