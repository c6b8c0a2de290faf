"""Example strings that fit a field's constraints: the resolver checks one exists, the renderers write them."""

from __future__ import annotations

from typing import Any

from msgen.patterns import pattern_matches

_STRING_CANDIDATES = ("Example", "example", "EXAMPLE-1", "EX", "ex", "A1", "1", "a", "A", "example-1")


def string_example(
    constraints: dict[str, Any], given: Any = None, *, seed: int = 0, kind: str = "string"
) -> str | None:
    """A string that fits length and pattern, or None when none is found (then the spec must give one)."""
    low = constraints.get("min_length", 0)
    high = constraints.get("max_length", 255)
    pattern = constraints.get("pattern")
    if given is not None:
        return str(given)
    candidates = [c for c in _STRING_CANDIDATES[seed:] + _STRING_CANDIDATES[:seed]]
    if kind == "text":
        candidates = ["Some example text.", *candidates]
    for base in candidates:
        for text in (base, (base * high)[:high], (base * max(low, 1))[: max(low, 1)]):
            if low <= len(text) <= high and (pattern is None or pattern_matches(pattern, text)):
                return text
    return None
