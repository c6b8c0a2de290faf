"""Spec text into generated text: one escaper per target language, and the type that forces their use.

The resolver wraps every free-text value of the spec (descriptions, summaries, mail texts, defaults,
examples, patterns, issuer, origins...) in `SpecText`. A `SpecText` cannot be printed raw: the Jinja
environment's `finalize` refuses it (render/__init__.py), and `format()` - so an f-string or
`str.format` - raises. The only ways out are the escapers below (registered as Jinja filters of the
same names), `repr` (a Python literal), or a serializer that quotes by itself (json.dumps, yaml.dump).
A typed wrapper rather than Jinja's autoescape: autoescape knows one language (HTML), while msgen writes
Python, TOML, YAML, Markdown, Dockerfiles and shell, and most printed values are identifiers computed by
msgen, which need no escaping and would otherwise all have to be marked safe.
"""

from __future__ import annotations

import html
import json
import re
import shlex
import string
import unicodedata
from typing import Any, SupportsIndex

import yaml


class SpecText(str):
    """Free text from the spec: printable only through an escaper for the target language."""

    __slots__ = ()

    def __format__(self, format_spec: str) -> str:
        raise TypeError(f"spec text {str.__repr__(self)[:60]} printed raw: use an escaper of msgen.render.escape")

    # The mark sticks through str() (which Jinja's own filters call) and the usual edits, so that
    # `summary.rstrip(".")` is still spec text; `plain()` is the one deliberate way to drop it.
    def __str__(self) -> SpecText:
        return self

    def __add__(self, other: str) -> SpecText:
        return SpecText(str.__add__(self, other))

    def __radd__(self, other: str) -> SpecText:
        return SpecText(str.__add__(other, self))

    def __getitem__(self, key: SupportsIndex | slice) -> SpecText:
        return SpecText(str.__getitem__(self, key))

    def strip(self, chars: str | None = None) -> SpecText:
        return SpecText(str.strip(self, chars))

    def lstrip(self, chars: str | None = None) -> SpecText:
        return SpecText(str.lstrip(self, chars))

    def rstrip(self, chars: str | None = None) -> SpecText:
        return SpecText(str.rstrip(self, chars))

    def replace(self, old: str, new: str, count: SupportsIndex = -1) -> SpecText:
        return SpecText(str.replace(self, old, new, count))

    def lower(self) -> SpecText:
        return SpecText(str.lower(self))

    def upper(self) -> SpecText:
        return SpecText(str.upper(self))

    def capitalize(self) -> SpecText:
        return SpecText(str.capitalize(self))


def _yaml_represent(dumper: yaml.SafeDumper, value: SpecText) -> Any:
    return dumper.represent_str(str.__str__(value))


# On the representer every safe dumper (Python or libyaml's) inherits its table from.
yaml.representer.SafeRepresenter.add_representer(SpecText, _yaml_represent)


def spec_text(value: Any) -> Any:
    """Wrap a str from the spec as SpecText; other values (numbers, None) pass through."""
    return SpecText(value) if isinstance(value, str) else value


def plain(value: str) -> str:
    """The characters of `value` as a plain str (for computing, never for printing)."""
    return str.__str__(value)


# Characters the resolver refuses in free text: C0 and C1 controls (tab and newline excepted), and
# the Unicode line and paragraph separators, which YAML, Python and Markdown each read differently.
_REFUSED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def refused_characters(text: str, *, newlines: bool = True) -> str | None:
    """Why `text` cannot be free text in a spec (None: it can); the offender is named, never echoed."""
    if not newlines and ("\n" in text or "\t" in text):
        return "must be one line (no newline or tab)"
    found = _REFUSED.search(text)
    if found is None:
        return None
    char = found.group()
    name = unicodedata.name(char, "a control character")
    return f"contains U+{ord(char):04X} ({name.lower()}): control characters cannot be written to generated files"


def py_string(value: str) -> str:
    """A Python string literal."""
    return repr(plain(value))


def _py_escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def mail_text_literal(value: str) -> str:
    """A mail text with `{field}` placeholders as a Python literal: an f-string over `event` if it has any.

    The resolver checked that every placeholder names a payload field; a text without one is a plain
    string (an f-string without placeholders is a lint error), with its `{{` and `}}` undoubled.
    """
    parts = list(string.Formatter().parse(plain(value)))
    if any(field is not None for _, field, _, _ in parts):
        # rebuilt from the parse, not by replacing braces: a literal `{{` stays a literal brace
        text = "".join(
            literal.replace("{", "{{").replace("}", "}}") + (f"{{event.{field}}}" if field is not None else "")
            for literal, field, _, _ in parts
        )
        return "f" + repr(text)
    return repr("".join(literal for literal, _, _, _ in parts))


def py_docstring_text(value: str) -> str:
    """Text to put between triple double quotes: nothing in it can end the string or start an escape."""
    text = plain(value).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    text = _REFUSED.sub(_py_escape_char, text).replace("\r", "\\r")
    if text.endswith('"'):
        text = text[:-1] + '\\"'
    return text


def py_docstring(value: str) -> str:
    """A whole docstring (quotes included), ending with a full stop."""
    body = plain(value).strip()
    if body and not body.endswith("."):
        body += "."
    return f'"""{py_docstring_text(body)}"""'


def py_comment(value: str) -> str:
    """Text for a `#` comment: one line."""
    return " ".join(_REFUSED.sub(_py_escape_char, plain(value)).split())


def toml_string(value: str) -> str:
    """A TOML basic string (quotes included)."""
    out = ['"']
    for char in plain(value):
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


# What YAML cannot hold raw in a double-quoted scalar, or would read as a line break and fold.
_YAML_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def yaml_printable(json_text: str) -> str:
    """JSON text (whose strings hold every unusual character) with the ones YAML refuses as \\u escapes."""
    return _YAML_UNPRINTABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", json_text)


def yaml_scalar(value: str) -> str:
    """A double-quoted YAML scalar: JSON's escapes, which YAML shares, plus the characters YAML refuses raw."""
    return yaml_printable(json.dumps(plain(value), ensure_ascii=False))


def json_string(value: str) -> str:
    """A JSON string (quotes included)."""
    return json.dumps(plain(value), ensure_ascii=False)


def ts_string(value: str) -> str:
    """A TypeScript (JavaScript) string literal: JSON's, all ASCII (no raw line or paragraph separator)."""
    return json.dumps(plain(value), ensure_ascii=True)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+!|~])")


def markdown_inline(value: str) -> str:
    """Inline Markdown text: HTML escaped, Markdown punctuation backslashed, one line."""
    text = " ".join(plain(value).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def markdown_code(value: str) -> str:
    """A Markdown code span (backticks included), one line: longer fences than any run inside."""
    text = " ".join(plain(value).split())  # a code span shows its text as is: no HTML inside
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def dockerfile_string(value: str) -> str:
    """A double-quoted Dockerfile word (LABEL, ENV): no variable expansion, one line."""
    text = " ".join(plain(value).split()).replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{text}"'


def shell_word(value: str) -> str:
    """One POSIX shell word."""
    return shlex.quote(plain(value))


FILTERS = {
    "pystr": py_string,
    "docstring": py_docstring,
    "docstring_text": py_docstring_text,
    "comment": py_comment,
    "toml": toml_string,
    "yaml": yaml_scalar,
    "json": json_string,
    "ts": ts_string,
    "md": markdown_inline,
    "md_code": markdown_code,
    "dockerfile": dockerfile_string,
    "shell": shell_word,
}


def finalize(value: Any) -> Any:
    """Jinja's finalize: a SpecText printed without an escaper stops the rendering."""
    if isinstance(value, SpecText):
        raise TypeError(
            f"spec text {str.__repr__(value)[:60]} printed raw in a template: pass it through an escaper filter"
        )
    return value
