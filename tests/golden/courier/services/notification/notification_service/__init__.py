"""Tells customers what happened to their deliveries."""
