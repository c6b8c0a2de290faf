"""What the payment service does when events arrive: business logic, yours to edit.

Each handler runs once per message (a redelivered message is skipped), inside the
transaction that records it; publish follow-up events with `publish(session, ...)`.
An exception retries the message, then sends it to the dead-letter topic.
"""

import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from payment_service.events import (
    PLACE_ORDER_AUTHORIZE_PAYMENT,
    InventoryRejected,
    OrderCancelled,
    OrderCreated,
    PaymentAuthorized,
    PaymentRefunded,
    publish,
)
from payment_service.models import Payment


async def on_order_created(session: AsyncSession, event: OrderCreated) -> None:
    """Step 'authorize_payment' of saga 'place_order': publish payment.authorized when it succeeds, payment.failed when it fails. The default always succeeds, recording a Payment AUTHORIZED."""
    if await PLACE_ORDER_AUTHORIZE_PAYMENT.apply(session, event.order_id):
        payment = Payment(order_id=event.order_id, amount=event.amount, status="AUTHORIZED")
        session.add(payment)
        await session.flush()  # gives the row its id
        logging.getLogger(__name__).info(
            "authorize_payment.applied",
            extra={"order_id": str(event.order_id), "payment_id": str(payment.id)},
        )
        await publish(
            session,
            PaymentAuthorized.model_validate(
                {"order_id": event.order_id, "payment_id": payment.id, "amount": payment.amount}
            ),
        )


async def on_inventory_rejected(session: AsyncSession, event: InventoryRejected) -> None:
    """Compensation of step 'authorize_payment' (saga 'place_order'): undo it, then publish payment.refunded; nothing when it never acted."""
    if await PLACE_ORDER_AUTHORIZE_PAYMENT.compensate(session, event.order_id):
        payment = await session.scalar(
            sa.select(Payment).where(Payment.order_id == event.order_id, Payment.status == "AUTHORIZED")
        )
        if payment is not None:
            payment.status = "REFUNDED"
            logging.getLogger(__name__).info(
                "authorize_payment.compensated",
                extra={"order_id": str(event.order_id), "payment_id": str(payment.id)},
            )
            await publish(
                session,
                PaymentRefunded.model_validate(
                    {"order_id": event.order_id, "payment_id": payment.id, "amount": payment.amount}
                ),
            )


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    """Compensation of step 'authorize_payment' (saga 'place_order'): undo it, then publish payment.refunded; nothing when it never acted."""
    if await PLACE_ORDER_AUTHORIZE_PAYMENT.compensate(session, event.order_id):
        payment = await session.scalar(
            sa.select(Payment).where(Payment.order_id == event.order_id, Payment.status == "AUTHORIZED")
        )
        if payment is not None:
            payment.status = "REFUNDED"
            logging.getLogger(__name__).info(
                "authorize_payment.compensated",
                extra={"order_id": str(event.order_id), "payment_id": str(payment.id)},
            )
            await publish(
                session,
                PaymentRefunded.model_validate(
                    {"order_id": event.order_id, "payment_id": payment.id, "amount": payment.amount}
                ),
            )
