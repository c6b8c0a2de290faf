"""Routes of the billing service: generated from the spec; the logic lives in handlers/."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from msgen_runtime.db import get_session
from msgen_runtime.pagination import PageParams, page_params
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service import handlers
from billing_service.schemas import ChargePage, ChargeRead

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@router.get(
    "/charges",
    operation_id="listCharges",
    summary="List Charges",
    status_code=200,
    openapi_extra={"x-scopes": ["charges:read"]},
)
async def list_charges(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> ChargePage:
    """List Charges."""
    return await handlers.charge.list_charges(session, page)


@router.get(
    "/charges/{id}",
    operation_id="getCharge",
    summary="Get a Charge by id",
    status_code=200,
    openapi_extra={"x-scopes": ["charges:read"]},
)
async def get_charge(session: SessionDep, id: UUID) -> ChargeRead:
    """Get a Charge by id."""
    return await handlers.charge.get_charge(session, id)
