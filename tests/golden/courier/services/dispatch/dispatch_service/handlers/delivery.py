"""Delivery operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from uuid import UUID

from msgen_runtime import crud, refs
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch_service.clients import clients
from dispatch_service.events import DeliveryRequested, publish
from dispatch_service.models import Delivery
from dispatch_service.schemas import DeliveryCreate, DeliveryPage, DeliveryRead


async def list_deliveries(session: AsyncSession, page: PageParams) -> DeliveryPage:
    """List Deliveries."""
    rows, total = await crud.list_page(session, Delivery, limit=page.limit, offset=page.offset)
    return DeliveryPage(
        items=[DeliveryRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_delivery(session: AsyncSession, id: UUID) -> DeliveryRead:
    """Get a Delivery by id."""
    delivery = await crud.get_or_404(session, Delivery, id)
    return DeliveryRead.model_validate(delivery)


async def book_delivery(session: AsyncSession, payload: DeliveryCreate) -> DeliveryRead:
    """Create a Delivery."""
    # the entities it refers to must exist (422 if not; 503 when their service cannot say)
    await refs.require("Customer", [(["customer_id"], payload.customer_id)], clients().customer.get_customer)
    delivery = await crud.create(session, Delivery, crud.row_from(payload, ("pickup", "dropoff")))
    # starts the saga: delivery.requested goes out with this transaction
    await publish(
        session,
        DeliveryRequested.model_validate(
            {
                "delivery_id": delivery.id,
                "customer_id": delivery.customer_id,
                "zone": delivery.zone,
                "distance_km": delivery.distance_km,
                "express": delivery.express,
                "pickup": delivery.pickup,
                "dropoff": delivery.dropoff,
            }
        ),
    )
    return DeliveryRead.model_validate(delivery)
