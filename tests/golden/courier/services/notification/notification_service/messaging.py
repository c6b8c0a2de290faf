"""What the notification service publishes and consumes (generated from the spec)."""

from msgen_runtime.messaging.consumer import Subscription
from msgen_runtime.messaging.runtime import MessagingConfig

from notification_service.events import DELIVERY_CANCELLED, DELIVERY_SCHEDULED
from notification_service.handlers import events
from notification_service.models import DeadLetter, InboxMessage

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
    inbox=InboxMessage,
    dead_letters=DeadLetter,
    subscriptions=[
        Subscription(DELIVERY_SCHEDULED, events.on_delivery_scheduled, batch=False),
        Subscription(DELIVERY_CANCELLED, events.on_delivery_cancelled, batch=False),
    ],
)
