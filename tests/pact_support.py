"""Running a generated project's consumer Pact tests, as its own suite runs them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.processes import run


def write_pacts_from_consumer_tests(project: Path, services: list[str], directory: Path) -> dict[str, str]:
    """Run each service's tests/test_pact_consumer.py with PACT_DIR=directory; the pacts they wrote, by file name."""
    for service in services:
        done = run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_pact_consumer.py"],
            cwd=project / "services" / service,
            env={**os.environ, "PACT_DIR": str(directory)},
            timeout=600,
        )
        assert done.returncode == 0, f"{service}:\n{done.stdout}{done.stderr}"
    return {p.name: p.read_text() for p in sorted(directory.glob("*.json"))}


def committed_pacts(project: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((project / "pacts").glob("*.json"))}
