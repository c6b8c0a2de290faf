"""Business logic of the user service. These modules are yours to edit."""

from user_service.handlers import user

__all__ = [
    "user",
]
