"""Product operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.models import Product
from product_service.schemas import ProductCreate, ProductPage, ProductRead, ProductUpdate


async def list_products(session: AsyncSession, page: PageParams) -> ProductPage:
    """List Products."""
    rows, total = await crud.list_page(session, Product, limit=page.limit, offset=page.offset)
    return ProductPage(
        items=[ProductRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_product(session: AsyncSession, id: UUID) -> ProductRead:
    """Get a Product by id."""
    product = await crud.get_or_404(session, Product, id)
    return ProductRead.model_validate(product)


async def create_product(session: AsyncSession, payload: ProductCreate) -> ProductRead:
    """Create a Product."""
    product = await crud.create(session, Product, crud.row_from(payload))
    return ProductRead.model_validate(product)


async def update_product(session: AsyncSession, id: UUID, payload: ProductUpdate) -> ProductRead:
    """Update a Product."""
    values = crud.row_from(payload, partial=True)
    product = await crud.update(session, Product, id, values)
    return ProductRead.model_validate(product)


async def delete_product(session: AsyncSession, id: UUID) -> None:
    """Delete a Product."""
    await crud.delete(session, Product, id)
