"""The generated shop's own service suites, each run once per test run on SQLite and shared by the files that need it.

A service's suite runs its consumer Pact tests too: they write the pacts into one session folder
(PACT_DIR), which the provider tests of the later suites read, and tests/test_pact.py compares with
the committed pacts. So the consumer tests are not run a second time just to write the pacts.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from filelock import FileLock

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
    """Each service's suite on SQLite, run at most once in a test run; the pacts its consumer tests wrote.

    `folder` is the run's (tests/conftest.py run_folder): under xdist every worker shares it, so the first
    worker to need a suite runs it, in its own copy of the project, and the others read its output there.
    One file lock serializes the suites: a suite removes and writes its own pacts in `pacts`, which the
    provider tests of the others read.
    """

    def __init__(self, root: Path, folder: Path) -> None:
        self.root = root
        self.folder = folder
        self.pacts = folder / "pacts"
        with self._lock():
            if not self.pacts.is_dir():
                shutil.rmtree(folder / "pacts.tmp", ignore_errors=True)  # left by an interrupted copy
                pact_copy(root, folder / "pacts.tmp")
                (folder / "pacts.tmp").rename(self.pacts)

    def _lock(self) -> FileLock:
        return FileLock(self.folder / "suites.lock")

    def sqlite(self, service: str) -> str:
        """The output of the service's suite on SQLite (run on first use)."""
        kept = self.folder / f"{service}.out"
        with self._lock():
            if not kept.is_file():
                own = f"{service}-service-"
                for pact in self.pacts.glob(f"{own}*.json"):
                    pact.unlink()  # written again by this run's consumer tests, or missing
                output = run_suite(self.root / "services" / service, {"PACT_DIR": str(self.pacts)})
                written = sorted(p.name for p in self.pacts.glob(f"{own}*.json"))
                (self.folder / f"{service}.written").write_text(json.dumps(written))
                kept.write_text(output)
            return kept.read_text()

    @property
    def written(self) -> dict[str, set[str]]:
        """The pacts each service's suite wrote, by service (the suites run so far)."""
        return {p.stem: set(json.loads(p.read_text())) for p in self.folder.glob("*.written")}
