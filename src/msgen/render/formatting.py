"""Format generated Python with ruff, in one batch, with the project's own settings."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from functools import cache
from importlib import util
from pathlib import Path

from ruff.__main__ import find_ruff_bin

from msgen.caches import cache_folder, read_checked, write_checked
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
    """Sort imports and format every .py file; other files pass through untouched.

    What ruff made of a batch is kept in msgen's cache folder (formatted/), one entry per batch's
    shape: ruff's binary and version, the settings (pyproject.toml) and every Python file's path,
    which is all that ruff's fixes and formatting of one file depend on besides its own text. A
    file whose text ruff formatted before, in a batch of the same shape, is taken from there; ruff
    runs on the others only (`msgen new` of the same spec again, `regen`'s two renderings).
    """
    python = {path: text for path, text in files.items() if path.endswith(".py")}
    if not python:
        return files
    ruff = find_ruff_bin()
    settings = files.get("pyproject.toml", "")
    folder = cache_folder("formatted")
    entry = _entry_name(ruff, settings, python) if folder is not None else None
    kept = _load(folder, entry) if folder is not None and entry is not None else {}
    out = dict(files)
    digests = {path: _digest(text) for path, text in python.items()}
    todo = []
    for path, digest in digests.items():
        known = kept.get(path, {}).get(digest)
        if known is None:
            todo.append(path)
        else:
            out[path] = known
    if todo:
        out.update(_ruff(ruff, settings, python, todo))
        if folder is not None and entry is not None:
            _keep(folder, entry, kept, {path: (digests[path], out[path]) for path in python})
    return out


def _ruff(ruff: str, settings: str, python: dict[str, str], todo: list[str]) -> dict[str, str]:
    """ruff's fixes and formatting of the files `todo`, in a copy of the whole batch (the tree it sees is the batch's)."""
    with tempfile.TemporaryDirectory(prefix="msgen-fmt-", dir=scratch_root()) as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text(settings)
        for path, text in python.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        if len(todo) == len(python):
            chunks = [["."]]
        else:  # named files: --force-exclude applies the settings' exclusions to them, as to a walk of "."
            chunks = [["--force-exclude", *todo[i : i + _CHUNK]] for i in range(0, len(todo), _CHUNK)]
        # `format` is not quiet: its errors name the file, line and column it cannot parse.
        for args in (["check", "--fix-only", "--select", "I,F401", "--exit-zero", "--quiet"], ["format"]):
            for chunk in chunks:
                done = subprocess.run(
                    [ruff, *args, "--no-cache", *chunk], cwd=root, capture_output=True, text=True, check=False
                )
                if done.returncode != 0:
                    detail = (done.stderr or done.stdout).strip() or f"ruff exited with code {done.returncode}"
                    raise FormatError(
                        "ruff could not format the generated code; this is a bug in msgen, please report it with "
                        f"the spec that caused it:\n{detail}"
                    )
        return {path: (root / path).read_text() for path in todo}


_CHUNK = 2000  # named files per ruff run: the command line stays far below the system's limit
_Kept = dict[str, dict[str, str]]  # path -> digest of the text ruff was given -> what ruff made of it


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _entry_name(ruff: str, settings: str, python: dict[str, str]) -> str | None:
    try:
        binary = os.stat(ruff)
    except OSError:
        return None
    shape = hashlib.sha256(
        "\0".join([str(Path(ruff).resolve()), str(binary.st_size), str(binary.st_mtime_ns), ruff_version()]).encode()
    )
    shape.update(b"\0" + settings.encode("utf-8", "surrogatepass"))
    for path in sorted(python):
        shape.update(b"\0" + path.encode("utf-8", "surrogatepass"))
    return f"{shape.hexdigest()}.json"


@cache
def ruff_version() -> str:
    """ruff's version from its dist-info folder (importlib.metadata scans every package: too slow here)."""
    spec = util.find_spec("ruff")
    if spec is None or spec.origin is None:
        return ""
    found = sorted(p.name for p in Path(spec.origin).parents[1].glob("ruff-*.dist-info"))
    return found[-1] if found else ""


def _load(folder: Path, entry: str) -> _Kept:
    data = read_checked(folder, entry)
    if data is None:
        return {}
    try:
        loaded = json.loads(data)
    except ValueError:  # damaged: formatted again
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {
        path: {d: t for d, t in versions.items() if isinstance(t, str)}
        for path, versions in loaded.items()
        if isinstance(versions, dict)
    }


def _keep(folder: Path, entry: str, kept: _Kept, current: dict[str, tuple[str, str]]) -> None:
    """This batch's texts, with the one other version of each file kept before (regen renders two specs)."""
    merged: _Kept = {}
    for path, (digest, text) in current.items():
        versions = {d: t for d, t in kept.get(path, {}).items() if d != digest}
        merged[path] = {**dict(list(versions.items())[-1:]), digest: text}
    write_checked(folder, entry, json.dumps(merged, ensure_ascii=False).encode("utf-8", "surrogatepass"))
