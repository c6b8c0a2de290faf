"""Business logic of the billing service. These modules are yours to edit."""

from billing_service.handlers import charge, events

__all__ = [
    "charge",
    "events",
]
