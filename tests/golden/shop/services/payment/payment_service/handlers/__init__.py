"""Business logic of the payment service. These modules are yours to edit."""

from payment_service.handlers import events, payment

__all__ = [
    "events",
    "payment",
]
