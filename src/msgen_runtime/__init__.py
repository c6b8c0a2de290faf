"""msgen's runtime: what every generated service shares, owned and tested by msgen."""

__all__: list[str] = []
