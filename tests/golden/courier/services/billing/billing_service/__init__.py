"""Charges the delivery fee to the customer's card, and refunds it."""
