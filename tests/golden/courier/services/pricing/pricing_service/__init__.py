"""Tariffs per zone, and the quotes computed from them."""
