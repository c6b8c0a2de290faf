"""Helpers the YAML and Dockerfile templates of deploy/ and observability/ call.

YAML is whitespace- and quote-sensitive: templates never write a value
themselves, they ask `q` (one scalar), `flow` (a small mapping or list on one
line) or `block` (a nested structure, indented) for it.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from msgen import __version__
from msgen.render.escape import yaml_printable, yaml_scalar


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no types
    """Block style, strings that look like other types quoted, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _FastDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """_Dumper with libyaml's emitter, for the documents where it writes exactly what _Dumper does (_plain)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _plain(value: Any) -> bool:
    """Only printable ASCII text (keys non-empty and short), numbers, booleans and nulls, in dicts and lists.

    For these the two emitters agree (tests/test_yamltext.py); they differ on other text: characters
    beyond the Basic Multilingual Plane, line breaks and folding of escaped text, empty or long keys.
    """
    kind = type(value)
    if kind is str:
        return bool(value.isascii() and value.isprintable())
    if kind is dict:
        return all(
            type(k) is str and 0 < len(k) <= 100 and k.isascii() and k.isprintable() and _plain(v)
            for k, v in value.items()
        )
    if kind is list:
        return all(_plain(v) for v in value)
    return value is None or kind in (int, float, bool)


def _dumped(value: Any) -> str:
    """yaml.dump(value) with _Dumper, block style, in the value's own key order; libyaml's emitter where it is the same."""
    text: str = yaml.dump(
        value,
        Dumper=_FastDumper if _plain(value) else _Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=1000,
        allow_unicode=True,
    )
    return text


def number(value: float) -> str:
    """A float as short text that reads as a float: 0.01 -> '0.01', 1.0 -> '1.0', 14.4 * 0.001 -> '0.0144'."""
    text = f"{round(value, 12):.10g}"
    return text if any(c in text for c in ".e") else text + ".0"


def q(value: Any) -> str:
    """One YAML scalar: strings double-quoted (JSON is YAML), numbers and booleans as YAML writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    return yaml_scalar(str(value))


def flow(value: Any) -> str:
    """A mapping or list on one line, e.g. `{"app": "order"}` (JSON is YAML flow style)."""
    return yaml_printable(json.dumps(value, ensure_ascii=False))


def block(value: Any, indent: int) -> str:
    """A nested structure in block style; lines after the first are indented by `indent` spaces."""
    lines = _dumped(value).rstrip("\n").split("\n")
    pad = " " * indent
    return "\n".join([lines[0], *(pad + line if line else line for line in lines[1:])])


def dump(value: Any) -> str:
    """A whole YAML document in block style, in the value's own key order."""
    return _dumped(value)


class Renderer:
    """Renders templates of the shared environment with the YAML helpers in scope."""

    def render(self, template: str, **context: Any) -> str:
        from msgen.render.templates import environment  # Jinja only when a template is rendered (msgen token)

        return (
            environment()
            .get_template(template)
            .render(msgen_version=__version__, q=q, flow=flow, block=block, **context)
        )
