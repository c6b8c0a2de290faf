"""Business logic of the notification service. These modules are yours to edit."""

from notification_service.handlers import events, notification

__all__ = [
    "events",
    "notification",
]
