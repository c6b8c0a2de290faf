"""msgen's own code meets the bar it sets for generated code: ruff clean and mypy --strict."""

from __future__ import annotations

import subprocess
import sys

from ruff.__main__ import find_ruff_bin

from tests.conftest import ROOT


def test_ruff_lint_and_format() -> None:
    ruff = find_ruff_bin()
    for args in (["check", "src", "tests", "benchmarks"], ["format", "--check", "src", "tests", "benchmarks"]):
        done = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
