"""msgen's own code meets the bar it sets for generated code: ruff clean and mypy --strict."""

from __future__ import annotations

import sys

from ruff.__main__ import find_ruff_bin

from tests.conftest import ROOT
from tests.processes import run


def test_ruff_lint_and_format() -> None:
    ruff = find_ruff_bin()
    for args in (["check", "src", "tests", "benchmarks"], ["format", "--check", "src", "tests", "benchmarks"]):
        done = run([ruff, *args], cwd=ROOT, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict() -> None:
    done = run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"], cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
