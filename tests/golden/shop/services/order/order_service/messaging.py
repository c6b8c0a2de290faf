"""What the order service publishes and consumes (generated from the spec)."""

from msgen_runtime.messaging.consumer import Subscription
from msgen_runtime.messaging.runtime import MessagingConfig
from msgen_runtime.messaging.saga import saga_handler

from order_service.events import (
    INVENTORY_REJECTED,
    INVENTORY_RESERVED,
    ORDER_CANCELLED,
    ORDER_CONFIRMED,
    ORDER_CREATED,
    PAYMENT_AUTHORIZED,
    PAYMENT_FAILED,
    PAYMENT_REFUNDED,
    PLACE_ORDER,
)
from order_service.models import DeadLetter, InboxMessage, OutboxMessage, OutboxPartition

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
    published=[ORDER_CREATED, ORDER_CONFIRMED, ORDER_CANCELLED],
    inbox=InboxMessage,
    dead_letters=DeadLetter,
    subscriptions=[
        Subscription(PAYMENT_AUTHORIZED, saga_handler(PLACE_ORDER, "payment.authorized")),
        Subscription(PAYMENT_FAILED, saga_handler(PLACE_ORDER, "payment.failed")),
        Subscription(INVENTORY_RESERVED, saga_handler(PLACE_ORDER, "inventory.reserved")),
        Subscription(INVENTORY_REJECTED, saga_handler(PLACE_ORDER, "inventory.rejected")),
        Subscription(PAYMENT_REFUNDED, saga_handler(PLACE_ORDER, "payment.refunded")),
    ],
    sagas=[PLACE_ORDER],
)
