"""What the billing service does when events arrive: business logic, yours to edit.

Each handler runs once per message (a redelivered message is skipped), inside the
transaction that records it; publish follow-up events with `publish(session, ...)`.
An exception retries the message, then sends it to the dead-letter topic.
"""

import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from billing_service.events import (
    BOOK_DELIVERY_CHARGE_FEE,
    ChargeCaptured,
    DeliveryCancelled,
    DeliveryCharged,
    publish,
)
from billing_service.models import Charge


async def on_delivery_charged(session: AsyncSession, event: DeliveryCharged) -> None:
    """Step 'charge_fee' of saga 'book_delivery': publish charge.captured when it succeeds, charge.declined when it fails. The default always succeeds, recording a Charge CAPTURED."""
    if await BOOK_DELIVERY_CHARGE_FEE.apply(session, event.delivery_id):
        charge = Charge(delivery_id=event.delivery_id, fee=event.fee, status="CAPTURED")
        session.add(charge)
        await session.flush()  # gives the row its id
        logging.getLogger(__name__).info(
            "charge_fee.applied", extra={"delivery_id": str(event.delivery_id), "charge_id": str(charge.id)}
        )
        await publish(
            session,
            ChargeCaptured.model_validate(
                {"delivery_id": event.delivery_id, "charge_id": charge.id, "fee": charge.fee}
            ),
        )


async def on_delivery_cancelled(session: AsyncSession, event: DeliveryCancelled) -> None:
    """Compensation of step 'charge_fee' (saga 'book_delivery'): undo it; nothing when it never acted."""
    if await BOOK_DELIVERY_CHARGE_FEE.compensate(session, event.delivery_id):
        charge = await session.scalar(
            sa.select(Charge).where(Charge.delivery_id == event.delivery_id, Charge.status == "CAPTURED")
        )
        if charge is not None:
            charge.status = "REFUNDED"
            logging.getLogger(__name__).info(
                "charge_fee.compensated",
                extra={"delivery_id": str(event.delivery_id), "charge_id": str(charge.id)},
            )
