"""Routes of the inventory service: generated from the spec; the logic lives in handlers/."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from msgen_runtime.db import get_session
from msgen_runtime.pagination import PageParams, page_params
from msgen_runtime.uow import commit
from sqlalchemy.ext.asyncio import AsyncSession

from inventory_service import handlers
from inventory_service.schemas import (
    Availability,
    ReservationPage,
    ReservationRead,
    StockItemCreate,
    StockItemPage,
    StockItemRead,
    StockItemUpdate,
)

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]


@router.get(
    "/stock-items",
    operation_id="listStockItems",
    summary="List StockItems",
    status_code=200,
    openapi_extra={"x-scopes": ["inventory:read"]},
)
async def list_stock_items(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> StockItemPage:
    """List StockItems."""
    return await handlers.stock_item.list_stock_items(session, page)


@router.get(
    "/stock-items/{id}",
    operation_id="getStockItem",
    summary="Get a StockItem by id",
    status_code=200,
    openapi_extra={"x-scopes": ["inventory:read"]},
)
async def get_stock_item(session: SessionDep, id: UUID) -> StockItemRead:
    """Get a StockItem by id."""
    return await handlers.stock_item.get_stock_item(session, id)


@router.post(
    "/stock-items",
    operation_id="createStockItem",
    summary="Create a StockItem",
    status_code=201,
    openapi_extra={"x-scopes": ["inventory:write"]},
)
async def create_stock_item(session: SessionDep, payload: StockItemCreate) -> StockItemRead:
    """Create a StockItem."""
    result = await handlers.stock_item.create_stock_item(session, payload)
    await commit(session)
    return result


@router.patch(
    "/stock-items/{id}",
    operation_id="updateStockItem",
    summary="Update a StockItem",
    status_code=200,
    openapi_extra={"x-scopes": ["inventory:write"]},
)
async def update_stock_item(session: SessionDep, id: UUID, payload: StockItemUpdate) -> StockItemRead:
    """Update a StockItem."""
    result = await handlers.stock_item.update_stock_item(session, id, payload)
    await commit(session)
    return result


@router.delete(
    "/stock-items/{id}",
    operation_id="deleteStockItem",
    summary="Delete a StockItem",
    status_code=204,
    openapi_extra={"x-scopes": ["inventory:write"]},
    response_class=Response,
)
async def delete_stock_item(session: SessionDep, id: UUID) -> Response:
    """Delete a StockItem."""
    await handlers.stock_item.delete_stock_item(session, id)
    await commit(session)
    return Response(status_code=204)


@router.get(
    "/reservations",
    operation_id="listReservations",
    summary="List Reservations",
    status_code=200,
    openapi_extra={"x-scopes": ["inventory:read"]},
)
async def list_reservations(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> ReservationPage:
    """List Reservations."""
    return await handlers.reservation.list_reservations(session, page)


@router.get(
    "/reservations/{id}",
    operation_id="getReservation",
    summary="Get a Reservation by id",
    status_code=200,
    openapi_extra={"x-scopes": ["inventory:read"]},
)
async def get_reservation(session: SessionDep, id: UUID) -> ReservationRead:
    """Get a Reservation by id."""
    return await handlers.reservation.get_reservation(session, id)


@router.get(
    "/stock-items/{id}/availability",
    operation_id="checkStock",
    summary="checkStock",
    status_code=200,
    openapi_extra={"x-scopes": ["inventory:read"]},
)
async def check_stock(session: SessionDep, id: UUID) -> Availability:
    """checkStock."""
    return await handlers.operations.check_stock(session, id)
