"""Spec patterns, checked and matched in linear time.

A spec's ``pattern`` ends up in the generated services, whose request models use
pydantic's default regex engine: Rust's ``regex`` crate, which matches in time
linear in the input and has no backtracking to exploit. msgen checks patterns with
that same engine, so a pattern is accepted only if the services can compile it,
and a default or example is matched against it without the catastrophic
backtracking Python's ``re`` shows on patterns such as ``^(a+)+$``.
"""

from __future__ import annotations

import functools
import re

from pydantic_core import SchemaError, SchemaValidator, core_schema

# Beyond this many characters a pattern is refused before any engine sees it.
MAX_PATTERN_LENGTH = 1000


class PatternError(ValueError):
    """A pattern the linear-time engine cannot compile; the message says why."""


@functools.lru_cache(maxsize=256)
def _validator(pattern: str) -> SchemaValidator:
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"it is {len(pattern)} characters long; at most {MAX_PATTERN_LENGTH} are allowed")
    try:
        return SchemaValidator(core_schema.str_schema(pattern=pattern, regex_engine="rust-regex"))
    except SchemaError as exc:
        raise PatternError(f"the services' regex engine cannot use it: {_reason(str(exc))}") from None


def _reason(text: str) -> str:
    """The one line of a regex compile error that says what is wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line.removeprefix("error:").strip()
    last = lines[-1] if lines else "it does not compile"
    return last.removeprefix("SchemaError:").strip()


def check_pattern(pattern: str) -> None:
    """Raise PatternError unless both the services' engine and Python's ``re`` compile `pattern`."""
    _validator(pattern)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise PatternError(f"it does not compile as a Python regular expression: {exc}") from None


def pattern_matches(pattern: str, text: str) -> bool:
    """Whether `pattern` matches somewhere in `text` (``re.search`` semantics), in linear time."""
    return _validator(pattern).isinstance_python(text)
