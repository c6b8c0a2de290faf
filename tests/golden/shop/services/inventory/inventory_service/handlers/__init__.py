"""Business logic of the inventory service. These modules are yours to edit."""

from inventory_service.handlers import operations, reservation, stock_item

__all__ = [
    "operations",
    "reservation",
    "stock_item",
]
