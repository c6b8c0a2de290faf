"""Routes of the pricing service: generated from the spec; the logic lives in handlers/."""

from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from msgen_runtime.cache import Cache, get_cache, operation_key
from msgen_runtime.db import get_session
from msgen_runtime.pagination import PageParams, page_params
from msgen_runtime.uow import commit
from sqlalchemy.ext.asyncio import AsyncSession

from pricing_service import handlers
from pricing_service.schemas import Quote, TariffCreate, TariffPage, TariffRead, TariffUpdate

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]
CacheDep = Annotated[Cache, Depends(get_cache)]


@router.get("/tariffs", operation_id="listTariffs", summary="List Tariffs", status_code=200)
async def list_tariffs(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> TariffPage:
    """List Tariffs."""
    return await handlers.tariff.list_tariffs(session, page)


@router.get("/tariffs/{id}", operation_id="getTariff", summary="Get a Tariff by id", status_code=200)
async def get_tariff(session: SessionDep, id: UUID, cache: CacheDep) -> TariffRead:
    """Get a Tariff by id."""
    return await cache.get_or_load(
        f"tariff:{id}", 60.0, TariffRead, lambda: handlers.tariff.get_tariff(session, id)
    )


@router.post(
    "/tariffs",
    operation_id="createTariff",
    summary="Create a Tariff",
    status_code=201,
    openapi_extra={"x-scopes": ["tariffs:write"]},
)
async def create_tariff(session: SessionDep, payload: TariffCreate) -> TariffRead:
    """Create a Tariff."""
    result = await handlers.tariff.create_tariff(session, payload)
    await commit(session)
    return result


@router.patch(
    "/tariffs/{id}",
    operation_id="updateTariff",
    summary="Update a Tariff",
    status_code=200,
    openapi_extra={"x-scopes": ["tariffs:write"]},
)
async def update_tariff(session: SessionDep, id: UUID, payload: TariffUpdate, cache: CacheDep) -> TariffRead:
    """Update a Tariff."""
    result = await handlers.tariff.update_tariff(session, id, payload)
    await commit(session)
    await cache.invalidate(f"tariff:{id}")
    return result


@router.delete(
    "/tariffs/{id}",
    operation_id="deleteTariff",
    summary="Delete a Tariff",
    status_code=204,
    openapi_extra={"x-scopes": ["tariffs:write"]},
    response_class=Response,
)
async def delete_tariff(session: SessionDep, id: UUID, cache: CacheDep) -> Response:
    """Delete a Tariff."""
    await handlers.tariff.delete_tariff(session, id)
    await commit(session)
    await cache.invalidate(f"tariff:{id}")
    return Response(status_code=204)


@router.get(
    "/quotes/{zone}", operation_id="quoteDelivery", summary="The fee of a delivery in a zone", status_code=200
)
async def quote_delivery(
    session: SessionDep,
    zone: str,
    cache: CacheDep,
    *,
    distance_km: Annotated[Decimal, Query(ge=0, le=500, max_digits=6, decimal_places=2)],
    express: Annotated[bool, Query()] = False,
    currency: Annotated[Literal["EUR", "GBP"], Query()] = "EUR",
) -> Quote:
    """The fee of a delivery in a zone."""
    return await cache.get_or_load(
        operation_key(
            "quoteDelivery", zone=zone, distance_km=distance_km, express=express, currency=currency
        ),
        30.0,
        Quote,
        lambda: handlers.operations.quote_delivery(
            session, zone, distance_km=distance_km, express=express, currency=currency
        ),
    )
