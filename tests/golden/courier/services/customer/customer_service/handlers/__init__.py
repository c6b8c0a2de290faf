"""Business logic of the customer service. These modules are yours to edit."""

from customer_service.handlers import customer

__all__ = [
    "customer",
]
