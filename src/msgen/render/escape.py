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
from typing import Any

import yaml

from msgen.model import ModelEnum
from msgen.text import REFUSED as _REFUSED
from msgen.text import SpecText as SpecText
from msgen.text import plain as plain
from msgen.text import refused_characters as refused_characters
from msgen.text import spec_text as spec_text


def _yaml_represent(dumper: yaml.SafeDumper, value: SpecText) -> Any:
    return dumper.represent_str(str.__str__(value))


def _yaml_represent_enum(dumper: yaml.SafeDumper, value: ModelEnum) -> Any:
    return dumper.represent_str(value.value)


# On the representer every safe dumper (Python or libyaml's) inherits its table from.
yaml.representer.SafeRepresenter.add_representer(SpecText, _yaml_represent)
yaml.representer.SafeRepresenter.add_multi_representer(ModelEnum, _yaml_represent_enum)


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
    # a last quote would run into the closing ones, unless the escaping above already made it `\"`
    # (an odd run of backslashes before it: every backslash of the text itself was doubled)
    if text.endswith('"') and (len(text) - 1 - len(text[:-1].rstrip("\\"))) % 2 == 0:
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


def py_raw_string(value: str) -> str:
    """A Python string literal of a regular expression: raw (`r"..."`) when that spells it exactly, else repr."""
    text = plain(value)
    if '"' in text or text.endswith("\\") or not (text.isascii() and text.isprintable()):
        return repr(text)
    return f'r"{text}"'


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


def ts_value(value: Any) -> str:
    """A TypeScript (JavaScript) literal of a JSON value: JSON, all ASCII."""
    return json.dumps(value, ensure_ascii=True)


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
    "pyraw": py_raw_string,
    "docstring": py_docstring,
    "docstring_text": py_docstring_text,
    "comment": py_comment,
    "toml": toml_string,
    "yaml": yaml_scalar,
    "json": json_string,
    "ts": ts_string,
    "ts_value": ts_value,
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
