"""Business logic of the product service. These modules are yours to edit."""

from product_service.handlers import product

__all__ = [
    "product",
]
