"""What the inventory service publishes and consumes (generated from the spec)."""

from msgen_runtime.messaging.consumer import Subscription
from msgen_runtime.messaging.runtime import MessagingConfig

from inventory_service.events import (
    INVENTORY_REJECTED,
    INVENTORY_RESERVED,
    ORDER_CANCELLED,
    ORDER_CREATED,
    PAYMENT_AUTHORIZED,
)
from inventory_service.handlers import events
from inventory_service.models import DeadLetter, InboxMessage, OutboxMessage, OutboxPartition

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
    published=[INVENTORY_RESERVED, INVENTORY_REJECTED],
    inbox=InboxMessage,
    dead_letters=DeadLetter,
    subscriptions=[
        Subscription(ORDER_CREATED, events.on_order_created),
        Subscription(PAYMENT_AUTHORIZED, events.on_payment_authorized),
        Subscription(ORDER_CANCELLED, events.on_order_cancelled),
    ],
)
