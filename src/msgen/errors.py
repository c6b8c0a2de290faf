"""The one exception family of msgen; only ``cli.py`` prints them."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

# The exit codes of the msgen command (docs/spec.md, "Exit codes").
EXIT_DIFFERENCES = 1  # a difference or a conflict the user must look at
EXIT_BAD_INPUT = 2  # the spec, the project or the command line is wrong
EXIT_ENVIRONMENT = 3  # the machine: a file that cannot be read or written, a missing tool
EXIT_INTERNAL = 70  # a bug in msgen (EX_SOFTWARE)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)

# C0 and C1 controls, DEL, and the invisible marks that reorder or split a line on a terminal.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character escaped (``\\x1b``), safe to print on one terminal line."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in a spec, with the place it points at (1-based)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return printable(f"{self.file}:{self.line}:{self.column}: {self.message}")


class MsgenError(Exception):
    """Base of every error msgen reports to a user; exit code 1 unless said otherwise."""

    exit_code = EXIT_DIFFERENCES


class SpecError(MsgenError):
    """A spec that cannot be generated; carries every diagnostic found."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(set(diagnostics))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class OutputError(MsgenError):
    """The output directory cannot be written as asked."""


class ToolMissingError(MsgenError):
    """A program msgen runs (git, a validator, ...) is not installed."""

    exit_code = EXIT_ENVIRONMENT


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' hint, or '' when nothing is close."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
