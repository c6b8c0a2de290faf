"""What the billing service publishes and consumes (generated from the spec)."""

from msgen_runtime.messaging.consumer import Subscription
from msgen_runtime.messaging.runtime import MessagingConfig

from billing_service.events import CHARGE_CAPTURED, CHARGE_DECLINED, DELIVERY_CANCELLED, DELIVERY_CHARGED
from billing_service.handlers import events
from billing_service.models import DeadLetter, InboxMessage, OutboxMessage, OutboxPartition

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
    published=[CHARGE_CAPTURED, CHARGE_DECLINED],
    inbox=InboxMessage,
    dead_letters=DeadLetter,
    subscriptions=[
        Subscription(DELIVERY_CHARGED, events.on_delivery_charged),
        Subscription(DELIVERY_CANCELLED, events.on_delivery_cancelled),
    ],
)
