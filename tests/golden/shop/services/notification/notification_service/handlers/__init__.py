"""Business logic of the notification service. These modules are yours to edit."""

from notification_service.handlers import notification

__all__ = [
    "notification",
]
