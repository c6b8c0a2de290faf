"""Business logic of the pricing service. These modules are yours to edit."""

from pricing_service.handlers import operations, tariff

__all__ = [
    "operations",
    "tariff",
]
