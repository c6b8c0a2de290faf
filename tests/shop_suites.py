"""The generated shop's own service suites, each run once per session on SQLite and shared by the files that need it.

A service's suite runs its consumer Pact tests too: they write the pacts into one session folder
(PACT_DIR), which the provider tests of the later suites read, and tests/test_pact.py compares with
the committed pacts. So the consumer tests are not run a second time just to write the pacts.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tests.processes import run_ok

SUITE_TIMEOUT = 900  # seconds, scaled by MSGEN_TEST_TIMEOUT_SCALE


def suite_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without the generated suites' own variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "TEST_REDIS_URL", "PACT_DIR")}
    return {**env, **(extra or {})}


def run_suite(folder: Path, extra: dict[str, str] | None = None) -> str:
    """A generated suite (a service's or the gateway's) in its own process group; its output."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    return run_ok(command, cwd=folder, env=suite_env(extra), timeout=SUITE_TIMEOUT)


def pact_copy(root: Path, target: Path) -> Path:
    """A copy of the project's committed pacts: the generated shop itself stays as generated."""
    shutil.copytree(root / "pacts", target)
    return target


class ShopSuites:
    """Each service's suite on SQLite, run at most once; the pacts its consumer tests wrote."""

    def __init__(self, root: Path, pacts: Path) -> None:
        self.root = root
        self.pacts = pacts
        self.outputs: dict[str, str] = {}
        self.written: dict[str, set[str]] = {}

    def sqlite(self, service: str) -> str:
        """The output of the service's suite on SQLite (run on first use)."""
        if service not in self.outputs:
            own = f"{service}-service-"
            for pact in self.pacts.glob(f"{own}*.json"):
                pact.unlink()  # written again by this run's consumer tests, or missing
            output = run_suite(self.root / "services" / service, {"PACT_DIR": str(self.pacts)})
            self.written[service] = {p.name for p in self.pacts.glob(f"{own}*.json")}
            self.outputs[service] = output
        return self.outputs[service]
