"""The writer never leaves a half-written tree and records a baseline for regen."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from msgen.writer import BASELINE, MANIFEST, digest, metadata_files, write_project


def test_writes_files_manifest_and_baseline(tmp_path: Path) -> None:
    files = {"a.txt": "A\n", "dir/b.py": "print('b')\n"}
    write_project(tmp_path / "p", files, "f" * 64)
    root = tmp_path / "p"
    assert (root / "dir/b.py").read_text() == "print('b')\n"
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["files"] == {"a.txt": digest("A\n"), "dir/b.py": digest("print('b')\n")}
    assert json.loads((root / BASELINE).read_text()) == files


def test_a_failure_while_writing_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"d{i % 3}/f{i}.txt": str(i) for i in range(20)}
    real = os.write
    calls = {"n": 0}

    def flaky(descriptor: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 10:
            raise OSError(28, "No space left on device")
        return real(descriptor, data)

    monkeypatch.setattr(os, "write", flaky)
    with pytest.raises(OSError, match="No space left"):
        write_project(tmp_path / "p", files, "0" * 64)
    assert list(tmp_path.iterdir()) == []  # neither the project nor the staging directory


def test_the_baseline_is_json_dumps_of_the_files() -> None:
    files = {"b.py": "x = 'é'\n\t\"\\\x00\u2028😀", "a/c.txt": "", "a.txt": "A\n"}
    assert metadata_files(files, "0" * 64)[BASELINE] == json.dumps(files, indent=1, sort_keys=True) + "\n"
    assert metadata_files({}, "0" * 64)[BASELINE] == json.dumps({}, indent=1, sort_keys=True) + "\n"


def test_forced_write_into_an_existing_project_keeps_other_files(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_project(root, {"a.txt": "1"}, "0" * 64)
    (root / "mine.txt").write_text("mine")
    write_project(root, {"a.txt": "2"}, "1" * 64, force=True)
    assert (root / "a.txt").read_text() == "2"
    assert (root / "mine.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["p"]
