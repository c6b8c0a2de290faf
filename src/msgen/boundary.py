"""The project boundary: msgen reads and writes only regular files inside the project, never through a link.

A generated project is a folder anyone can edit, ``.msgen/`` included, so every
path msgen takes from it (a baseline or manifest entry, a file name found in a
folder) is checked first: a normalized relative path, no ``..``, no absolute or
drive path, no backslash, no NUL or other control character, nothing in
``.git/`` or ``.msgen/``. Every file is then reached from the project's root one
folder at a time with ``O_NOFOLLOW``, through file descriptors, so that a folder
swapped for a link between a check and a use is not followed either: a symbolic
link anywhere on the way (a folder or the file itself) is refused, never
followed and never replaced. What is read is bounded: regular files only (a FIFO
or a device is refused before it is opened), and at most a size limit.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from msgen.errors import MsgenError

MiB = 1024 * 1024
MAX_FILE_BYTES = 16 * MiB  # a project file msgen reads (generated files are a few kB)
MAX_METADATA_BYTES = 64 * MiB  # .msgen/baseline.json holds every generated file (the shop's: about 2 MB)

# Folders msgen never generates into: git's own, and msgen's provenance (written by msgen alone).
_RESERVED = (".git", ".msgen")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class BoundaryError(MsgenError):
    """A path msgen was given leaves the project, or a link or special file stands in the way."""

    exit_code = 2


def shown(value: object) -> str:
    """A path for a one-line message: control characters and very long names are escaped and cut."""
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 200 else text[:200] + "..."


def checked(entry: object, where: str, *, reserved: bool = True) -> str:
    """`entry` when it is a normalized relative path inside the project, or a BoundaryError naming it."""
    problem = _problem(entry, reserved=reserved)
    if problem is None:
        assert isinstance(entry, str)
        return entry
    raise BoundaryError(f"{where}: entry '{shown(entry)}' {problem}; msgen reads and writes only inside the project")


def _problem(entry: object, *, reserved: bool) -> str | None:
    if not isinstance(entry, str) or not entry:
        return "is not a file path"
    if "\x00" in entry:
        return "holds a NUL byte"
    if _CONTROL.search(entry):
        return "holds a control character"
    if "\\" in entry:
        return "holds a backslash"
    if entry.startswith("/") or _DRIVE.match(entry):
        return "is an absolute path"
    parts = entry.split("/")
    if ".." in parts:
        return "goes up with '..'"
    if any(part in ("", ".") for part in parts):
        return "is not a normalized path"
    if reserved and parts[0] in _RESERVED:
        return f"lies in {parts[0]}/, where msgen generates nothing"
    return None


class ProjectTree:
    """The project's folder; every path below it is reached without following a link."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- walking -------------------------------------------------------------------------

    @contextmanager
    def _parent(self, rel: str, *, create: bool = False) -> Iterator[int | None]:
        """A descriptor of the folder that holds `rel`'s last part; None when a folder on the way is missing."""
        parts = rel.split("/")
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            if create:
                raise MsgenError(f"{self.root} is not a folder: nothing can be written into it") from None
            yield None  # no project there: every file of it is absent
            return
        try:
            for i, name in enumerate(parts[:-1]):
                try:
                    inner = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        yield None
                        return
                    with suppress(FileExistsError):  # made meanwhile: opened (and checked) below
                        os.mkdir(name, dir_fd=fd)
                    inner = self._open_dir(fd, name, rel, parts[: i + 1])
                except OSError as exc:
                    raise self._refusal(fd, name, rel, parts[: i + 1], exc) from None
                os.close(fd)
                fd = inner
            yield fd
        finally:
            os.close(fd)

    def _open_dir(self, fd: int, name: str, rel: str, prefix: list[str]) -> int:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            raise self._refusal(fd, name, rel, prefix, exc) from None

    def _refusal(self, fd: int, name: str, rel: str, prefix: list[str], exc: OSError) -> MsgenError:
        where = "/".join(prefix)
        rel = rel.removesuffix("/.")  # a folder's own path, as check_folder and file_names walk it
        try:
            mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            return BoundaryError(
                f"{shown(where)} is a symbolic link, on the way to '{shown(rel)}': msgen never follows a link "
                "in the project (replace the link with a real folder or file)"
            )
        if exc.errno in (errno.ENOTDIR, errno.ELOOP) or (mode and not stat.S_ISDIR(mode)):
            return BoundaryError(f"{shown(where)} is not a folder, on the way to '{shown(rel)}': move it away")
        return MsgenError(f"cannot open {self.root / where}: {exc.strerror or exc}")

    # -- reading -------------------------------------------------------------------------

    def read_bytes(self, rel: str, *, limit: int = MAX_FILE_BYTES) -> bytes | None:
        """The file's bytes, None when it is absent; refused: a link, a special file, more than `limit` bytes."""
        with self._parent(rel) as fd:
            if fd is None:
                return None
            name = rel.rsplit("/", 1)[-1]
            try:
                before = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
            self._check_file(rel, before.st_mode, before.st_size, limit)
            try:
                handle = os.open(name, _FILE_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    self._check_file(rel, stat.S_IFLNK, 0, limit)
                raise MsgenError(f"cannot read {self.root / rel}: {exc.strerror or exc}") from None
            try:
                now = os.fstat(handle)
                self._check_file(rel, now.st_mode, now.st_size, limit)  # what was opened is what was checked
                chunks: list[bytes] = []
                size = 0
                while chunk := os.read(handle, min(limit + 1 - size, MiB) or 1):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        self._check_file(rel, stat.S_IFREG, size, limit)
                return b"".join(chunks)
            finally:
                os.close(handle)

    def read_text(self, rel: str, *, limit: int = MAX_FILE_BYTES) -> str | None:
        data = self.read_bytes(rel, limit=limit)
        return None if data is None else data.decode("utf-8", "surrogateescape")

    def mode(self, rel: str) -> int | None:
        """The permission bits of the regular file at `rel` (None: absent)."""
        with self._parent(rel) as fd:
            if fd is None:
                return None
            try:
                st = os.stat(rel.rsplit("/", 1)[-1], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
            self._check_file(rel, st.st_mode, 0, MAX_FILE_BYTES)
            return stat.S_IMODE(st.st_mode)

    def file_names(self, folder: str) -> list[str]:
        """The names in the project's `folder` (none when it is absent), sorted; refused: a link on the way."""
        with self._parent(f"{folder}/.") as fd:
            if fd is None:
                return []
            return sorted(os.listdir(fd))

    def _check_file(self, rel: str, mode: int, size: int, limit: int) -> None:
        if stat.S_ISLNK(mode):
            raise BoundaryError(
                f"{shown(rel)} is a symbolic link: msgen never follows a link in the project (replace it with a file)"
            )
        if stat.S_ISDIR(mode):
            raise BoundaryError(f"{shown(rel)} is a directory where msgen generates a file: move it away")
        if not stat.S_ISREG(mode):
            raise BoundaryError(f"{shown(rel)} is not a regular file (a FIFO, socket or device): move it away")
        if size > limit:
            raise BoundaryError(f"{shown(rel)} is larger than {limit // MiB} MiB: msgen does not read it")

    def check_writable(self, rel: str) -> None:
        """Refuse now what would refuse writing `rel`: a link or a non-folder on the way, a link or folder there."""
        with self._parent(rel) as fd:
            if fd is None:
                return
            try:
                st = os.stat(rel.rsplit("/", 1)[-1], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return
            self._check_file(rel, st.st_mode, 0, MAX_FILE_BYTES)

    def check_folder(self, rel: str) -> None:
        """Refuse a link (or a file) anywhere on the way to the folder `rel`, the folder itself included."""
        with self._parent(f"{rel}/."):
            pass

    # -- writing -------------------------------------------------------------------------

    def move_in(self, source: Path, rel: str) -> None:
        """Move the staged file `source` to `rel` (atomic); a link in the way is refused, never written through."""
        name = rel.rsplit("/", 1)[-1]
        with self._parent(rel, create=True) as fd:
            assert fd is not None
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                pass
            else:
                self._check_file(rel, st.st_mode, 0, MAX_FILE_BYTES)
            # rename(2) replaces the name in this folder: were a link put there meanwhile, the link is what goes.
            os.replace(source, name, dst_dir_fd=fd)

    def create(self, rel: str, data: bytes, *, mode: int = 0o600) -> bool:
        """Write `rel` unless something is there already (the first writer wins, atomically): False then.

        Folders on the way are made, never followed through a link; a link at `rel` counts as
        something there, and is refused when the file is read.
        """
        name = rel.rsplit("/", 1)[-1]
        with self._parent(rel, create=True) as fd:
            assert fd is not None
            staging = f".{name}-{os.getpid()}-{os.urandom(6).hex()}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            out = os.open(staging, flags, mode, dir_fd=fd)
            try:
                with os.fdopen(out, "wb") as stream:
                    stream.write(data)
                try:
                    os.link(staging, name, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
                except FileExistsError:
                    return False
                return True
            finally:
                os.unlink(staging, dir_fd=fd)

    def remove(self, rel: str) -> None:
        """Remove the file `rel` (not through a link), then the folders that leaves empty."""
        parts = rel.split("/")
        with self._parent(rel) as fd:
            if fd is None:
                return
            try:
                st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return
            self._check_file(rel, st.st_mode, 0, MAX_FILE_BYTES)
            os.unlink(parts[-1], dir_fd=fd)
        for depth in range(len(parts) - 1, 0, -1):
            folder = parts[:depth]
            with self._parent("/".join(folder)) as fd:
                if fd is None:
                    return
                try:
                    os.rmdir(folder[-1], dir_fd=fd)  # rmdir(2) does not follow a link, and keeps a full folder
                except OSError:
                    return
