"""The writer never leaves a half-written tree and records a baseline for regen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msgen.writer import BASELINE, MANIFEST, digest, write_project


def test_writes_files_manifest_and_baseline(tmp_path: Path) -> None:
    files = {"a.txt": "A\n", "dir/b.py": "print('b')\n"}
    write_project(tmp_path / "p", files, "f" * 64)
    root = tmp_path / "p"
    assert (root / "dir/b.py").read_text() == "print('b')\n"
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["files"] == {"a.txt": digest("A\n"), "dir/b.py": digest("print('b')\n")}
    assert json.loads((root / BASELINE).read_text()) == files


def test_a_failure_while_writing_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"f{i}.txt": str(i) for i in range(20)}
    real = Path.write_text
    calls = {"n": 0}

    def flaky(self: Path, text: str, *args: object, **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] == 10:
            raise OSError(28, "No space left on device")
        return real(self, text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", flaky)
    with pytest.raises(OSError):
        write_project(tmp_path / "p", files, "0" * 64)
    assert list(tmp_path.iterdir()) == []  # neither the project nor the staging directory


def test_forced_write_into_an_existing_project_keeps_other_files(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write_project(root, {"a.txt": "1"}, "0" * 64)
    (root / "mine.txt").write_text("mine")
    write_project(root, {"a.txt": "2"}, "1" * 64, force=True)
    assert (root / "a.txt").read_text() == "2"
    assert (root / "mine.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["p"]
