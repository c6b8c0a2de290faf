"""``msgen add-service``: declare a new service in a spec without disturbing the rest of the file.

The spec is edited with ruamel.yaml's round-trip loader and dumper, which keep
comments and key order. ruamel re-spaces some things on the way (``{ a: 1 }``
becomes ``{a: 1}``), so only the lines the edit added are copied into the
original text; every other byte of the file stays as the user wrote it.
"""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from msgen.boundary import ProjectTree
from msgen.errors import MsgenError
from msgen.names import pascal

if TYPE_CHECKING:
    from msgen.regen import Plan
    from msgen.service_template import TemplateOptions


class AddServiceError(MsgenError):
    """The service cannot be added to this spec (exit code 2: nothing was written)."""

    exit_code = 2


def _guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indentation as ruamel.yaml takes it, read from the file."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    mapping = next((len(line) - len(line.lstrip(" ")) for line in lines if line.startswith(" ")), 2)
    for i, line in enumerate(lines):
        dash = re.match(r"^( *)- ", line)
        if dash is None:
            continue
        column = len(dash[1])
        parent = next(
            (len(p) - len(p.lstrip(" ")) for p in reversed(lines[:i]) if p.rstrip().endswith(":")),
            0,
        )
        offset = max(column - parent, 0)
        return mapping, offset + 2, offset
    return mapping, mapping, 0


def _yaml(text: str) -> YAML:
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line the user wrote
    mapping, sequence, offset = _guess_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump(yaml: YAML, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def service_node(name: str, entity: str | None, description: str | None) -> CommentedMap:
    """The new service: one entity with a name, and its crud API, so that it runs at once."""
    node = CommentedMap()
    node["description"] = description or f"The {name} service."
    if entity != "":
        entity_name = entity or pascal(name)
        fields = CommentedMap([("name", "string")])
        node["entities"] = CommentedMap([(entity_name, CommentedMap([("fields", fields)]))])
        crud = CommentedSeq([entity_name])
        crud.fa.set_flow_style()
        node["api"] = CommentedMap([("crud", crud)])
    return node


def add_service_text(
    text: str,
    name: str,
    *,
    entity: str | None = None,
    description: str | None = None,
    node: CommentedMap | None = None,
) -> str:
    """`text` with service `name` (or `node`) added at the end of `services` (checked by msgen only when generated)."""
    yaml = _yaml(text)
    try:
        data = yaml.load(text)
    except YAMLError as exc:
        raise AddServiceError(f"the spec is not valid YAML: {exc}") from None
    services = data.get("services") if isinstance(data, CommentedMap) else None
    if not isinstance(services, CommentedMap):
        raise AddServiceError("the spec has no 'services' mapping to add to")
    if name in services:
        raise AddServiceError(f"service '{name}' is already declared in the spec")
    before = _dump(yaml, data)
    services[name] = node if node is not None else service_node(name, entity, description)
    after = _dump(yaml, data)
    return splice(text, before, after)


def splice(original: str, before: str, after: str) -> str:
    """Copy into `original` the lines that turned `before` (its round-trip) into `after`.

    When the round-trip changed the number of lines, or the edit did more than
    insert, the whole of `after` is the answer (ruamel kept comments and order).
    """
    old = original.splitlines(keepends=True)
    was = before.splitlines(keepends=True)
    now = after.splitlines(keepends=True)
    if len(old) != len(was):
        return after
    opcodes = difflib.SequenceMatcher(None, was, now, autojunk=False).get_opcodes()
    if any(tag not in ("equal", "insert") for tag, *_ in opcodes):
        return after
    out: list[str] = []
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "equal":
            out += old[i1:i2]
            continue
        block = now[j1:j2]
        # ruamel puts the new entry after the blank line that closed the section; keep one before the next key.
        follows_blank = bool(out) and not out[-1].strip()
        next_is_key = i1 < len(old) and bool(old[i1].strip()) and not old[i1][:1].isspace()
        if follows_blank and next_is_key and block[-1].strip():
            block = [*block, "\n"]
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out += block
    return "".join(out)


def add_service(
    root: Path,
    name: str,
    *,
    spec: Path | None = None,
    entity: str | None = None,
    description: str | None = None,
    force: bool = False,
    template: TemplateOptions | None = None,
) -> Plan:
    """Add service `name` to the project's spec (or to `spec`), then regenerate the project from it.

    Nothing is written unless the edited spec is valid and the regeneration may proceed.
    With `template`, the service's code comes from a Copier or Cookiecutter template.
    """
    from msgen.loader import read_spec_text
    from msgen.regen import SPEC_FILE, apply, check_clean, plan

    root = root.resolve()
    source = spec.resolve() if spec is not None else root / SPEC_FILE
    if spec is None:
        ProjectTree(root).read_bytes(SPEC_FILE)  # the project's own spec: a link or a special file is refused
    _, text = read_spec_text(source)
    if template is not None:
        from msgen.service_template import add_templated_service

        return add_templated_service(root, name, source, text, template, description=description, force=force)
    edited = add_service_text(text, name, entity=entity, description=description)
    done = plan(root, spec=source, spec_text=edited)
    if done.writes and not force:
        check_clean(root)
    apply(done)
    if source != root / SPEC_FILE:
        source.write_bytes(edited.encode("utf-8"))
    return done
