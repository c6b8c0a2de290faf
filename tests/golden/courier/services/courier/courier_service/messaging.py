"""What the courier service publishes and consumes (generated from the spec)."""

from msgen_runtime.messaging.consumer import Subscription
from msgen_runtime.messaging.runtime import MessagingConfig

from courier_service.events import (
    CHARGE_DECLINED,
    COURIER_ASSIGNED,
    COURIER_SUSPENDED,
    COURIER_UNAVAILABLE,
    DELIVERY_CANCELLED,
    DELIVERY_PRICED,
)
from courier_service.handlers import events
from courier_service.models import DeadLetter, InboxMessage, OutboxMessage, OutboxPartition

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
    published=[COURIER_ASSIGNED, COURIER_UNAVAILABLE, COURIER_SUSPENDED],
    inbox=InboxMessage,
    dead_letters=DeadLetter,
    subscriptions=[
        Subscription(DELIVERY_PRICED, events.on_delivery_priced),
        Subscription(CHARGE_DECLINED, events.on_charge_declined),
        Subscription(DELIVERY_CANCELLED, events.on_delivery_cancelled),
    ],
)
