"""What the payment service publishes and consumes (generated from the spec)."""

from msgen_runtime.messaging.consumer import Subscription
from msgen_runtime.messaging.runtime import MessagingConfig

from payment_service.events import (
    INVENTORY_REJECTED,
    ORDER_CANCELLED,
    ORDER_CREATED,
    PAYMENT_AUTHORIZED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
)
from payment_service.handlers import events
from payment_service.models import DeadLetter, InboxMessage, OutboxMessage, OutboxPartition

MESSAGING = MessagingConfig(
    system="shop",
    default_broker="nats",
    topics=[
        "inventory.rejected",
        "inventory.reserved",
        "order.cancelled",
        "order.confirmed",
        "order.created",
        "payment.authorized",
        "payment.failed",
        "payment.refunded",
    ],
    outbox=OutboxMessage,
    partitions=OutboxPartition,
    published=[PAYMENT_AUTHORIZED, PAYMENT_FAILED, PAYMENT_REFUNDED],
    inbox=InboxMessage,
    dead_letters=DeadLetter,
    subscriptions=[
        Subscription(ORDER_CREATED, events.on_order_created),
        Subscription(INVENTORY_REJECTED, events.on_inventory_rejected),
        Subscription(ORDER_CANCELLED, events.on_order_cancelled),
    ],
)
