"""Order operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud, refs
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.clients import clients
from order_service.events import OrderCreated, publish
from order_service.models import Order
from order_service.schemas import OrderCreate, OrderPage, OrderRead


async def list_orders(session: AsyncSession, page: PageParams) -> OrderPage:
    """List Orders."""
    rows, total = await crud.list_page(session, Order, limit=page.limit, offset=page.offset)
    return OrderPage(
        items=[OrderRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_order(session: AsyncSession, id: UUID) -> OrderRead:
    """Get an Order by id."""
    order = await crud.get_or_404(session, Order, id)
    return OrderRead.model_validate(order)


async def place_order(session: AsyncSession, payload: OrderCreate) -> OrderRead:
    """Create an Order."""
    # the entities it refers to must exist (422 if not; 503 when their service cannot say)
    await refs.require("User", [(["user_id"], payload.user_id)], clients().user.get_user)
    await refs.require(
        "Product",
        [(["lines", str(i), "product_id"], item.product_id) for i, item in enumerate(payload.lines)],
        clients().product.get_product,
    )
    order = await crud.create(session, Order, crud.row_from(payload, ("lines",)))
    # starts the saga: order.created goes out with this transaction
    await publish(
        session,
        OrderCreated.model_validate(
            {
                "order_id": order.id,
                "user_id": order.user_id,
                "email": order.email,
                "amount": order.amount,
                "currency": order.currency,
                "lines": order.lines,
            }
        ),
    )
    return OrderRead.model_validate(order)
