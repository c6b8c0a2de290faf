"""The catalogue of products and their prices."""
