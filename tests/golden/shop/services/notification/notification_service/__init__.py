"""Tells customers what happened to their orders."""
