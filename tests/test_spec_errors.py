"""The corpus of broken specs: every case must fail with exactly the messages we expect.

Each folder under ``tests/specs/`` is one case: ``spec.yaml`` is a small valid spec broken in
one way (or a few, for the "several problems" cases), and ``expected.txt`` is the exact stderr
of ``msgen validate spec.yaml`` run inside that folder, ending with the
"N problems found; nothing was written." summary. Every case must exit with code 2, print
nothing on stdout and never show a traceback.

To add a case, create ``tests/specs/<case-name>/spec.yaml``. To (re)write the expected
output of every case from what the CLI prints now, run::

    MSGEN_UPDATE_EXPECTED=1 python -m pytest tests/test_spec_errors.py

then read the changed ``expected.txt`` files (``git diff tests/specs``) before committing:
the update still checks the exit code, the empty stdout and the absence of tracebacks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SPECS = Path(__file__).parent / "specs"
CASES = sorted(p.name for p in SPECS.iterdir() if (p / "spec.yaml").is_file())
UPDATE = os.environ.get("MSGEN_UPDATE_EXPECTED") == "1"


def run_msgen(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, with a wide terminal and no colours."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "msgen", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def test_corpus_is_not_empty() -> None:
    assert len(CASES) >= 40, CASES


@pytest.mark.parametrize("case", CASES)
def test_broken_spec_is_reported(case: str) -> None:
    folder = SPECS / case
    done = run_msgen("validate", "spec.yaml", cwd=folder)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, f"exit code {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.stdout == ""
    expected_file = folder / "expected.txt"
    if UPDATE:
        expected_file.write_text(done.stderr, encoding="utf-8")
        return
    assert expected_file.is_file(), f"{expected_file} is missing: run with MSGEN_UPDATE_EXPECTED=1"
    assert done.stderr == expected_file.read_text(encoding="utf-8")


def test_new_on_a_broken_spec_writes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "out"
    spec = SPECS / "ref-unknown-entity" / "spec.yaml"
    done = run_msgen("new", str(spec), "-o", str(output), cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.endswith("1 problem found; nothing was written.\n")
    assert not output.exists()
    assert list(tmp_path.iterdir()) == []
