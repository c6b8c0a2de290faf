"""The people who book deliveries."""
