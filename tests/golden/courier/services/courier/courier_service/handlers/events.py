"""What the courier service does when events arrive: business logic, yours to edit.

Each handler runs once per message (a redelivered message is skipped), inside the
transaction that records it; publish follow-up events with `publish(session, ...)`.
An exception retries the message, then sends it to the dead-letter topic.
"""

import logging
from uuid import uuid4

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from courier_service.events import (
    BOOK_DELIVERY_ASSIGN_COURIER,
    ChargeDeclined,
    CourierAssigned,
    DeliveryCancelled,
    DeliveryPriced,
    publish,
)
from courier_service.models import Assignment


async def on_delivery_priced(session: AsyncSession, event: DeliveryPriced) -> None:
    """Step 'assign_courier' of saga 'book_delivery': publish courier.assigned when it succeeds, courier.unavailable when it fails. The default always succeeds, recording an Assignment ASSIGNED."""
    if await BOOK_DELIVERY_ASSIGN_COURIER.apply(session, event.delivery_id):
        assignment = Assignment(delivery_id=event.delivery_id, courier_id=uuid4(), status="ASSIGNED")
        session.add(assignment)
        await session.flush()  # gives the row its id
        logging.getLogger(__name__).info(
            "assign_courier.applied",
            extra={"delivery_id": str(event.delivery_id), "assignment_id": str(assignment.id)},
        )
        await publish(
            session,
            CourierAssigned.model_validate(
                {
                    "delivery_id": event.delivery_id,
                    "assignment_id": assignment.id,
                    "courier_id": assignment.courier_id,
                }
            ),
        )


async def on_charge_declined(session: AsyncSession, event: ChargeDeclined) -> None:
    """Compensation of step 'assign_courier' (saga 'book_delivery'): undo it; nothing when it never acted."""
    if await BOOK_DELIVERY_ASSIGN_COURIER.compensate(session, event.delivery_id):
        assignment = await session.scalar(
            sa.select(Assignment).where(
                Assignment.delivery_id == event.delivery_id, Assignment.status == "ASSIGNED"
            )
        )
        if assignment is not None:
            assignment.status = "RELEASED"
            logging.getLogger(__name__).info(
                "assign_courier.compensated",
                extra={"delivery_id": str(event.delivery_id), "assignment_id": str(assignment.id)},
            )


async def on_delivery_cancelled(session: AsyncSession, event: DeliveryCancelled) -> None:
    """Compensation of step 'assign_courier' (saga 'book_delivery'): undo it; nothing when it never acted."""
    if await BOOK_DELIVERY_ASSIGN_COURIER.compensate(session, event.delivery_id):
        assignment = await session.scalar(
            sa.select(Assignment).where(
                Assignment.delivery_id == event.delivery_id, Assignment.status == "ASSIGNED"
            )
        )
        if assignment is not None:
            assignment.status = "RELEASED"
            logging.getLogger(__name__).info(
                "assign_courier.compensated",
                extra={"delivery_id": str(event.delivery_id), "assignment_id": str(assignment.id)},
            )
