"""What the notification service does when events arrive: business logic, yours to edit.

Each handler runs once per message (a redelivered message is skipped), inside the
transaction that records it; publish follow-up events with `publish(session, ...)`.
An exception retries the message, then sends it to the dead-letter topic.
"""

from msgen_runtime import mail
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.clients import clients
from notification_service.events import DeliveryCancelled, DeliveryScheduled


async def on_delivery_scheduled(session: AsyncSession, event: DeliveryScheduled) -> None:
    """Mail the customer about delivery.scheduled."""
    # the address is read from the customer service: a failed read fails the message, which is
    # retried, then dead-lettered; no mail goes to nobody
    recipient = (await clients().customer.get_customer(event.customer_id)).email
    if not recipient:
        raise LookupError(f"customer has no email for customer_id {event.customer_id}")
    await mail.send(
        str(recipient),
        f"Your delivery {event.delivery_id} is on its way",
        f"Courier {event.courier_id} has your delivery {event.delivery_id} and the fee of {event.fee} is paid.",
    )


async def on_delivery_cancelled(session: AsyncSession, event: DeliveryCancelled) -> None:
    """Mail the customer about delivery.cancelled."""
    # the address is read from the customer service: a failed read fails the message, which is
    # retried, then dead-lettered; no mail goes to nobody
    recipient = (await clients().customer.get_customer(event.customer_id)).email
    if not recipient:
        raise LookupError(f"customer has no email for customer_id {event.customer_id}")
    await mail.send(
        str(recipient),
        f"Your delivery {event.delivery_id} was cancelled",
        f"Delivery {event.delivery_id} was cancelled: {event.reason}. Any fee charged for it is refunded.",
    )
