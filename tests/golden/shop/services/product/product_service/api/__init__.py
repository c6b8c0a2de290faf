"""HTTP API of the product service."""
