"""What the notification service publishes and consumes (generated from the spec)."""

from msgen_runtime.messaging.consumer import Subscription
from msgen_runtime.messaging.runtime import MessagingConfig

from notification_service.events import ORDER_CANCELLED, ORDER_CONFIRMED
from notification_service.handlers import events
from notification_service.models import DeadLetter, InboxMessage

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
    inbox=InboxMessage,
    dead_letters=DeadLetter,
    subscriptions=[
        Subscription(ORDER_CONFIRMED, events.on_order_confirmed, batch=False),
        Subscription(ORDER_CANCELLED, events.on_order_cancelled, batch=False),
    ],
)
