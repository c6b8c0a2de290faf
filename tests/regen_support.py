"""Helpers of the regen, gates and add-service tests: projects in temporary folders, spec edits."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from msgen.generate import Generated, generate
from msgen.writer import write_project
from tests.conftest import ROOT
from tests.processes import run

# The shop as the previous msgen release generated it, .msgen/ included (tests/fixtures/make_shop_previous.py).
PREVIOUS_SHOP = ROOT / "tests" / "fixtures" / "shop-previous.tar.gz"

# A small spec with everything regen deals with: entities, a crud API, a custom
# operation, an event between two services. It renders in a fraction of the shop's time.
SMALL_SPEC = """\
# A small system for the regen tests.
msgen: 1
system:
  name: mini
services:
  catalog:
    description: Items for sale.
    entities:
      Item:
        fields:
          name: { type: string, max_length: 100 }
          note: { type: text, required: false }
          price: { type: decimal, min: 0, precision: 12, scale: 2 }
    api:
      crud:
        Item:
          scopes: { read: [catalog:read], write: [catalog:write] }
  stock:
    description: How many of each item there are.
    entities:
      Level:
        fields:
          item_id: { type: ref, to: catalog.Item }
          quantity: { type: int, min: 0 }
    api:
      crud:
        Level:
          scopes: { read: [stock:read], write: [stock:write] }
events:
  item.priced:
    publisher: catalog
    consumers: [stock]
    key: item_id
    fields:
      item_id: uuid
      price: { type: decimal, precision: 12, scale: 2 }
"""


def write_generated(root: Path, generated: Generated) -> Path:
    write_project(root, generated.files, generated.system.spec_hash)
    return root


def new_project(tmp_path: Path, spec_text: str = SMALL_SPEC, name: str = "project") -> Path:
    """A project generated from `spec_text` into tmp_path/name."""
    spec = tmp_path / f"{name}.spec.yaml"
    spec.write_text(spec_text)
    return write_generated(tmp_path / name, generate(spec))


def edit_spec(root: Path, old: str, new: str) -> None:
    """Replace `old` by `new` in the project's msgen.yaml (exactly once)."""
    spec = root / "msgen.yaml"
    text = spec.read_text()
    assert text.count(old) == 1, f"{old!r} is not in the spec exactly once"
    spec.write_text(text.replace(old, new))


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (msgen's run folder aside), by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def msgen(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return run([sys.executable, "-m", "msgen", *args], cwd=cwd, env=env, timeout=120)


def git(root: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=env, check=True)
    return done.stdout


def commit_all(root: Path, message: str) -> None:
    """Commit everything in `root`'s work tree, making it a git repository first if it is none."""
    if not (root / ".git").exists():
        git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)


def git_status(root: Path) -> list[str]:
    """`git status --porcelain` of root, one entry per line (untracked files listed one by one)."""
    return git(root, "status", "--porcelain", "--untracked-files=all").splitlines()


def project_files(root: Path) -> dict[str, bytes]:
    """Every file of the project under root: like tree(), without git's own folder, nor the msgen-runtime
    wheel that msgen new (and msgen build) leave in wheels/: a build input, not a generated file, which
    regen leaves alone."""
    return {
        path: data
        for path, data in tree(root).items()
        if not path.startswith(".git/")
        and not (path.startswith("wheels/msgen_runtime-") or path == "wheels/.msgen-runtime.json")
    }


def msgen_new(spec: Path, out: Path) -> Path:
    """A fresh project from `spec`, made by the real `msgen new`."""
    done = msgen("new", str(spec), "-o", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def write_tree_archive(root: Path, archive: Path) -> None:
    """Every file under root in a .tar.gz that depends on nothing but their paths and bytes.

    Members in sorted order, mtime 0, owner root, mode 0644 (0755 for executables),
    and a gzip header without a file name or a time.
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    with archive.open("wb") as out, gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())


def extract_tree_archive(archive: Path, root: Path) -> Path:
    """The project stored by write_tree_archive, written under root."""
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(root, filter="data")
    return root
