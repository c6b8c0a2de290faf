"""What the notification service does when events arrive: business logic, yours to edit.

Each handler runs once per message (a redelivered message is skipped), inside the
transaction that records it; publish follow-up events with `publish(session, ...)`.
An exception retries the message, then sends it to the dead-letter topic.
"""

from msgen_runtime import mail
from sqlalchemy.ext.asyncio import AsyncSession

from notification_service.events import OrderCancelled, OrderConfirmed


async def on_order_confirmed(session: AsyncSession, event: OrderConfirmed) -> None:
    """Mail the customer about order.confirmed."""
    await mail.send(
        str(event.email),
        f"Your order {event.order_id} is confirmed",
        f"Good news: order {event.order_id} is paid, its items are reserved, and it is on its way.",
    )


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    """Mail the customer about order.cancelled."""
    await mail.send(
        str(event.email),
        f"Your order {event.order_id} was cancelled",
        f"Order {event.order_id} was cancelled: {event.reason}. Nothing was charged.",
    )
