"""msgen's cache folder, $XDG_CACHE_HOME/msgen: what generation keeps between runs, never inside a project.

Each kind of entry has its own folder (templates, schema, wheels, ...), used only if it is a real
folder of this user that nobody else can write. Entries are named by a digest of everything they are
made from, written atomically and checked when read: a missing, damaged or unreadable entry is made
again, so a cache only ever makes a run faster. ``MSGEN_NO_CACHE=1`` turns every cache off.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path

from msgen.files import replace_file

MAX_ENTRY_BYTES = 64 * 2**20
FOLDER_BYTES = 64 * 2**20  # a folder's entries beyond this, oldest first, are removed (once a run)
_pruned: set[Path] = set()


def _own_folder(folder: Path) -> bool:
    """Create `folder` (mode 0700) if needed; True if it is a real folder of this user that no one else can write."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for part in (folder.parent, folder):
            info = os.lstat(part)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
                return False
    except OSError:
        return False
    return True


def cache_folder(name: str) -> Path | None:
    """$XDG_CACHE_HOME/msgen/<name> (by default ~/.cache/msgen/<name>) if it is the user's own; MSGEN_NO_CACHE=1: None."""
    if os.environ.get("MSGEN_NO_CACHE") or not hasattr(os, "getuid"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "msgen" / name
    return folder if _own_folder(folder) else None


def read_entry(folder: Path, name: str) -> bytes | None:
    """The bytes of entry `name` in `folder`; None if it is missing, not a regular file, too large or unreadable."""
    try:
        descriptor = os.open(folder / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY_BYTES:
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read(MAX_ENTRY_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(descriptor)


def write_entry(folder: Path, name: str, data: bytes) -> None:
    """Keep `data` as entry `name` in `folder`, atomically; a folder that cannot be written is left as it is."""
    with contextlib.suppress(OSError):
        replace_file(folder / name, data)
    prune(folder)


def prune(folder: Path, limit: int = FOLDER_BYTES) -> None:
    """Remove the oldest entries of `folder` beyond `limit` bytes in all; once a run for each folder."""
    if folder in _pruned:
        return
    _pruned.add(folder)
    entries: list[tuple[int, int, str]] = []
    try:
        with os.scandir(folder) as found:
            for entry in found:
                if entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    entries.append((info.st_mtime_ns, info.st_size, entry.path))
        total = 0
        for _, size, path in sorted(entries, reverse=True):
            total += size
            if total > limit:
                os.unlink(path)
    except OSError:
        pass


def read_checked(folder: Path, name: str) -> bytes | None:
    """An entry written by write_checked, if its bytes still have the digest it was written with."""
    data = read_entry(folder, name)
    if data is None or data[64:65] != b"\n":
        return None
    body = data[65:]
    return body if hashlib.sha256(body).hexdigest().encode() == data[:64] else None


def write_checked(folder: Path, name: str, body: bytes) -> None:
    """Keep `body` as entry `name`, after a line with its SHA-256 (read_checked verifies it)."""
    write_entry(folder, name, hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
