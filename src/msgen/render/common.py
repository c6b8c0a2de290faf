"""Names and patterns several renderers share, in a module of their own so that sharing them makes no import cycle."""

from __future__ import annotations

import re

from msgen import model as m
from msgen.names import snake

PUBLIC_CONTRACT = "public"  # a service cannot take this name (resolve.py)

# PostgreSQL text cannot hold NUL characters: refuse them at the door (422), as the contract says.
NO_NUL_PATTERN = r"^[^\x00]*$"
URL_PATTERN = r"^https?://[^\s\x00]+$"


def sdk_package(system: m.System) -> str:
    return f"{snake(system.name)}_sdk"


def path_pattern(path: str) -> str:
    """A regular expression of a route's path: each {parameter} is one segment."""
    parts = re.split(r"\{[^/{}]+\}", path)
    return "[^/]+".join(re.escape(part) for part in parts)
