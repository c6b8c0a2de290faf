"""What the inventory service does when events arrive: business logic, yours to edit.

Each handler runs once per message (a redelivered message is skipped), inside the
transaction that records it; publish follow-up events with `publish(session, ...)`.
An exception retries the message, then sends it to the dead-letter topic.
"""

import logging
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncSession

from inventory_service.events import InventoryReserved, OrderCreated, PaymentAuthorized, publish


async def on_order_created(session: AsyncSession, event: OrderCreated) -> None:
    """React to order.created."""
    logging.getLogger(__name__).info("order.created.received", extra={"event": event.model_dump(mode="json")})


async def on_payment_authorized(session: AsyncSession, event: PaymentAuthorized) -> None:
    """Step 'reserve_inventory' of saga 'place_order': publish inventory.reserved when it succeeds, inventory.rejected when it fails. The default always succeeds."""
    await publish(
        session, InventoryReserved.model_validate({"order_id": event.order_id, "reservation_id": uuid4()})
    )
