"""``msgen add-service``: declare a new service in a spec without disturbing the rest of the file.

The spec is edited with ruamel.yaml's round-trip loader and dumper, which keep
comments and key order. ruamel re-spaces some things on the way (``{ a: 1 }``
becomes ``{a: 1}``), so only the lines the edit added are copied into the
original text; every other byte of the file stays as the user wrote it.

Both paths (a generated service, and ``--template``) plan the project regenerated
from the edited spec, check it and apply it (``msgen.plan``), as ``msgen regen`` does.
"""

from __future__ import annotations

import difflib
import io
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from msgen.boundary import ProjectTree
from msgen.errors import MsgenError
from msgen.names import pascal
from msgen.plan import SPEC_FILE, Folder, Plan, SpecFile, apply, check, folder_problem

if TYPE_CHECKING:
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

    Plan, check, apply: nothing is written unless the edited spec is valid and nothing
    stands in the way. With `template`, the service's code comes from a Copier or
    Cookiecutter template.
    """
    from msgen.loader import read_spec_text

    root = root.resolve()
    source = spec.resolve() if spec is not None else root / SPEC_FILE
    if spec is None:
        ProjectTree(root).read_bytes(SPEC_FILE)  # the project's own spec: a link or a special file is refused
    _, text = read_spec_text(source)
    if template is not None:
        return _add_templated(root, name, source, text, template, description=description, force=force)
    edited = add_service_text(text, name, entity=entity, description=description)
    done = check(_plan(root, source, edited), force=force)
    apply(done)
    return done


def _plan(root: Path, spec: Path, edited: str, folders: tuple[Folder, ...] = ()) -> Plan:
    """The project regenerated from the `edited` spec; a spec outside the project is written too."""
    from msgen.regen import plan

    planned = plan(root, spec=spec, spec_text=edited)
    outside = None if spec == root / SPEC_FILE else SpecFile(spec, edited)
    return replace(planned, folders=folders, spec_file=outside)


def _add_templated(
    root: Path, name: str, spec: Path, text: str, options: TemplateOptions, *, description: str | None, force: bool
) -> Plan:
    """Add `name` made from a template: spec edited, template run, deployment files generated, or nothing at all.

    The plan (the template's output as a folder to move in) is checked before the
    template runs, into .msgen/; its output moves to services/<name>/ only when
    nothing stands in the way, and is removed again if writing the rest fails.
    """
    from msgen.loader import load_spec_text
    from msgen.resolve import check_template_sources, resolve
    from msgen.service_template import (
        TemplateError,
        detect_engine,
        own_dockerfile,
        run_template,
        source_problem,
        spec_api_version,
        template_node,
    )
    from msgen.writer import META_DIR

    folder = options.path.expanduser().resolve()
    problem = source_problem(folder, options.engine)
    if problem is not None:
        raise TemplateError(problem)
    engine = options.engine or detect_engine(folder)
    assert engine is not None
    target = f"services/{name}"
    in_the_way = folder_problem(root, target)  # told first: before the spec is edited and the template runs
    if in_the_way is not None:
        raise in_the_way.error()
    base = spec.parent
    source = folder.relative_to(base).as_posix() if folder.is_relative_to(base) else str(folder)
    node = template_node(name, options, source, engine, spec_api_version(text), description)
    edited = add_service_text(text, name, node=node)
    loaded = load_spec_text(edited, str(spec), spec)
    system = resolve(loaded)  # an invalid option is reported against the edited spec
    check_template_sources(loaded, [name], base)
    planned = check(_plan(root, spec, edited, (Folder(target),)), force=force)
    planned.refuse()
    service = next(t for t in system.templated if t.name == name)
    ProjectTree(root).check_folder(META_DIR)  # the template runs there
    staging = root / META_DIR
    staging.mkdir(parents=True, exist_ok=True)
    output = run_template(service, folder, system.name, staging)
    work = staging / output.relative_to(staging).parts[0]  # the run's own folder (cookiecutter's output is deeper)
    try:
        if own_dockerfile(output):
            node["template"]["dockerfile"] = "template"
            edited = add_service_text(text, name, node=node)
            # Uncommitted work was looked for before the template ran (its output, in .msgen/, is not the user's).
            planned = check(_plan(root, spec, edited, (Folder(target),)), force=True)
            planned.refuse()
        done = replace(planned, folders=(Folder(target, output),))
        apply(done)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return done
