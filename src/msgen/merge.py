"""Three-way merge of one file, with git's own merge engine (``git merge-file``).

The same tool copier uses for its updates: it merges the changes from the base
to each side, and marks the places where both sides changed the same lines.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from msgen.errors import MsgenError

MARKER_SIZE = 7
OURS_LABEL = "yours"
BASE_LABEL = "generated before"
THEIRS_LABEL = "generated now"
CONFLICT_START = "<" * MARKER_SIZE + " " + OURS_LABEL
CONFLICT_END = ">" * MARKER_SIZE + " " + THEIRS_LABEL


class MergeToolError(MsgenError):
    """git, which does the 3-way merges, is missing or failed."""


@dataclass(frozen=True)
class Merged:
    text: str
    conflicts: int  # the number of conflicting hunks (capped at 127 by git)


def merge_texts(yours: str, base: str, generated: str) -> Merged:
    """Merge the change base -> generated into yours; overlapping changes get conflict markers."""
    if yours in (base, generated):
        return Merged(generated, 0)
    if generated == base:
        return Merged(yours, 0)
    git = shutil.which("git")
    if git is None:
        raise MergeToolError("a 3-way merge needs git on PATH (msgen runs `git merge-file`)")
    with tempfile.TemporaryDirectory(prefix="msgen-merge-") as tmp:
        paths = []
        for name, text in (("yours", yours), ("base", base), ("generated", generated)):
            path = Path(tmp) / name
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
            paths.append(str(path))
        done = subprocess.run(
            [git, "merge-file", "-p", "-L", OURS_LABEL, "-L", BASE_LABEL, "-L", THEIRS_LABEL, *paths],
            capture_output=True,
            check=False,
        )
    # The exit status is the number of conflicts (at most 127); anything above is an error.
    if not 0 <= done.returncode <= 127:
        raise MergeToolError(f"git merge-file failed: {done.stderr.decode(errors='replace').strip()}")
    return Merged(done.stdout.decode("utf-8", "surrogateescape"), done.returncode)
