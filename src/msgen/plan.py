"""One plan -> check -> apply for every command that changes a generated project.

``msgen regen``, ``msgen add-service`` and ``msgen add-service --template`` each
compute a `Plan` first and write nothing while doing so: every project file
whose fate is worth telling (created, updated, merged, removed, kept), with its
text before and after and why, the ``.msgen/`` files that change, a folder made
elsewhere to move in whole (a template's output) and a spec outside the project
the command edits. ``msgen diff`` shows a plan and stops there.

`check` then looks at the project as it is and records in the plan what stands
in the way: uncommitted work in the git tree where the plan writes, a folder
that is already there, a link or a special file where a file goes. `apply`
writes a plan with nothing in the way, and nothing at all otherwise: every file
is staged in ``.msgen/`` first, then moved into place (``rename(2)``, through
folder descriptors that never follow a link), the baseline last, so that a run
interrupted half-way is finished by the next one.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from msgen.boundary import BoundaryError, ProjectTree, checked
from msgen.errors import EXIT_BAD_INPUT, MsgenError
from msgen.files import replace_file
from msgen.writer import META_DIR

SPEC_FILE = "msgen.yaml"

# What happens to a file, and why, as the summary table says it.
WHY = {
    "added": "new",
    "updated": "unchanged by you: replaced",
    "merged": "changed by you and by msgen: merged",
    "conflict": "changed by you and by msgen on the same lines: conflict markers",
    "removed": "no longer generated, unchanged by you: removed",
    "orphaned": "no longer generated, but changed by you: kept",
    "not recreated": "deleted by you: stays deleted",
}


class DirtyTreeError(MsgenError):
    """Uncommitted changes where the plan would write."""


class FolderInTheWayError(MsgenError):
    """A folder the plan moves in is already there, with files (exit code 2: nothing was written)."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Change:
    """One project file: what is there now, what the plan leaves there, and why."""

    path: str
    action: str  # a key of WHY
    before: str | None  # the file on disk now (None: absent)
    after: str | None  # the file once the plan is applied (None: absent)

    @property
    def writes(self) -> bool:
        return self.before != self.after

    @property
    def why(self) -> str:
        return WHY[self.action]

    @property
    def operation(self) -> str:
        """create, update, delete, or keep (the file stays as it is)."""
        if not self.writes:
            return "keep"
        if self.before is None:
            return "create"
        return "delete" if self.after is None else "update"


@dataclass(frozen=True)
class Folder:
    """A folder of files made outside the rendering (a template's output), moved in whole to `path`.

    `source` is where its files are, staged in ``.msgen/``; None while they are not made yet (a
    plan checked before the template runs).
    """

    path: str
    source: Path | None = None


@dataclass(frozen=True)
class SpecFile:
    """A spec outside the project that the command edits (``add-service --spec FILE``); written last."""

    path: Path
    text: str


@dataclass(frozen=True)
class Problem:
    """Something in the project that stands in the way of the plan; `apply` writes nothing while one is there."""

    kind: str  # "uncommitted", "folder" (a folder already there) or "boundary" (a link, a special file)
    message: str
    paths: tuple[str, ...] = ()

    def error(self) -> MsgenError:
        if self.kind == "uncommitted":
            return DirtyTreeError(self.message)
        if self.kind == "folder":
            return FolderInTheWayError(self.message)
        return BoundaryError(self.message)


@dataclass(frozen=True)
class Plan:
    """What a command would do to the project in `root`; computed without writing anything."""

    root: Path
    spec_hash: str
    rendering: dict[str, str]  # the new baseline
    changes: tuple[Change, ...]
    rendered: bool  # False: spec and msgen unchanged, the baseline was the rendering
    metadata: dict[str, str] = field(default_factory=dict)  # .msgen/ files that change
    folders: tuple[Folder, ...] = ()
    spec_file: SpecFile | None = None
    problems: tuple[Problem, ...] = ()  # found by check()

    @property
    def writes(self) -> list[Change]:
        return [c for c in self.changes if c.writes]

    @property
    def conflicts(self) -> list[str]:
        """Files written with conflict markers (the plan still applies: the user resolves them)."""
        return [c.path for c in self.changes if c.action == "conflict"]

    @property
    def is_noop(self) -> bool:
        return not self.writes and not self.metadata and not self.folders and self.spec_file is None

    def refuse(self) -> None:
        """Raise the first problem check() found, if any."""
        if self.problems:
            raise self.problems[0].error()


# -- check --------------------------------------------------------------------------


def check(plan: Plan, *, force: bool = False) -> Plan:
    """`plan` with what stands in the way of applying it (its `problems`); reads, writes nothing.

    Uncommitted work counts unless `force`; a link or special file where the plan
    writes, and a folder already there, always count.
    """
    problems: list[Problem] = []
    if not force and (plan.writes or plan.folders):
        problems += _uncommitted(plan.root, plan.rendering)
    problems += [p for folder in plan.folders if (p := folder_problem(plan.root, folder.path)) is not None]
    tree = ProjectTree(plan.root)
    for change in plan.writes:
        try:
            tree.check_writable(checked(change.path, "regen"))
        except BoundaryError as exc:
            problems.append(Problem("boundary", str(exc), (change.path,)))
    return replace(plan, problems=tuple(problems))


def folder_problem(root: Path, path: str) -> Problem | None:
    """What stands in the way of moving a folder to `path`: a link or a file on the way, files there."""
    try:
        ProjectTree(root).check_folder(path)
    except BoundaryError as exc:
        return Problem("boundary", str(exc), (path,))
    target = root / path
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        return Problem("folder", f"{target} already exists: the template's output would mix with it", (path,))
    return None


def dirty_paths(root: Path) -> list[str] | None:
    """Uncommitted (or untracked) paths under `root`, relative to it; None when `root` is not in a git work tree.

    The spec itself does not count: editing it is what a regen follows.
    """
    git = shutil.which("git")
    if git is None:
        return None
    top = subprocess.run(
        [git, "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
    )
    if top.returncode != 0:
        return None
    status = subprocess.run(
        [git, "-C", str(root), "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", "."],
        capture_output=True,
        text=True,
        check=False,
    )
    if status.returncode != 0:
        raise MsgenError(f"git status failed in {root}: {status.stderr.strip()}")
    prefix = root.resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    paths: list[str] = []
    entries = iter(status.stdout.split("\0"))
    for entry in entries:
        if not entry:
            continue
        code, name = entry[:2], entry[3:]
        if "R" in code or "C" in code:
            next(entries, None)  # the name the file had before the rename
        relative = name[len(prefix) :] if name.startswith(prefix) else name
        if relative != SPEC_FILE:
            paths.append(relative)
    return paths


def _uncommitted(root: Path, rendering: Mapping[str, str]) -> list[Problem]:
    """Uncommitted work, which the plan's result would be mixed with in `git diff`.

    A file that already is as the `rendering` has it (written, or removed, by a run
    that was interrupted before its end) is not the user's work, and does not count.
    """
    dirty = [path for path in dirty_paths(root) or () if not _as_rendered(root, path, rendering)]
    if not dirty:
        return []
    shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
    message = (
        f"{root} has uncommitted changes ({shown}): commit or stash them first, so that git shows what "
        "regen changed, or use --force"
    )
    return [Problem("uncommitted", message, tuple(dirty))]


def _as_rendered(root: Path, path: str, rendering: Mapping[str, str]) -> bool:
    """Whether the file git lists is already as `rendering` has it (a link or an odd path never is)."""
    try:
        return ProjectTree(root).read_text(checked(path, "git status", reserved=False)) == rendering.get(path)
    except MsgenError:
        return False


# -- apply --------------------------------------------------------------------------


def apply(plan: Plan) -> None:
    """Write the plan, or nothing when something stands in the way.

    Every file is staged first, then moved into place; the baseline last. Were the
    run interrupted, the next one finds the files already written equal to the new
    rendering and leaves them as they are. A folder moved in is removed again if
    writing the rest fails.
    """
    plan.refuse()
    if plan.is_noop:
        return
    tree = ProjectTree(plan.root)
    for change in plan.writes:  # checked again: the project may have changed since check()
        checked(change.path, "regen")
        tree.check_writable(change.path)
    tree.check_folder(META_DIR)  # the staging folder goes there: a link would take it out of the project
    for folder in plan.folders:
        problem = folder_problem(plan.root, folder.path)
        if problem is not None:
            raise problem.error()
        assert folder.source is not None, "a folder is moved in once it is made"
    staging = Path(tempfile.mkdtemp(prefix="regen-", dir=plan.root / META_DIR))
    moved: list[Path] = []
    try:
        staged: list[tuple[Path, str]] = []
        for i, change in enumerate(c for c in plan.writes if c.after is not None):
            assert change.after is not None
            source = staging / str(i)
            source.write_bytes(change.after.encode("utf-8", "surrogateescape"))
            mode = tree.mode(change.path)
            if mode is not None:
                os.chmod(source, mode)
            staged.append((source, change.path))
        for folder in plan.folders:
            assert folder.source is not None
            target = plan.root / folder.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                target.rmdir()  # empty: checked above
            os.replace(folder.source, target)
            moved.append(target)
        for source, path in staged:
            tree.move_in(source, path)
        for change in plan.writes:
            if change.after is None:
                tree.remove(change.path)
        for path, text in sorted(plan.metadata.items()):
            source = staging / Path(path).name
            source.write_text(text, encoding="utf-8")
            tree.move_in(source, path)
        if plan.spec_file is not None:
            spec = plan.spec_file.path  # a file the user named, outside the project: its mode is kept
            mode = spec.stat().st_mode & 0o7777 if spec.exists() else None
            replace_file(spec, plan.spec_file.text.encode("utf-8"), mode=mode)
    except BaseException:
        for target in moved:
            shutil.rmtree(target, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# -- showing ------------------------------------------------------------------------


def unified_diff(change: Change) -> str:
    """The change as a unified diff (a/ is the file now, b/ what the plan leaves)."""
    before = (change.before or "").splitlines(keepends=True)
    after = (change.after or "").splitlines(keepends=True)
    old = f"a/{change.path}" if change.before is not None else "/dev/null"
    new = f"b/{change.path}" if change.after is not None else "/dev/null"
    lines = list(difflib.unified_diff(before, after, old, new))
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
