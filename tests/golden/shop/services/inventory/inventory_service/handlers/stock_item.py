"""StockItem operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud, refs
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from inventory_service.clients import clients
from inventory_service.models import StockItem
from inventory_service.schemas import StockItemCreate, StockItemPage, StockItemRead, StockItemUpdate


async def list_stock_items(session: AsyncSession, page: PageParams) -> StockItemPage:
    """List StockItems."""
    rows, total = await crud.list_page(session, StockItem, limit=page.limit, offset=page.offset)
    return StockItemPage(
        items=[StockItemRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_stock_item(session: AsyncSession, id: UUID) -> StockItemRead:
    """Get a StockItem by id."""
    stock_item = await crud.get_or_404(session, StockItem, id)
    return StockItemRead.model_validate(stock_item)


async def create_stock_item(session: AsyncSession, payload: StockItemCreate) -> StockItemRead:
    """Create a StockItem."""
    # the entities it refers to must exist (422 if not; 503 when their service cannot say)
    await refs.require("Product", [(["product_id"], payload.product_id)], clients().product.get_product)
    stock_item = await crud.create(session, StockItem, crud.row_from(payload))
    return StockItemRead.model_validate(stock_item)


async def update_stock_item(session: AsyncSession, id: UUID, payload: StockItemUpdate) -> StockItemRead:
    """Update a StockItem."""
    values = crud.row_from(payload, partial=True)
    stock_item = await crud.update(session, StockItem, id, values)
    return StockItemRead.model_validate(stock_item)


async def delete_stock_item(session: AsyncSession, id: UUID) -> None:
    """Delete a StockItem."""
    await crud.delete(session, StockItem, id)
