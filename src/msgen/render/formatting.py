"""Format generated Python with ruff, in one batch, with the project's own settings."""

from __future__ import annotations

import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from ruff.__main__ import find_ruff_bin

from msgen.errors import EXIT_INTERNAL, MsgenError


class FormatError(MsgenError):
    """ruff refused generated code: a bug in msgen, never in the user's spec."""

    exit_code = EXIT_INTERNAL


@cache
def scratch_root() -> str | None:
    """Where ruff's copy of the generated code goes: memory (/dev/shm) when the machine has it.

    The copy lives for a fraction of a second, and a shop is hundreds of small files; on a disk-backed
    temporary folder creating them costs more than formatting them.
    """
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def format_python(files: dict[str, str]) -> dict[str, str]:
    """Sort imports and format every .py file; other files pass through untouched."""
    python = {path: text for path, text in files.items() if path.endswith(".py")}
    if not python:
        return files
    ruff = find_ruff_bin()
    with tempfile.TemporaryDirectory(prefix="msgen-fmt-", dir=scratch_root()) as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text(files.get("pyproject.toml", ""))
        for path, text in python.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        # `format` is not quiet: its errors name the file, line and column it cannot parse.
        for args in (["check", "--fix-only", "--select", "I,F401", "--exit-zero", "--quiet"], ["format"]):
            done = subprocess.run(
                [ruff, *args, "--no-cache", "."], cwd=root, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                detail = (done.stderr or done.stdout).strip() or f"ruff exited with code {done.returncode}"
                raise FormatError(
                    "ruff could not format the generated code; this is a bug in msgen, please report it with "
                    f"the spec that caused it:\n{detail}"
                )
        out = dict(files)
        for path in python:
            out[path] = (root / path).read_text()
    return out
