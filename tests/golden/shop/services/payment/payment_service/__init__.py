"""Charges orders through the payment provider, and refunds them."""
