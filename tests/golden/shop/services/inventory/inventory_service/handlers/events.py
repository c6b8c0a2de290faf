"""What the inventory service does when events arrive: business logic, yours to edit.

Each handler runs once per message (a redelivered message is skipped), inside the
transaction that records it; publish follow-up events with `publish(session, ...)`.
An exception retries the message, then sends it to the dead-letter topic.
"""

import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from inventory_service.events import (
    PLACE_ORDER_RESERVE_INVENTORY,
    InventoryReserved,
    OrderCancelled,
    OrderCreated,
    PaymentAuthorized,
    publish,
)
from inventory_service.models import Reservation


async def on_order_created(session: AsyncSession, event: OrderCreated) -> None:
    """React to order.created."""
    logging.getLogger(__name__).info("order.created.received", extra={"order_id": str(event.order_id)})


async def on_payment_authorized(session: AsyncSession, event: PaymentAuthorized) -> None:
    """Step 'reserve_inventory' of saga 'place_order': publish inventory.reserved when it succeeds, inventory.rejected when it fails. The default always succeeds, recording a Reservation RESERVED."""
    if await PLACE_ORDER_RESERVE_INVENTORY.apply(session, event.order_id):
        reservation = Reservation(order_id=event.order_id, lines=[], status="RESERVED")
        session.add(reservation)
        await session.flush()  # gives the row its id
        logging.getLogger(__name__).info(
            "reserve_inventory.applied",
            extra={"order_id": str(event.order_id), "reservation_id": str(reservation.id)},
        )
        await publish(
            session,
            InventoryReserved.model_validate({"order_id": event.order_id, "reservation_id": reservation.id}),
        )


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    """Compensation of step 'reserve_inventory' (saga 'place_order'): undo it; nothing when it never acted."""
    if await PLACE_ORDER_RESERVE_INVENTORY.compensate(session, event.order_id):
        reservation = await session.scalar(
            sa.select(Reservation).where(
                Reservation.order_id == event.order_id, Reservation.status == "RESERVED"
            )
        )
        if reservation is not None:
            reservation.status = "RELEASED"
            logging.getLogger(__name__).info(
                "reserve_inventory.compensated",
                extra={"order_id": str(event.order_id), "reservation_id": str(reservation.id)},
            )
