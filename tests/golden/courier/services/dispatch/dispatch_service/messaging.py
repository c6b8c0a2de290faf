"""What the dispatch service publishes and consumes (generated from the spec)."""

from msgen_runtime.messaging.consumer import Subscription
from msgen_runtime.messaging.runtime import MessagingConfig
from msgen_runtime.messaging.saga import saga_handler

from dispatch_service.events import (
    BOOK_DELIVERY,
    CHARGE_CAPTURED,
    CHARGE_DECLINED,
    COURIER_ASSIGNED,
    COURIER_UNAVAILABLE,
    DELIVERY_CANCELLED,
    DELIVERY_CHARGED,
    DELIVERY_PRICED,
    DELIVERY_REQUESTED,
    DELIVERY_SCHEDULED,
)
from dispatch_service.models import DeadLetter, InboxMessage, OutboxMessage, OutboxPartition

MESSAGING = MessagingConfig(
    system="courier",
    default_broker="rabbitmq",
    topics=[
        "charge.captured",
        "charge.declined",
        "courier.assigned",
        "courier.suspended",
        "courier.unavailable",
        "delivery.cancelled",
        "delivery.charged",
        "delivery.priced",
        "delivery.requested",
        "delivery.scheduled",
    ],
    outbox=OutboxMessage,
    partitions=OutboxPartition,
    published=[DELIVERY_REQUESTED, DELIVERY_PRICED, DELIVERY_CHARGED, DELIVERY_SCHEDULED, DELIVERY_CANCELLED],
    inbox=InboxMessage,
    dead_letters=DeadLetter,
    subscriptions=[
        Subscription(COURIER_ASSIGNED, saga_handler(BOOK_DELIVERY, "courier.assigned")),
        Subscription(COURIER_UNAVAILABLE, saga_handler(BOOK_DELIVERY, "courier.unavailable")),
        Subscription(CHARGE_CAPTURED, saga_handler(BOOK_DELIVERY, "charge.captured")),
        Subscription(CHARGE_DECLINED, saga_handler(BOOK_DELIVERY, "charge.declined")),
    ],
    sagas=[BOOK_DELIVERY],
)
