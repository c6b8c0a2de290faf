"""What the notification service does when events arrive: business logic, yours to edit.

Each handler runs once per message (a redelivered message is skipped), inside the
transaction that records it; publish follow-up events with `publish(session, ...)`.
An exception retries the message, then sends it to the dead-letter topic.
"""

from msgen_runtime import mail
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.events import DeliveryCancelled, DeliveryScheduled


async def on_delivery_scheduled(session: AsyncSession, event: DeliveryScheduled) -> None:
    """Mail the customer about delivery.scheduled."""
    await mail.send(
        str(event.email),
        f"Your delivery {event.delivery_id} is on its way",
        f"A courier has your delivery {event.delivery_id} and the fee of {event.fee} is paid.",
    )


async def on_delivery_cancelled(session: AsyncSession, event: DeliveryCancelled) -> None:
    """Mail the customer about delivery.cancelled."""
    await mail.send(
        str(event.email),
        f"Your delivery {event.delivery_id} was cancelled",
        f"Delivery {event.delivery_id} was cancelled: {event.reason}. Nothing was charged.",
    )
