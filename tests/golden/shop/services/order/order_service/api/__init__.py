"""HTTP API of the order service."""
