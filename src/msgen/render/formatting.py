"""Format generated Python with ruff, in one batch, with the project's own settings."""

from __future__ import annotations

import os
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from ruff.__main__ import find_ruff_bin

from msgen.errors import MsgenError


class FormatError(MsgenError):
    """ruff refused generated code: a bug in msgen, never in the user's spec."""


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
        for args in (["check", "--fix-only", "--select", "I,F401", "--exit-zero"], ["format"]):
            done = subprocess.run(
                [ruff, *args, "--no-cache", "--quiet", "."], cwd=root, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise FormatError(f"ruff could not format the generated code:\n{done.stderr or done.stdout}")
        out = dict(files)
        for path in python:
            out[path] = (root / path).read_text()
    return out
