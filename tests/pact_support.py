"""Running a generated project's consumer Pact tests, as its own suite runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def write_pacts_from_consumer_tests(project: Path, services: list[str], directory: Path) -> dict[str, str]:
    """Run each service's tests/test_pact_consumer.py with PACT_DIR=directory; the pacts they wrote, by file name."""
    for service in services:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_pact_consumer.py"],
            cwd=project / "services" / service,
            env={**os.environ, "PACT_DIR": str(directory)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"{service}:\n{done.stdout}{done.stderr}"
    return {p.name: p.read_text() for p in sorted(directory.glob("*.json"))}


def committed_pacts(project: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((project / "pacts").glob("*.json"))}
