"""Business logic of the notification service. These modules are yours to edit."""

from notification_service.handlers import events, notice

__all__ = [
    "events",
    "notice",
]
