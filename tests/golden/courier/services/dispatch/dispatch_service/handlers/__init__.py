"""Business logic of the dispatch service. These modules are yours to edit."""

from dispatch_service.handlers import delivery

__all__ = [
    "delivery",
]
