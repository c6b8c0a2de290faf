"""What the payment service does when events arrive: business logic, yours to edit.

Each handler runs once per message (a redelivered message is skipped), inside the
transaction that records it; publish follow-up events with `publish(session, ...)`.
An exception retries the message, then sends it to the dead-letter topic.
"""

from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncSession

from payment_service.events import (
    InventoryRejected,
    OrderCancelled,
    OrderCreated,
    PaymentAuthorized,
    PaymentRefunded,
    publish,
)


async def on_order_created(session: AsyncSession, event: OrderCreated) -> None:
    """Step 'authorize_payment' of saga 'place_order': publish payment.authorized when it succeeds, payment.failed when it fails. The default always succeeds."""
    await publish(
        session,
        PaymentAuthorized.model_validate(
            {"order_id": event.order_id, "payment_id": uuid4(), "amount": event.amount}
        ),
    )


async def on_inventory_rejected(session: AsyncSession, event: InventoryRejected) -> None:
    """Compensation of step 'authorize_payment' (saga 'place_order'): undo it, then publish payment.refunded."""
    await publish(
        session,
        PaymentRefunded.model_validate({"order_id": event.order_id, "payment_id": uuid4(), "amount": 0}),
    )


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    """Compensation of step 'authorize_payment' (saga 'place_order'): undo it, then publish payment.refunded."""
    await publish(
        session,
        PaymentRefunded.model_validate({"order_id": event.order_id, "payment_id": uuid4(), "amount": 0}),
    )
