"""The courier API gateway: the public API's front door, generated from the spec."""
