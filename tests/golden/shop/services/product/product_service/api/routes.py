"""Routes of the product service: generated from the spec; the logic lives in handlers/."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from msgen_runtime.cache import Cache, get_cache
from msgen_runtime.db import get_session
from msgen_runtime.pagination import PageParams, page_params
from msgen_runtime.uow import commit
from sqlalchemy.ext.asyncio import AsyncSession

from product_service import handlers
from product_service.schemas import ProductCreate, ProductPage, ProductRead, ProductUpdate

router = APIRouter(prefix="/v1")
SessionDep = Annotated[AsyncSession, Depends(get_session)]
CacheDep = Annotated[Cache, Depends(get_cache)]


@router.get("/products", operation_id="listProducts", summary="List Products", status_code=200)
async def list_products(
    session: SessionDep, page: Annotated[PageParams, Depends(page_params(50, 200))]
) -> ProductPage:
    """List Products."""
    return await handlers.product.list_products(session, page)


@router.get("/products/{id}", operation_id="getProduct", summary="Get a Product by id", status_code=200)
async def get_product(session: SessionDep, id: UUID, cache: CacheDep) -> ProductRead:
    """Get a Product by id."""
    return await cache.get_or_load(
        f"product:{id}", 60.0, ProductRead, lambda: handlers.product.get_product(session, id)
    )


@router.post(
    "/products",
    operation_id="createProduct",
    summary="Create a Product",
    status_code=201,
    openapi_extra={"x-scopes": ["products:write"]},
)
async def create_product(session: SessionDep, payload: ProductCreate) -> ProductRead:
    """Create a Product."""
    result = await handlers.product.create_product(session, payload)
    await commit(session)
    return result


@router.patch(
    "/products/{id}",
    operation_id="updateProduct",
    summary="Update a Product",
    status_code=200,
    openapi_extra={"x-scopes": ["products:write"]},
)
async def update_product(
    session: SessionDep, id: UUID, payload: ProductUpdate, cache: CacheDep
) -> ProductRead:
    """Update a Product."""
    result = await handlers.product.update_product(session, id, payload)
    await commit(session)
    await cache.invalidate(f"product:{id}")
    return result


@router.delete(
    "/products/{id}",
    operation_id="deleteProduct",
    summary="Delete a Product",
    status_code=204,
    openapi_extra={"x-scopes": ["products:write"]},
    response_class=Response,
)
async def delete_product(session: SessionDep, id: UUID, cache: CacheDep) -> Response:
    """Delete a Product."""
    await handlers.product.delete_product(session, id)
    await commit(session)
    await cache.invalidate(f"product:{id}")
    return Response(status_code=204)
