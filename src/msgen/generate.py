"""The pipeline in one call: load -> resolve -> render."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from msgen import model as m
from msgen.loader import load_spec
from msgen.render import render_system
from msgen.resolve import resolve


@dataclass(frozen=True)
class Generated:
    system: m.System
    files: dict[str, str]


def load_system(spec_path: Path) -> m.System:
    """Load and check a spec; raise SpecError with every problem."""
    return resolve(load_spec(spec_path))


def generate(spec_path: Path) -> Generated:
    loaded = load_spec(spec_path)
    system = resolve(loaded)
    return Generated(system=system, files=render_system(system, loaded.text))
