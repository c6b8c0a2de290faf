"""Load a spec file into a ``SpecFile``, keeping the place of every node.

YAML is parsed with ruamel.yaml's round-trip loader, which remembers line and
column of every key and value; the tree is copied into plain Python values and
a ``Positions`` index so that structural (pydantic) and semantic (resolver)
errors can both point into the file.

A spec that uses nothing unusual is read about ten times faster by libyaml (PyYAML's C
parser, when installed), with ruamel's own YAML 1.2 resolver and constructors for the
scalars, so the result is the same values and the same positions. Anything else (an
error, an anchor, an alias, a tag, a directive, a key that is not a scalar, a duplicate
key, a value that is not text, a number, a boolean or null, a tab, a spec near the
limits) is read again by ruamel, whose answer, value or error, is the one given.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, MaxDepthExceededError
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, StreamMark
from ruamel.yaml.events import AliasEvent

from msgen.errors import Diagnostic, MsgenError, SpecError, did_you_mean
from msgen.spec import DURATION_PATTERN, PERCENT_PATTERN, SIZE_PATTERN, ItemError, SpecFile

Path_ = tuple[str | int, ...]

# Limits that keep every spec answered in bounded time and memory (docs/spec.md, "Limits").
# Parsing with positions and resolving cost about 90 us per value, so a spec at the value
# limit is read in one to two seconds of CPU; the synthetic spec of 100 services of the
# generation benchmark (about 200 KiB, 24,000 values) fits.
MAX_SPEC_BYTES = 256 * 1024
MAX_NODES = 25_000
# Nodes from the document's root down to the deepest value; ruamel counts every node.
MAX_DEPTH = 32

_CORE_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq"))
# What YAML 1.2 does not allow in a stream: anything outside its printable set.
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass
class Positions:
    """Where each node of the spec is: 1-based (line, column) by path."""

    file: str
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Path_, message: str, *, key: bool = False) -> Diagnostic:
        """A diagnostic at the node of `path`, or at its nearest existing parent."""
        probe = tuple(path)
        while probe:
            table = self.keys if key and probe in self.keys else self.values
            if probe in table:
                line, column = table[probe]
                return Diagnostic(self.file, line, column, message)
            probe = probe[:-1]
        line, column = self.values.get((), (1, 1))
        return Diagnostic(self.file, line, column, message)


@dataclass(frozen=True)
class LoadedSpec:
    spec: SpecFile
    positions: Positions
    path: Path
    text: str


class SpecFileError(MsgenError):
    """The spec file itself cannot be read."""

    exit_code = 2


def read_spec_text(path: Path) -> tuple[str, str]:
    """Return (display name, text) of a spec file, or raise one clear error."""
    display = str(path)
    try:
        # a FIFO or a device would block the read, or never end it: a spec is a regular file
        handle = open(path, "rb", opener=lambda name, flags: os.open(name, flags | os.O_NONBLOCK))  # noqa: SIM115
        with handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise SpecFileError(f"{display}: not a regular file: a spec is a YAML file")
            data = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecFileError(f"{display}: cannot read the spec: {exc.strerror or exc}") from None
    nul = data.find(b"\x00", 0, MAX_SPEC_BYTES)
    if nul >= 0:
        line, column = _byte_position(data, nul)
        message = "not a text file (a NUL byte): the spec must be UTF-8 YAML"
        raise SpecError([Diagnostic(display, line, column, message)])
    if len(data) > MAX_SPEC_BYTES:
        line, column = _byte_position(data, MAX_SPEC_BYTES)
        message = f"the spec is larger than {MAX_SPEC_BYTES // 1024} KiB, the most msgen reads"
        raise SpecError([Diagnostic(display, line, column, message)])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _byte_position(data, exc.start)
        byte = data[exc.start : exc.start + 1].hex()
        message = f"not UTF-8 text (byte 0x{byte}): the spec must be UTF-8 YAML"
        raise SpecError([Diagnostic(display, line, column, message)]) from None
    _check_text(text, display)
    return display, text


def _check_text(text: str, display: str) -> None:
    """Refuse, at its place, text that is too large or holds a NUL or a control character."""
    if len(text) > MAX_SPEC_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        cut = text.encode("utf-8", "surrogatepass")[:MAX_SPEC_BYTES].decode("utf-8", "ignore")
        line, column = _text_position(text, len(cut))
        message = f"the spec is larger than {MAX_SPEC_BYTES // 1024} KiB, the most msgen reads"
        raise SpecError([Diagnostic(display, line, column, message)])
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line, column = _text_position(text, bad.start())
        if bad.group() == "\x00":
            message = "not a text file (a NUL byte): the spec must be UTF-8 YAML"
        else:
            message = f"control character U+{ord(bad.group()):04X}: a spec holds printable text only"
        raise SpecError([Diagnostic(display, line, column, message)])


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of byte `offset` of `data`."""
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def _text_position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character `offset` of `text`."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def load_spec(path: Path) -> LoadedSpec:
    """Parse and validate the spec at `path`; raise SpecError with every problem."""
    display, text = read_spec_text(path)
    return load_spec_text(text, display, path)


def load_spec_text(text: str, display: str, path: Path | None = None) -> LoadedSpec:
    _check_text(text, display)
    fast = _fast_plain(text, display)
    if fast is not None:
        return _validated(*fast, display, path, text)
    positions = Positions(display)
    tree = _parse_yaml(text, display)
    if tree is None:
        line, column = _text_position(text, len(text))
        message = "the spec is empty: expected keys msgen, system and services"
        raise SpecError([Diagnostic(display, line, column, message)])
    if not isinstance(tree, CommentedMap):
        kind = "a list" if isinstance(tree, CommentedSeq) else _describe(tree)
        line, column = (tree.lc.line + 1, tree.lc.col + 1) if isinstance(tree, CommentedSeq) else _first_value(text)
        message = f"the spec must be a mapping (msgen, system, services, ...), found {kind}"
        raise SpecError([Diagnostic(display, line, column, message)])
    plain = _to_plain(tree, (), positions)
    return _validated(plain, positions, display, path, text)


def _validated(plain: Any, positions: Positions, display: str, path: Path | None, text: str) -> LoadedSpec:
    try:
        spec = SpecFile.model_validate(plain)
    except ValidationError as exc:
        raise SpecError(_diagnostics(exc, plain, positions)) from None
    return LoadedSpec(spec=spec, positions=positions, path=path or Path(display), text=text)


def _first_value(text: str) -> tuple[int, int]:
    """Where the document's content starts: past blank lines, comments, directives and '---'."""
    for number, line in enumerate(text.split("\n"), start=1):
        content = line.lstrip(" ")
        if content and not content.startswith(("#", "%", "---")):
            return number, len(line) - len(content) + 1
    return 1, 1


class _Refused(Exception):
    """A YAML feature the spec language does not allow, at the place it was used."""

    def __init__(self, mark: StreamMark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class _SpecComposer(Composer):
    """ruamel's composer, refusing anchors, aliases, tags other than YAML's core ones, and too many nodes.

    Aliases let a few lines expand into an exponentially large tree (an alias bomb), and
    tags construct types a spec has no use for; both are refused where they are written.
    """

    nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Refused(event.start_mark, f"the spec holds more than {MAX_NODES} values, the most msgen reads")
        if isinstance(event, AliasEvent) or event.anchor is not None:
            raise _Refused(event.start_mark, "YAML anchors and aliases (&name, *name) are not allowed in a spec")
        tag = getattr(event, "tag", None)
        if tag is not None and str(tag) not in _CORE_TAGS:
            shown = str(tag).replace("tag:yaml.org,2002:", "!!")
            raise _Refused(event.start_mark, f"the YAML tag {shown} is not allowed in a spec")
        return super().compose_node(parent, index)


_DUPLICATE_RE = re.compile(r'found duplicate key "(?P<key>.*?)"')


def _parse_yaml(text: str, display: str) -> Any:
    yaml = YAML(typ="rt")
    yaml.Composer = _SpecComposer
    yaml.max_depth = MAX_DEPTH
    try:
        return yaml.load(text)
    except _Refused as exc:
        raise SpecError([Diagnostic(display, exc.mark.line + 1, exc.mark.column + 1, exc.message)]) from None
    except MaxDepthExceededError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"the spec is nested more than {MAX_DEPTH} levels deep"
        raise SpecError([Diagnostic(display, line, column, message)]) from None
    except DuplicateKeyError as exc:
        match = _DUPLICATE_RE.search(exc.problem or "")
        key = match.group("key") if match else "?"
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        start = exc.context_mark.line if exc.context_mark else 0
        first = _first_occurrence(text, key, start, line - 1, column - 1)
        where = f" (first defined at line {first})" if first else ""
        raise SpecError([Diagnostic(display, line, column, f"duplicate key '{key}'{where}")]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Diagnostic(display, line, column, f"invalid YAML: {_yaml_problem(exc)}")]) from None
    except Exception as exc:  # ruamel raises a few unmarked errors (reader, scanner)
        raise SpecError([Diagnostic(display, 1, 1, f"invalid YAML: {exc}")]) from None


# Characters on which libyaml (YAML 1.1) and ruamel (YAML 1.2) might read a spec differently.
_SLOW_CHARACTERS = re.compile("[\t\x85\u2028\u2029\ufeff]")
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null"))
_STR_TAG = "tag:yaml.org,2002:str"


@functools.cache
def _libyaml() -> Any:
    """PyYAML's module when it has libyaml, else None."""
    try:
        import yaml
    except ImportError:
        return None
    return yaml if getattr(yaml, "__with_libyaml__", False) else None


@functools.cache
def _ruamel_scalars() -> tuple[Any, Any]:
    """ruamel's round-trip resolver and constructor: what a plain scalar means, as _parse_yaml reads it."""
    yaml = YAML(typ="rt")
    return yaml.resolver, yaml.constructor


class _Unusual(Exception):
    """Something the fast reading leaves to ruamel."""


def _fast_plain(text: str, display: str) -> tuple[Any, Positions] | None:
    """The plain tree and positions _to_plain would give, read by libyaml; None when ruamel must read it."""
    yaml = _libyaml()
    if yaml is None or _SLOW_CHARACTERS.search(text) is not None:
        return None
    positions = Positions(display)
    try:
        plain = _fast_tree(yaml, text, positions)
    except (_Unusual, yaml.YAMLError, RecursionError):
        return None
    return plain, positions


def _fast_tree(yaml: Any, text: str, positions: Positions) -> Any:
    from ruamel.yaml.nodes import ScalarNode

    resolver, constructor = _ruamel_scalars()
    events = yaml.events
    scalar_event, mapping_start, sequence_start = (
        events.ScalarEvent,
        events.MappingStartEvent,
        events.SequenceStartEvent,
    )
    collection_end = (events.MappingEndEvent, events.SequenceEndEvent)
    values, keys = positions.values, positions.keys
    meaning: dict[str, Any] = {}  # a plain scalar's text -> the ruamel value it constructs (they repeat a lot)

    def construct(event: Any) -> Any:
        if event.tag is not None or event.anchor is not None:
            raise _Unusual
        if not event.implicit[0]:  # quoted, literal or folded: text
            return event.value
        value = event.value
        if not value:
            raise _Unusual  # an empty value: ruamel places it at the next token
        if value in meaning:
            return meaning[value]
        tag = str(resolver.resolve(ScalarNode, value, (True, False)))
        if tag not in _PLAIN_TAGS:
            raise _Unusual
        made = value if tag == _STR_TAG else constructor.yaml_constructors[tag](constructor, ScalarNode(tag, value))
        meaning[value] = made
        return made

    parser = yaml.CSafeLoader(text)
    try:
        if not isinstance(parser.get_event(), events.StreamStartEvent):
            raise _Unusual
        start = parser.get_event()
        if not isinstance(start, events.DocumentStartEvent) or start.version is not None or start.tags:
            raise _Unusual
        root = parser.get_event()
        if type(root) is not mapping_start or root.tag is not None or root.anchor is not None:
            raise _Unusual
        values[()] = (root.start_mark.line + 1, root.start_mark.column + 1)
        tree: dict[str, Any] = {}
        # one frame per open collection: (its value, its path, the keys seen, for a mapping)
        stack: list[tuple[Any, Path_, set[Any] | None]] = [(tree, (), set())]
        nodes = 1
        key_name: str | None = None
        key_mark: tuple[int, int] = (0, 0)
        while stack:
            event = parser.get_event()
            kind = type(event)
            if kind in collection_end:
                if key_name is not None:
                    raise _Unusual
                stack.pop()
                continue
            if kind is not scalar_event and kind is not mapping_start and kind is not sequence_start:
                raise _Unusual  # an alias
            nodes += 1
            if nodes >= MAX_NODES or len(stack) >= MAX_DEPTH - 2:
                raise _Unusual  # ruamel says where the limit is passed
            parent, path, seen = stack[-1]
            mark = event.start_mark
            if seen is not None and key_name is None:  # a key of the mapping on top
                if kind is not scalar_event:
                    raise _Unusual
                key = construct(event)
                if key in seen:
                    raise _Unusual  # ruamel names both places
                seen.add(key)
                key_name = str(key)
                if _SURROGATE.search(key_name):
                    raise _Unusual
                key_mark = (mark.line + 1, mark.column + 1)
                continue
            if seen is not None:
                assert key_name is not None
                child: Path_ = (*path, key_name)
                keys[child] = key_mark
                values[child] = (mark.line + 1, mark.column + 1) if kind is scalar_event else key_mark
            else:
                child = (*path, len(parent))
                values[child] = keys[child] = (mark.line + 1, mark.column + 1)
            if kind is scalar_event:
                value = _plain_scalar(construct(event))
            else:
                if event.tag is not None or event.anchor is not None:
                    raise _Unusual
                value = {} if kind is mapping_start else []
            if seen is not None:
                parent[key_name] = value
                key_name = None
            else:
                parent.append(value)
            if kind is mapping_start:
                stack.append((value, child, set()))
            elif kind is sequence_start:
                stack.append((value, child, None))
        if not isinstance(parser.get_event(), events.DocumentEndEvent) or not isinstance(
            parser.get_event(), events.StreamEndEvent
        ):
            raise _Unusual  # more than one document
    finally:
        parser.dispose()
    return tree


def _plain_scalar(node: Any) -> Any:
    """A constructed scalar as _to_plain copies it."""
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    text = str(node)
    if _SURROGATE.search(text):
        raise _Unusual
    return text


def _first_occurrence(text: str, key: str, start: int, stop: int, column: int) -> int | None:
    """The 1-based line where `key` was first written at `column`, between lines start and stop."""
    lines = text.splitlines()
    for index in range(start, min(stop, len(lines))):
        rest = lines[index][column:]
        if lines[index][:column].strip(" -") == "" and re.match(rf"""["']?{re.escape(key)}["']?\s*:""", rest):
            return index + 1
    return None


def _yaml_problem(exc: MarkedYAMLError) -> str:
    problem = exc.problem or exc.context or "malformed YAML"
    if "\\t" in problem:
        return f"{problem}: indent YAML with spaces, not tabs"
    context = exc.context_mark
    if exc.context and context is not None and context is not exc.problem_mark:
        problem += f" ({exc.context} that starts at line {context.line + 1}:{context.column + 1})"
    if "<block" in problem:
        problem += "; check the indentation of this line and the one above"
    return problem


def _to_plain(node: Any, path: Path_, positions: Positions) -> Any:
    """Copy a ruamel tree into dict/list/scalars, indexing positions by path."""
    if isinstance(node, CommentedMap):
        if not path:
            positions.values[()] = (node.lc.line + 1, node.lc.col + 1)
        out: dict[str, Any] = {}
        for key, value in node.items():
            name = str(key)
            child = (*path, name)
            kline, kcol = node.lc.key(key)
            vline, vcol = node.lc.value(key)
            positions.keys[child] = (kline + 1, kcol + 1)
            positions.values[child] = (vline + 1, vcol + 1) if _is_scalar(value) else (kline + 1, kcol + 1)
            _refuse_surrogates(name, positions, child, key=True)
            out[name] = _to_plain(value, child, positions)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            line, col = node.lc.item(index)
            positions.values[(*path, index)] = (line + 1, col + 1)
            positions.keys[(*path, index)] = (line + 1, col + 1)
            items.append(_to_plain(value, (*path, index), positions))
        return items
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        _refuse_surrogates(str(node), positions, path)
        return str(node)
    return str(node)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(text: str, positions: Positions, path: Path_, *, key: bool = False) -> None:
    """A lone surrogate (YAML's "\\ud800") is no character: no generated file could be written with it."""
    found = _SURROGATE.search(text)
    if found is not None:
        message = f"contains U+{ord(found.group()):04X}, a lone surrogate: not a character, cannot be written"
        raise SpecError([positions.at(path, message, key=key)])


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, CommentedMap | CommentedSeq)


_PATTERN_HINTS = {
    DURATION_PATTERN: "a duration such as 300ms, 30s, 5m, 1h or 1d",
    SIZE_PATTERN: "a size such as 512KiB or 1MiB",
    PERCENT_PATTERN: "a percentage such as 99.9%",
}


_DURATION_KEYS = {"timeout", "cache_ttl", "default_ttl", "per", "latency_p95"}
_COLLECTION_ITEMS = {"services": "service", "fields": "field", "steps": "step"}


def _diagnostics(exc: ValidationError, plain: Any, positions: Positions) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ItemError):  # the validator says which part of its value is wrong
            loc += cause.path
        message = _message(error, loc)
        found.append(positions.at(loc, message, key=error["type"] == "extra_forbidden"))
    return found


def _message(error: Any, loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    name = next((str(part) for part in reversed(loc) if isinstance(part, str)), "spec")
    if not name or name != name.strip():  # a key of blanks, or with blanks around it: shown as written, quoted
        name = repr(name)
    value = error.get("input")
    ctx = error.get("ctx", {})
    if kind == "missing":
        if loc == ("msgen",):
            return "missing required key 'msgen': add 'msgen: 1' at the top"
        return f"missing required key '{name}'"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = did_you_mean(name, allowed)
        if not hint and allowed:
            hint = f" (expected one of: {', '.join(allowed)})"
        return f"unknown key '{name}'{hint}"
    if loc == ("msgen",):
        if isinstance(value, str) and value.strip() == "1":
            return "msgen: the version must be the number 1, not the text '1' (remove the quotes)"
        return f"msgen: unsupported spec version {_describe(value)}; this msgen reads version 1"
    if kind == "literal_error":
        options = [a or b for a, b in re.findall(r"'([^']*)'|(\d+)", ctx.get("expected", ""))]
        hint = did_you_mean(str(value), options)
        return f"{name}: '{value}' is not one of {', '.join(options)}{hint}"
    if kind == "string_pattern_mismatch":
        what = _PATTERN_HINTS.get(ctx.get("pattern", ""), f"text matching {ctx.get('pattern')}")
        return f"{name}: '{value}' is not {what}"
    if kind == "string_type" and name in _DURATION_KEYS:
        return f"{name}: {_describe(value)} is not a duration: add a unit, e.g. {value}s or {value}ms"
    if kind == "string_type":
        return f"{name}: expected text, found {_describe(value)}"
    if kind in {"dict_type", "model_type", "model_attributes_type"}:
        return f"{name}: expected a mapping, found {_describe(value)}"
    if kind == "list_type":
        return f"{name}: expected a list, found {_describe(value)}"
    if kind == "too_short" and isinstance(value, dict | list):
        return f"{name}: declare at least one {_COLLECTION_ITEMS.get(name, 'item')}"
    if kind in {"less_than_equal", "less_than"}:
        return f"{name}: {_describe(value)} is above the maximum, {_number(ctx.get('le', ctx.get('lt')))}"
    if kind in {"greater_than_equal", "greater_than"}:
        return f"{name}: {_describe(value)} is below the minimum, {_number(ctx.get('ge', ctx.get('gt')))}"
    if kind in {"bool_parsing", "bool_type"}:
        return f"{name}: expected true or false, found {_describe(value)}"
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return f"{name}: expected a whole number, found {_describe(value)}"
    if kind in {"float_parsing", "float_type"}:
        return f"{name}: expected a number, found {_describe(value)}"
    if kind == "value_error":
        return f"{name}: {error['msg'].removeprefix('Value error, ')}"
    return f"{name}: {_lower_first(error['msg'])}"


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return _number(value)
    return f"'{value}'"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the spec model accepts at `loc` (walking SpecFile's annotations)."""
    annotation: Any = SpecFile
    for step in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = annotation.model_fields
            match = next((f for n, f in fields.items() if (f.alias or n) == step), None)
            if match is None:
                return []
            annotation = match.annotation
        else:
            origin = typing.get_origin(annotation)
            args = typing.get_args(annotation)
            if origin is dict and args:
                annotation = args[1]
            elif origin is list and args:
                annotation = args[0]
            else:
                return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or n for n, f in annotation.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated down to the one model or container type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else args[0]
        else:
            return annotation
