"""Business logic of the inventory service. These modules are yours to edit."""

from inventory_service.handlers import events, operations, reservation, stock_item

__all__ = [
    "events",
    "operations",
    "reservation",
    "stock_item",
]
