"""msgen: one YAML domain spec in, a production-shaped microservice system out."""

__version__ = "0.1.0"
