"""Courier operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from typing import Any
from uuid import UUID

from msgen_runtime import crud
from msgen_runtime.pagination import PageParams
from sqlalchemy.ext.asyncio import AsyncSession

from courier_service.events import CourierSuspended, publish
from courier_service.models import Courier
from courier_service.schemas import CourierCreate, CourierPage, CourierRead, CourierUpdate


async def list_couriers(session: AsyncSession, page: PageParams) -> CourierPage:
    """List Couriers."""
    rows, total = await crud.list_page(session, Courier, limit=page.limit, offset=page.offset)
    return CourierPage(
        items=[CourierRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


async def get_courier(session: AsyncSession, id: UUID) -> CourierRead:
    """Get a Courier by id."""
    courier = await crud.get_or_404(session, Courier, id)
    return CourierRead.model_validate(courier)


async def create_courier(session: AsyncSession, payload: CourierCreate) -> CourierRead:
    """Create a Courier."""
    courier = await crud.create(session, Courier, crud.row_from(payload, ("base",)))
    return CourierRead.model_validate(courier)


async def update_courier(session: AsyncSession, id: UUID, payload: CourierUpdate) -> CourierRead:
    """Update a Courier."""
    values = crud.row_from(payload, ("base",), partial=True)
    courier = await crud.update(session, Courier, id, values)
    return CourierRead.model_validate(courier)


async def delete_courier(session: AsyncSession, id: UUID) -> None:
    """Delete a Courier."""
    await crud.delete(session, Courier, id)


async def suspend_courier(session: AsyncSession, id: UUID) -> CourierRead:
    """Set status of a Courier."""
    values: dict[str, Any] = {"status": "SUSPENDED"}
    courier = await crud.update(session, Courier, id, values)
    # courier.suspended goes out with this transaction (the outbox)
    await publish(
        session,
        CourierSuspended.model_validate(
            {"courier_id": courier.id, "name": courier.name, "status": courier.status}
        ),
    )
    return CourierRead.model_validate(courier)
