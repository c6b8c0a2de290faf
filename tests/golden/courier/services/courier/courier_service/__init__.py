"""The couriers, and which delivery each one carries."""
