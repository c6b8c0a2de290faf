"""Business logic of the courier service. These modules are yours to edit."""

from courier_service.handlers import assignment, courier, events

__all__ = [
    "assignment",
    "courier",
    "events",
]
