"""msgen's runtime: what every generated service shares, owned and tested by msgen.

Distributed on its own as ``msgen-runtime`` (runtime/pyproject.toml), versioned semantically: the public
API is what each public module lists in ``__all__`` (docs/runtime-api.md).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
