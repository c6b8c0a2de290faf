"""Business logic of the order service. These modules are yours to edit."""

from order_service.handlers import order

__all__ = [
    "order",
]
