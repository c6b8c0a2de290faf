"""HTTP API of the customer service."""
