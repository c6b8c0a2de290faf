"""Spec text in the model: the type that marks free text from the spec, and what free text may hold.

The resolver wraps every free-text value of the spec in `SpecText`; the renderers print it only
through the escapers of msgen.render.escape (which explains the rule). Both import this module, so
the resolver needs nothing of the renderer.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, SupportsIndex


class SpecText(str):
    """Free text from the spec: printable only through an escaper for the target language."""

    __slots__ = ()

    def __format__(self, format_spec: str) -> str:
        raise TypeError(f"spec text {str.__repr__(self)[:60]} printed raw: use an escaper of msgen.render.escape")

    # The mark sticks through str() (which Jinja's own filters call) and the usual edits, so that
    # `summary.rstrip(".")` is still spec text; `plain()` is the one deliberate way to drop it.
    def __str__(self) -> SpecText:
        return self

    def __add__(self, other: str) -> SpecText:
        return SpecText(str.__add__(self, other))

    def __radd__(self, other: str) -> SpecText:
        return SpecText(str.__add__(other, self))

    def __getitem__(self, key: SupportsIndex | slice) -> SpecText:
        return SpecText(str.__getitem__(self, key))

    def strip(self, chars: str | None = None) -> SpecText:
        return SpecText(str.strip(self, chars))

    def lstrip(self, chars: str | None = None) -> SpecText:
        return SpecText(str.lstrip(self, chars))

    def rstrip(self, chars: str | None = None) -> SpecText:
        return SpecText(str.rstrip(self, chars))

    def replace(self, old: str, new: str, count: SupportsIndex = -1) -> SpecText:
        return SpecText(str.replace(self, old, new, count))

    def lower(self) -> SpecText:
        return SpecText(str.lower(self))

    def upper(self) -> SpecText:
        return SpecText(str.upper(self))

    def capitalize(self) -> SpecText:
        return SpecText(str.capitalize(self))


def spec_text(value: Any) -> Any:
    """Wrap a str from the spec as SpecText; other values (numbers, None) pass through."""
    return SpecText(value) if isinstance(value, str) else value


def plain(value: str) -> str:
    """The characters of `value` as a plain str (for computing, never for printing)."""
    return str.__str__(value)


# Characters the resolver refuses in free text: C0 and C1 controls (tab and newline excepted), and
# the Unicode line and paragraph separators, which YAML, Python and Markdown each read differently.
REFUSED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def refused_characters(text: str, *, newlines: bool = True) -> str | None:
    """Why `text` cannot be free text in a spec (None: it can); the offender is named, never echoed."""
    if not newlines and ("\n" in text or "\t" in text):
        return "must be one line (no newline or tab)"
    found = REFUSED.search(text)
    if found is None:
        return None
    char = found.group()
    name = unicodedata.name(char, "a control character")
    return f"contains U+{ord(char):04X} ({name.lower()}): control characters cannot be written to generated files"
