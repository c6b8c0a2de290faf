"""HTTP API of the inventory service."""
