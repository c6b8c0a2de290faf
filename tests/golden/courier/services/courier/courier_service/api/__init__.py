"""HTTP API of the courier service."""
