"""HTTP API of the notification service."""
