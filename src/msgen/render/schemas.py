"""The request and response models of a service, generated from its OpenAPI contract by datamodel-code-generator.

The contract (``render/openapi.py``) is the source: ``schemas.py`` is what
datamodel-code-generator's Python API makes of its ``components/schemas``, in
process, one call per service. What msgen needs beyond plain JSON Schema is
added to an in-memory copy of the contract that only the generator sees
(the committed contract never holds it):

- ``customBasePath`` on each object schema: ``...Create`` and value objects get
  ``RequestModel`` (unknown keys refused), ``...Update`` gets ``PatchModel``,
  ``...Read``, ``...Page`` and ``...Accepted`` get ``ResponseModel``;
- inline enums become named schemas (``OrderCurrency``), the names the spec's
  enums have everywhere else;
- ``format: email`` is ``msgen_runtime.types.Email`` (``x-python-type``);
- a decimal's ``x-msgen-decimal`` (precision, scale, bounds) becomes
  ``max_digits``, ``decimal_places``, ``ge`` and ``le``;
- ``anyOf: [X, null]`` becomes ``type: [X, "null"]``, so that a nullable
  constrained string stays one annotated field instead of a root model.

Two things JSON Schema cannot say are done on the generated text, at positions
found with ``ast``: a PATCH model's ``non_nullable`` (the fields its contract
does not let be null, which ``PatchModel`` refuses to set to null), and
non-integral decimal bounds, written as ``Decimal("0.01")`` rather than a float.

The generated code is formatted later, with every other Python file, by ruff
(``render/formatting.py``).
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from msgen.names import pascal

RUNTIME = "msgen_runtime.schemas"
_BASES = (("Create", "RequestModel"), ("Update", "PatchModel"), ("Read", "ResponseModel"))
_RESPONSES = ("Page", "Accepted")
_DECIMAL_PATTERN = re.compile(r"^\^(?P<sign>-\?)?\\d\{1,(?P<whole>\d+)\}(?:\(\\\.\\d\{1,(?P<scale>\d+)\}\)\?)?\$$")


def base_class(schema_name: str) -> str:
    """The runtime base class of a component schema, by its name."""
    for suffix, base in _BASES:
        if schema_name.endswith(suffix) and schema_name != suffix:
            return base
    if schema_name.endswith(_RESPONSES):
        return "ResponseModel"
    return "RequestModel"


def _owner(schema_name: str) -> str:
    for suffix, _ in _BASES:
        if schema_name.endswith(suffix) and schema_name != suffix:
            return schema_name.removesuffix(suffix)
    return schema_name


def _nullable_branch(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """X when `schema` is anyOf [X, null], else None."""
    branches = schema.get("anyOf")
    if isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches:
        inner: Mapping[str, Any] = next(b for b in branches if b != {"type": "null"})
        return inner
    return None


def allows_null(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return _nullable_branch(schema) is not None or (isinstance(kind, list) and "null" in kind)


def decimal_facts(schema: Mapping[str, Any]) -> dict[str, Any]:
    """precision, scale, minimum, maximum of a decimal schema: its x-msgen-decimal, or else its pattern."""
    facts = schema.get("x-msgen-decimal")
    if isinstance(facts, dict):
        return dict(facts)
    match = _DECIMAL_PATTERN.match(str(schema.get("pattern", "")))
    if match is None:
        return {}
    scale = int(match["scale"] or 0)
    out: dict[str, Any] = {"precision": int(match["whole"]) + scale, "scale": scale}
    if not match["sign"]:
        out["minimum"] = "0"
    return out


def _number(text: Any) -> int | float:
    value = float(str(text))
    return int(value) if value == int(value) else value


class _Copy:
    """The generator's input: a transformed copy of the contract's schemas."""

    def __init__(self, schemas: Mapping[str, Any]) -> None:
        self.schemas = schemas
        self.out: dict[str, Any] = {}
        self.enums: dict[str, list[Any]] = {}

    def build(self, names: Iterable[str]) -> dict[str, Any]:
        for name in names:
            schema = self.schemas[name]
            if schema.get("type") != "object":
                self.out[name] = dict(schema)
                continue
            base = base_class(name)
            obj: dict[str, Any] = {
                key: value
                for key, value in schema.items()
                if key not in ("properties", "example", "examples")
                and not (key == "additionalProperties" and base in ("RequestModel", "PatchModel"))
            }
            obj["customBasePath"] = f"{RUNTIME}.{base}"
            obj["properties"] = {
                prop: self.property(sub, pascal(f"{_owner(name)}_{prop}"))
                for prop, sub in (schema.get("properties") or {}).items()
            }
            self.out[name] = obj
        for enum, values in self.enums.items():
            self.out.setdefault(enum, {"type": "string", "enum": values})
        return self.out

    def property(self, schema: Mapping[str, Any], enum_name: str) -> dict[str, Any]:
        inner = _nullable_branch(schema)
        if inner is None:
            return self.value(schema, enum_name, nullable=False)
        converted = self.value(inner, enum_name, nullable=True)
        if "$ref" in converted:
            return {"anyOf": [converted, {"type": "null"}]}
        return converted

    def value(self, schema: Mapping[str, Any], enum_name: str, *, nullable: bool) -> dict[str, Any]:
        out = dict(schema)
        if "enum" in out and out.get("type") == "string":
            self.enums.setdefault(enum_name, list(out["enum"]))
            ref: dict[str, Any] = {"$ref": f"#/components/schemas/{enum_name}"}
            if "default" in out:
                ref["default"] = out["default"]
            if "description" in out:
                ref["description"] = out["description"]
            return ref
        if out.get("type") == "array" and isinstance(out.get("items"), dict):
            out["items"] = self.value(out["items"], enum_name, nullable=False)
        fmt = out.get("format")
        if fmt == "email":
            out["x-python-type"] = f"msgen_runtime.types.Email{' | None' if nullable else ''}"
            if out.get("maxLength") == 320:  # Email's own limit
                del out["maxLength"]
        elif fmt == "decimal":
            facts = decimal_facts(out)
            out.pop("pattern", None)  # pydantic checks a Decimal's digits, not a pattern
            out.pop("x-msgen-decimal", None)
            if "precision" in facts:
                out["x-max_digits"] = facts["precision"]
                out["x-decimal_places"] = facts["scale"]
            if "minimum" in facts:
                out["minimum"] = _number(facts["minimum"])
            if "maximum" in facts:
                out["maximum"] = _number(facts["maximum"])
        if nullable and "type" in out and "$ref" not in out:
            out["type"] = [out["type"], "null"]
        return out


def generator_input(contract: Mapping[str, Any]) -> dict[str, Any]:
    """The document handed to datamodel-code-generator: the contract's schemas, adapted."""
    schemas: Mapping[str, Any] = (contract.get("components") or {}).get("schemas") or {}
    names = [name for name in schemas if name != "Problem"]
    return {
        "openapi": contract.get("openapi", "3.1.0"),
        "info": {"title": "models", "version": "1"},
        "paths": {},
        "components": {"schemas": _Copy(schemas).build(names)},
    }


def non_nullable(contract: Mapping[str, Any]) -> dict[str, list[str]]:
    """PATCH models and the fields their contract does not let be null."""
    schemas = (contract.get("components") or {}).get("schemas") or {}
    return {
        name: sorted(prop for prop, sub in (schema.get("properties") or {}).items() if not allows_null(sub))
        for name, schema in schemas.items()
        if base_class(name) == "PatchModel" and schema.get("type") == "object"
    }


def _options() -> dict[str, Any]:
    from datamodel_code_generator._format_types import PythonVersion
    from datamodel_code_generator.enums import DataModelType, DefaultValueType, InputFileType

    return {
        "input_file_type": InputFileType.OpenAPI,
        "output_model_type": DataModelType.PydanticV2BaseModel,
        "target_python_version": PythonVersion.PY_311,
        "use_annotated": True,
        "field_constraints": True,
        "use_standard_collections": True,
        "use_union_operator": True,
        "use_schema_description": True,
        "use_single_line_docstring": True,
        "use_subclass_enum": True,  # class OrderCurrency(StrEnum)
        "set_default_enum_member": True,  # currency: OrderCurrency = OrderCurrency.EUR
        "deserialize_default_values": [DefaultValueType.Decimal, DefaultValueType.Enum],
        "strict_nullable": True,  # a field is Optional only where its contract says null
        "type_mappings": ["string+uri=string"],  # a URL is a str with its pattern, as the table stores it
        "field_extra_keys_without_x_prefix": {"x-max_digits", "x-decimal_places"},
        "disable_timestamp": True,
        "disable_future_imports": True,
        "formatters": [],  # ruff formats every generated Python file in one batch afterwards
    }


@dataclass(frozen=True)
class Edit:
    start: tuple[int, int]  # (line, column), ast's positions: lines from 1
    end: tuple[int, int]
    text: str


def _apply(source: str, edits: list[Edit]) -> str:
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode()))
    data = source.encode()
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        start = offsets[edit.start[0] - 1] + edit.start[1]
        end = offsets[edit.end[0] - 1] + edit.end[1]
        data = data[:start] + edit.text.encode() + data[end:]
    return data.decode()


def _post_step(code: str, patches: Mapping[str, list[str]]) -> str:
    """non_nullable on PATCH models, Decimal("...") for non-integral decimal bounds."""
    tree = ast.parse(code)
    edits: list[Edit] = []
    needs_classvar = False
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        nulls = patches.get(node.name)
        if nulls:
            first = node.body[0]
            after = first if isinstance(first, ast.Expr) else None
            names = ", ".join(repr(n) for n in nulls)
            line = f"    non_nullable: ClassVar[frozenset[str]] = frozenset({{{names}}})\n"
            at = (after.end_lineno or after.lineno) + 1 if after else first.lineno
            edits.append(Edit((at, 0), (at, 0), line))
            needs_classvar = True
        for call in ast.walk(node):
            if isinstance(call, ast.AnnAssign) and "Decimal" in ast.unparse(call.annotation):
                for sub in ast.walk(call.annotation):
                    if isinstance(sub, ast.keyword) and sub.arg in ("ge", "le", "gt", "lt"):
                        value = sub.value
                        if isinstance(value, ast.Constant) and isinstance(value.value, float):
                            edits.append(
                                Edit(
                                    (value.lineno, value.col_offset),
                                    (value.end_lineno or value.lineno, value.end_col_offset or 0),
                                    f'Decimal("{value.value!r}")',
                                )
                            )
    code = _apply(code, edits)
    if needs_classvar:
        code = _add_import(code, "from typing import ClassVar")
    return code


def _add_import(code: str, line: str) -> str:
    """`line` after the module docstring (ruff sorts and merges imports afterwards)."""
    tree = ast.parse(code)
    first = tree.body[0]
    at = (first.end_lineno or 0) if isinstance(first, ast.Expr) else 0
    lines = code.splitlines(keepends=True)
    return "".join([*lines[:at], "\n" + line + "\n", *lines[at:]])


def _generate(document: dict[str, Any], header: str, patches: Mapping[str, list[str]]) -> str:
    """One datamodel-code-generator call, in process, and the post-step."""
    if not document["components"]["schemas"]:
        return f"{header}\n"
    from datamodel_code_generator import generate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = generate(document, custom_file_header=header, **_options())
    assert isinstance(code, str)
    return _post_step(code, patches)


def classes(code: str) -> tuple[list[str], dict[str, str], dict[str, set[str]]]:
    """(import lines, class name -> its source, class name -> the names its body uses) of a generated module."""
    tree = ast.parse(code)
    lines = code.splitlines(keepends=True)

    def segment(node: ast.stmt) -> str:
        # a top-level statement spans whole lines; ast.get_source_segment would split the module again per node
        return "".join(lines[node.lineno - 1 : node.end_lineno]).rstrip("\n")

    imports = [segment(n) for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    sources: dict[str, str] = {}
    uses: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            sources[node.name] = segment(node)
            uses[node.name] = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return imports, sources, uses


def client_models(provider_models: str, roots: Iterable[str]) -> tuple[list[str], str]:
    """The provider's generated models that `roots` need, re-based on ClientModel: (import lines, class sources)."""
    imports, sources, uses = classes(provider_models)
    wanted: set[str] = set()
    todo = [r for r in roots if r in sources]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(u for u in uses[name] if u in sources and u not in wanted)
    out = []
    for name, source in sources.items():
        if name not in wanted:
            continue
        source = re.sub(
            rf"^class {name}\((RequestModel|PatchModel|ResponseModel)\):",
            f"class {name}(ClientModel):",
            source,
            count=1,
        )
        source = re.sub(r"\n    non_nullable: ClassVar\[frozenset\[str\]\] = frozenset\(\{[^}]*\}\)\n", "\n", source)
        out.append(source)
    return imports, "\n\n\n".join(out)


_MEMO: dict[str, str] = {}


def _memo_key(document: Mapping[str, Any], header: str) -> str:
    import json

    return header + "\0" + json.dumps(document, sort_keys=True, default=str)


def service_models(system: Any, service: Any, contract: Mapping[str, Any] | None = None) -> str:
    """`schemas.py` of a service, from its contract (rendered from the spec when not given)."""
    if contract is None:
        from msgen.render.openapi import openapi_document

        contract = openapi_document(system, service)
    header = (
        f'"""Request and response models of the {service.name} service.\n\n'
        f"Generated from its contract, contracts/openapi/{service.name}.{system.api_version}.yaml, "
        f'by datamodel-code-generator.\n"""'
    )
    return cached_models(contract, header)


def cached_models(contract: Mapping[str, Any], header: str) -> str:
    """The models of `contract`, once per distinct input in this process (regen renders two specs that mostly agree)."""
    document = generator_input(contract)
    key = _memo_key(document, header)
    if key not in _MEMO:
        if len(_MEMO) > 1024:
            _MEMO.clear()
        stored = _disk_cache(key)
        code = stored.read_text() if stored is not None and stored.is_file() else None
        if code is None:
            code = _generate(document, header, non_nullable(contract))
            _store(stored, code)
        _MEMO[key] = code
    return _MEMO[key]


def _disk_cache(key: str) -> Path | None:
    """Where the models of this input are kept between runs: $XDG_CACHE_HOME/msgen/models/<digest>.py.

    The digest covers the input, this module's code (the options and the post-step) and the
    generator's version, so a hit is exactly what a new call would return. MSGEN_NO_CACHE=1 turns it off.
    """
    if os.environ.get("MSGEN_NO_CACHE"):
        return None
    digest = hashlib.sha256(_generator_fingerprint())
    digest.update(key.encode())
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "msgen" / "models" / f"{digest.hexdigest()}.py"


@cache
def _generator_fingerprint() -> bytes:
    """This module's code and the generator's version: read once per process (metadata lookups are slow)."""
    from importlib.metadata import version

    return Path(__file__).read_bytes() + version("datamodel-code-generator").encode()


def _store(path: Path | None, code: str) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as out:
            out.write(code)
        os.replace(out.name, path)
    except OSError:
        pass  # no cache then, only slower
