"""msgen's one generator of pydantic models: request and response bodies, event payloads, clients' models.

Every pydantic class a generated service has is described here from the resolved model, as a
`ModelClass` (its name, base, docstring and attributes, each attribute's annotation already holding
its constraints), and written by the macros of templates/macros/models.py.j2 (`classes_code`, `module_text`):

- ``schemas.py``: a service's bodies, the classes its contract's ``components/schemas`` name
  (``render/openapi.py`` writes both from the same model; the contract tests check that the app
  serves the contract). Value objects and ``...Create`` are ``RequestModel`` (unknown keys refused),
  ``...Update`` is ``PatchModel`` with the fields that may not be null in ``non_nullable``, ``...Read``,
  ``...Page`` and ``...Accepted`` are ``ResponseModel``; an enum is a ``StrEnum`` named after its field
  (``OrderCurrency``).
- ``events.py``: each event's payload (``EventPayload``); a value object or enum the service's
  ``schemas.py`` has is imported from there, so a service has one ``OrderLine``.
- ``clients/<service>.py``: the called service's classes a call needs, on ``ClientModel``.

One rule per field kind gives the annotation: ``Annotated[<type>, Field(<constraints>)]``, the
keywords in alphabetical order, ``| None`` where the value may be null or left out without a default.
A field whose name is an attribute of pydantic's ``BaseModel`` (``json``, ``schema``...) gets a trailing
``_`` and its name as alias. Spec text (descriptions, patterns, defaults) reaches the code only through
``render/escape.py``.

An older API version has no model left, only its frozen contract: `contract_classes` reads msgen's own
OpenAPI subset into the same descriptions.

The generated code is formatted later, with every other Python file, by ruff (``render/formatting.py``).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from msgen import model as m
from msgen.errors import EXIT_BAD_INPUT, MsgenError
from msgen.names import ENUM_VALUE_RE, a, pascal, sentence
from msgen.render import pytypes
from msgen.render.common import decimal_description
from msgen.render.escape import plain, py_docstring, py_docstring_text, py_string
from msgen.render.templates import _render, environment

RUNTIME = "msgen_runtime.schemas"
_BASES = (("Create", "RequestModel"), ("Update", "PatchModel"), ("Read", "ResponseModel"))
_RESPONSES = ("Page", "Accepted")
_DECIMAL_PATTERN = re.compile(r"^\^(?P<sign>-\?)?\\d\{1,(?P<whole>\d+)\}(?:\(\\\.\\d\{1,(?P<scale>\d+)\}\)\?)?\$$")

# Attributes of pydantic's BaseModel a field may not shadow (names starting with model_ are refused by the resolver).
_SHADOWING = frozenset(
    {
        "construct",
        "copy",
        "dict",
        "from_orm",
        "json",
        "mro",
        "parse_file",
        "parse_obj",
        "parse_raw",
        "register",
        "schema",
        "schema_json",
        "update_forward_refs",
        "validate",
    }
)

Import = tuple[str, str]  # (module, name)


@dataclass(frozen=True)
class TypeExpr:
    """An attribute's annotation, written by the `type_expr` macro of templates/macros/models.py.j2:
    `name`, `name[item]` for a list, `... | None` when optional, all inside
    `Annotated[..., Field(keyword=value, ...)]` when it has keywords (each value a Python literal)."""

    name: str
    keywords: tuple[tuple[str, str], ...] = ()
    item: TypeExpr | None = None
    optional: bool = False

    @property
    def annotated(self) -> bool:
        """Whether it, or its item, needs `Annotated` and `Field`."""
        return bool(self.keywords) or (self.item is not None and self.item.annotated)


@dataclass(frozen=True)
class Attribute:
    """One field of a generated class."""

    name: str  # the Python attribute (the field's name, or name_ with an alias)
    annotation: TypeExpr
    default: str | None = None  # a Python expression; None: required


@dataclass(frozen=True)
class ModelClass:
    """A generated class: a pydantic model, or a StrEnum (`members`)."""

    name: str
    base: str
    doc: str | None  # the whole docstring literal, escaped
    attributes: tuple[Attribute, ...] = ()
    members: tuple[tuple[str, str], ...] = ()  # an enum's (member name, value)
    non_nullable: tuple[str, ...] = ()  # a PatchModel's fields that may be left out, never set to null
    uses: frozenset[str] = frozenset()  # the generated classes it names
    imports: frozenset[Import] = frozenset()

    @property
    def is_enum(self) -> bool:
        return self.base == "StrEnum"


@dataclass(frozen=True)
class _Type:
    """A Python type expression, the Field() keywords it carries, what it imports and names."""

    expr: str  # `list` for a list of `item`
    keywords: tuple[tuple[str, str], ...] = ()
    imports: frozenset[Import] = frozenset()
    uses: frozenset[str] = frozenset()
    item: _Type | None = None


# ---- the resolved model's field types, as Python types


def python_type(t: m.FieldType) -> tuple[str, Import | None]:
    """The Python type of a scalar kind and its import (render/pytypes.py is where kinds are spelled)."""
    return pytypes.python_type(t), pytypes.scalar_import(t)


def _number(text: Any, imports: set[Import]) -> str:
    """A bound as a Python literal: an int when integral, else an exact Decimal("...")."""
    value = Decimal(str(text))
    if value == value.to_integral_value():
        return str(int(value))
    imports.add(("decimal", "Decimal"))
    return f"Decimal({py_string(format(value.normalize(), 'f'))})"


def _field_type(t: m.FieldType, c: Mapping[str, Any]) -> _Type:
    """A field type with its constraints `c` (the resolver's: min, max, min_length, pattern, precision...)."""
    kind = t.kind
    imports: set[Import] = set()
    keywords: dict[str, str] = {}
    if kind == "list":
        assert t.item is not None
        item = _field_type(t.item, {})
        keywords.update((word, str(value)) for word, value in pytypes.field_keywords(kind, c))
        extra = {("typing", "Annotated"), ("pydantic", "Field")} if item.keywords else set()
        return _Type("list", _sorted(keywords), item.imports | extra, item.uses, item)
    if kind == "object":
        assert t.value_object is not None
        return _Type(t.value_object.name, uses=frozenset({t.value_object.name}))
    if kind == "enum":
        assert t.enum_class is not None
        return _Type(t.enum_class, uses=frozenset({t.enum_class}))
    expr, needed = python_type(t)
    if needed:
        imports.add(needed)
    for word, value in pytypes.field_keywords(kind, c):
        if isinstance(value, str):
            keywords[word] = py_string(value)
        elif isinstance(value, Decimal):
            keywords[word] = _number(value, imports)
        else:
            keywords[word] = str(value)
    if kind == "decimal":
        words = decimal_description(dict(c))
        if words is not None:
            keywords["description"] = py_string(words)
    return _Type(expr, _sorted(keywords), frozenset(imports))


def _sorted(keywords: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(keywords.items()))


def _type_expr(t: _Type, keywords: tuple[tuple[str, str], ...], *, optional: bool = False) -> TypeExpr:
    item = _type_expr(t.item, t.item.keywords) if t.item is not None else None
    return TypeExpr(t.expr, keywords, item, optional)


def _attribute(name: str, t: _Type, *, description: str | None, optional: bool, default: str | None) -> Attribute:
    """`name: Annotated[<type> | None, Field(...)] = default`, its name made safe."""
    keywords = dict(t.keywords)
    if description:
        keywords["description"] = py_string(description)
    attr = name
    if name in _SHADOWING:
        attr = f"{name}_"
        keywords["alias"] = py_string(name)
    return Attribute(attr, _type_expr(t, _sorted(keywords), optional=optional), default)


def _default(f: m.Field, imports: set[Import]) -> str:
    """The spec's default of a field as a Python expression."""
    kind = f.type.kind
    if kind == "enum":
        assert f.type.enum_class is not None
        return f"{f.type.enum_class}.{member_name(plain(str(f.default)))}"
    if kind == "decimal":
        imports.add(("decimal", "Decimal"))
        return f"Decimal({py_string(str(f.default))})"
    if isinstance(f.default, str):
        return py_string(f.default)
    return repr(f.default)


def member_name(value: str) -> str:
    """An enum member's name: its value, with a trailing _ where it would hide a method of str (or mro)."""
    return f"{value}_" if value == "mro" or hasattr(str, value) else value


def field_attribute(f: m.Field, mode: str, imports: set[Import], uses: set[str]) -> Attribute:
    """A field of the model as an attribute; mode: create (and value objects), update, read or event.

    create: required unless optional or defaulted, the spec's default given; update: every field may be
    left out, null only where the field is optional; read: every field present, null where optional;
    event: an optional field may be left out (its Avro default is null), defaults are the publisher's.
    """
    t = _field_type(f.type, f.constraints)
    imports |= t.imports
    uses |= t.uses
    description = f.description
    if mode == "create" and f.has_default:
        default: str | None = _default(f, imports)
        optional = not f.required
    elif mode == "update" or (mode in ("create", "event") and not f.required):
        default, optional = "None", True
    else:
        default, optional = None, not f.required
    if any(k == "description" for k, _ in t.keywords) and description:
        t = replace(t, keywords=tuple((k, v) for k, v in t.keywords if k != "description"))
    if f.type.kind == "object":
        description = None  # a reference to a class: its own docstring describes it
    return _attribute(f.name, t, description=description, optional=optional, default=default)


def _enum_class(t: m.FieldType) -> ModelClass | None:
    target = t.item or t
    if target.enum_class is None:
        return None
    values = tuple(plain(str(v)) for v in target.enum_values)
    return enum_class(target.enum_class, values)


def enum_class(name: str, values: Iterable[str]) -> ModelClass:
    return ModelClass(
        name,
        "StrEnum",
        None,
        members=tuple((member_name(v), v) for v in values),
        imports=frozenset({("enum", "StrEnum")}),
    )


def model_class(
    name: str,
    base: str,
    doc: str,
    fields: Iterable[m.Field],
    mode: str,
    *,
    head: Sequence[tuple[str, str, str]] = (),
    tail: Sequence[tuple[str, str, str]] = (),
) -> ModelClass:
    """A pydantic class of `fields`; `head` and `tail`: fixed (name, type, import module) attributes around them."""
    imports: set[Import] = {(RUNTIME, base)}
    uses: set[str] = set()
    own = [(f, field_attribute(f, mode, imports, uses)) for f in fields]
    attributes = [Attribute(name, TypeExpr(expr)) for name, expr, _ in head]
    attributes += [attribute for _, attribute in own]
    attributes += [Attribute(name, TypeExpr(expr)) for name, expr, _ in tail]
    imports |= {(module, expr) for _, expr, module in (*head, *tail)}
    if any(attribute.annotation.annotated for attribute in attributes):
        imports |= {("typing", "Annotated"), ("pydantic", "Field")}
    non_nullable: tuple[str, ...] = ()
    if base == "PatchModel":
        # attribute names, as model_fields_set holds them (an aliased field's is name_)
        non_nullable = tuple(sorted(attribute.name for f, attribute in own if f.required))
        if non_nullable:
            imports.add(("typing", "ClassVar"))
    return ModelClass(name, base, doc, tuple(attributes), (), non_nullable, frozenset(uses), frozenset(imports))


# ---- the classes of a service


def base_class(schema_name: str) -> str:
    """The runtime base class of a component schema, by its name."""
    for suffix, base in _BASES:
        if schema_name.endswith(suffix) and schema_name != suffix:
            return base
    if schema_name.endswith(_RESPONSES):
        return "ResponseModel"
    return "RequestModel"


def _docstring(text: str) -> str:
    return f'"""{py_docstring_text(text.strip())}"""'


def _service_candidates(service: m.Service) -> list[tuple[ModelClass, tuple[m.Field, ...]]]:
    """Every body class the service's contract may hold, in the contract's order, with its fields."""
    out: list[tuple[ModelClass, tuple[m.Field, ...]]] = []
    for vo in service.value_objects:
        doc = _docstring(vo.description or f"The {vo.name} value object.")
        out.append((model_class(vo.name, "RequestModel", doc, vo.fields, "create"), vo.fields))
    uuid = ("id", "UUID", "uuid")
    stamps = [("created_at", "AwareDatetime", "pydantic"), ("updated_at", "AwareDatetime", "pydantic")]
    for e in service.entities:
        writable = e.writable_fields
        an = a(e.name)
        out.append(
            (
                model_class(
                    f"{e.name}Create", "RequestModel", _docstring(f"The body that creates {an}."), writable, "create"
                ),
                writable,
            )
        )
        doc = _docstring(f"A partial update of {an}: only the fields sent change.")
        out.append((model_class(f"{e.name}Update", "PatchModel", doc, writable, "update"), writable))
        doc = _docstring(sentence(f"{an} as clients see it."))
        out.append(
            (model_class(f"{e.name}Read", "ResponseModel", doc, e.fields, "read", head=[uuid], tail=stamps), e.fields)
        )
        page = ModelClass(
            f"{e.name}Page",
            "ResponseModel",
            _docstring(f"One page of {e.name} items."),
            (
                Attribute("items", TypeExpr("list", item=TypeExpr(f"{e.name}Read"))),
                Attribute("total", TypeExpr("int", (("ge", "0"),))),
                Attribute("limit", TypeExpr("int", (("ge", "1"),))),
                Attribute("offset", TypeExpr("int", (("ge", "0"),))),
            ),
            uses=frozenset({f"{e.name}Read"}),
            imports=frozenset({(RUNTIME, "ResponseModel"), ("typing", "Annotated"), ("pydantic", "Field")}),
        )
        out.append((page, ()))
        if any(op.is_async and op.entity is e for op in service.operations):
            accepted = ModelClass(
                f"{e.name}Accepted",
                "ResponseModel",
                _docstring(f"The answer to an accepted {e.name} request: where to follow it."),
                (Attribute("id", TypeExpr("UUID")), Attribute("status_url", TypeExpr("str"))),
                imports=frozenset({(RUNTIME, "ResponseModel"), ("uuid", "UUID")}),
            )
            out.append((accepted, ()))
    return out


# service_classes of the services rendered last, by identity (a Service holds dicts: it has no hash);
# each entry keeps its service alive, so an id is not reused while it is here
_CLASSES: dict[int, tuple[m.Service, tuple[ModelClass, ...]]] = {}
_CLASSES_KEPT = 512


def service_classes(service: m.Service) -> list[ModelClass]:
    """The classes of a service's schemas.py: those its operations reach, and their enums, in writing order.

    Made once a service: its schemas.py, its events' payloads and each caller's client models all start from
    them (three times a service, a tenth of rendering 100 services).
    """
    kept = _CLASSES.get(id(service))
    if kept is not None and kept[0] is service:
        return list(kept[1])
    classes = _service_classes(service)
    if len(_CLASSES) >= _CLASSES_KEPT:
        _CLASSES.clear()
    _CLASSES[id(service)] = (service, tuple(classes))
    return classes


def _service_classes(service: m.Service) -> list[ModelClass]:
    candidates = _service_candidates(service)
    by_name = {cls.name: cls for cls, _ in candidates}
    used: set[str] = set()
    todo = [n for op in service.operations for n in (op.request, op.response) if n]
    while todo:
        name = todo.pop()
        if name not in used and name in by_name:
            used.add(name)
            todo.extend(by_name[name].uses)
    classes = [cls for cls, _ in candidates if cls.name in used]
    enums: dict[str, ModelClass] = {}
    for cls, fields in candidates:
        if cls.name in used:
            for f in fields:
                found = _enum_class(f.type)
                if found is not None:
                    enums.setdefault(found.name, found)
    taken = {cls.name for cls in classes}
    return ordered([*classes, *(e for e in enums.values() if e.name not in taken)])


def ordered(classes: Sequence[ModelClass]) -> list[ModelClass]:
    """Each class after the classes it names: passes over the list, taking every class whose names are known."""
    names = {cls.name for cls in classes}
    done: set[str] = set()
    out: list[ModelClass] = []
    pending = list(classes)
    while pending:
        rest = []
        for cls in pending:
            if (cls.uses & names) - {cls.name} <= done:
                out.append(cls)
                done.add(cls.name)
            else:
                rest.append(cls)
        if len(rest) == len(pending):  # names that never resolve: written in the order given
            out += rest
            break
        pending = rest
    return out


def needed(classes: Sequence[ModelClass], roots: Iterable[str]) -> list[ModelClass]:
    """The classes among `classes` that `roots` name, directly or through each other, in their order."""
    by_name = {cls.name: cls for cls in classes}
    wanted: set[str] = set()
    todo = [r for r in roots if r in by_name]
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(u for u in by_name[name].uses if u in by_name)
    return [cls for cls in classes if cls.name in wanted]


def rebased(classes: Iterable[ModelClass], base: str) -> list[ModelClass]:
    """The same classes on another runtime base (enums stay StrEnums), without a PatchModel's non_nullable."""
    out = []
    for cls in classes:
        if cls.is_enum:
            out.append(cls)
            continue
        imports = {i for i in cls.imports if i[0] != RUNTIME and i != ("typing", "ClassVar")} | {(RUNTIME, base)}
        out.append(replace(cls, base=base, non_nullable=(), imports=frozenset(imports)))
    return out


# ---- writing


def imports_of(classes: Iterable[ModelClass]) -> set[Import]:
    found: set[Import] = set()
    for cls in classes:
        found |= cls.imports
    return found


def import_groups(imports: Iterable[Import]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(module, the names imported from it) in order, for `from module import a, b` lines (ruff sorts and
    groups them afterwards)."""
    by_module: dict[str, set[str]] = {}
    for module, name in imports:
        by_module.setdefault(module, set()).add(name)
    return tuple((module, tuple(sorted(names))) for module, names in sorted(by_module.items()))


def classes_code(classes: Iterable[ModelClass]) -> str:
    """The classes as Python, written by the macro `model_classes` of templates/macros/models.py.j2."""
    macro = environment().get_template("macros/models.py.j2").module.model_classes  # type: ignore[attr-defined]
    return str(macro(tuple(classes)))


def module_text(header: str, classes: Sequence[ModelClass], extra_imports: Iterable[Import] = ()) -> str:
    """A whole module of classes: its docstring `header` (a literal), its imports, its classes."""
    imports = import_groups(imports_of(classes) | set(extra_imports)) if classes else ()
    return _render("service/package/schemas.py.j2", header=header, imports=imports, classes=tuple(classes))


def service_models(system: m.System, service: m.Service) -> str:
    """`schemas.py` of a service: the bodies of its operations."""
    header = (
        f'"""Request and response models of the {service.name} service.\n\n'
        f"Generated from the spec by msgen, as is its contract, contracts/openapi/{service.name}.{system.api_version}.yaml."
        '\n"""'
    )
    return module_text(header, service_classes(service))


def client_models(callee: m.Service, roots: Iterable[str]) -> list[ModelClass]:
    """The callee's classes that `roots` need, on ClientModel (a tolerant reader)."""
    return rebased(needed(service_classes(callee), roots), "ClientModel")


# ---- events


def event_models(system: m.System, service: m.Service, events: Iterable[m.Event]) -> tuple[set[str], list[ModelClass]]:
    """The payload classes of `events`: (names imported from the service's schemas.py, classes written here).

    A value object or enum that schemas.py has, the same, is imported: one class per service.
    """
    own = {cls.name: cls for cls in service_classes(service)}
    own_vos = {vo.name: vo for vo in service.value_objects if vo.name in own}
    shared: set[str] = set()
    classes: dict[str, ModelClass] = {}

    def enums_of(fields: Iterable[m.Field]) -> None:
        for f in fields:
            found = _enum_class(f.type)
            if found is None:
                continue
            if own.get(found.name) == found:
                shared.add(found.name)
            else:
                classes.setdefault(found.name, found)

    for event in events:
        for vo in event.value_objects:
            if vo.name in shared or vo.name in classes:
                continue
            if own_vos.get(vo.name) == vo:
                shared.add(vo.name)
                shared.update(u for u in own[vo.name].uses if u in own)
                continue
            enums_of(vo.fields)
            doc = _docstring(vo.description or f"The {vo.name} value object.")
            classes[vo.name] = model_class(vo.name, "EventPayload", doc, vo.fields, "event")
        enums_of(event.fields)
        doc = py_docstring(f"{event.name} v{event.version}: " + plain(event.description))
        classes[event.class_name] = model_class(event.class_name, "EventPayload", doc, event.fields, "event")
    return shared, ordered(list(classes.values()))


# ---- older API versions: from a frozen contract


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


_FORMATS = {"uuid": "UUID", "date-time": "AwareDatetime", "date": "date", "email": "Email", "decimal": "Decimal"}
_FORMAT_IMPORTS: dict[str, Import] = {
    "UUID": ("uuid", "UUID"),
    "AwareDatetime": ("pydantic", "AwareDatetime"),
    "date": ("datetime", "date"),
    "Email": ("msgen_runtime.types", "Email"),
    "Decimal": ("decimal", "Decimal"),
}


class FrozenContractError(MsgenError):
    """A frozen contract holds what msgen never writes: its models cannot be made from it."""

    exit_code = EXIT_BAD_INPUT


_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9]{0,127}")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


def _checked(name: Any, rule: re.Pattern[str], what: str) -> str:
    """`name` if it is a name msgen writes (so it can be code), else the contract is refused."""
    if not isinstance(name, str) or not rule.fullmatch(name) or keyword.iskeyword(name):
        raise ValueError(f"{what} {str(name)[:60]!r} is not one msgen writes")
    return name


class _ContractReader:
    """msgen's own OpenAPI subset (what render/openapi.py writes) read back into classes.

    A frozen contract is a file of the project: every name in it that becomes code is checked first.
    """

    def __init__(self, schemas: Mapping[str, Any]) -> None:
        self.schemas = schemas
        self.enums: dict[str, ModelClass] = {}

    def type_of(self, schema: Mapping[str, Any], enum_name: str, imports: set[Import]) -> _Type:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = _checked(ref.rsplit("/", 1)[-1], _CLASS_NAME, "the schema name")
            return _Type(name, uses=frozenset({name}))
        if "enum" in schema and schema.get("type") == "string":
            values = [_checked(v, ENUM_VALUE_RE, "the enum value") for v in schema["enum"]]
            found = enum_class(_checked(enum_name, _CLASS_NAME, "the enum name"), values)
            self.enums.setdefault(enum_name, found)
            return _Type(enum_name, uses=frozenset({enum_name}))
        kind = schema.get("type")
        keywords: dict[str, str] = {}
        if kind == "array":
            item = self.type_of(schema.get("items") or {}, enum_name, imports)
            if item.keywords:
                imports |= {("typing", "Annotated"), ("pydantic", "Field")}
            if "minItems" in schema:
                keywords["min_length"] = str(int(schema["minItems"]))
            if "maxItems" in schema:
                keywords["max_length"] = str(int(schema["maxItems"]))
            return _Type("list", _sorted(keywords), uses=item.uses, item=item)
        if kind == "integer":
            for key, word in (
                ("minimum", "ge"),
                ("maximum", "le"),
                ("exclusiveMinimum", "gt"),
                ("exclusiveMaximum", "lt"),
            ):
                if key in schema:
                    keywords[word] = str(int(schema[key]))
            return _Type("int", _sorted(keywords))
        if kind == "number":
            for key, word in (("minimum", "ge"), ("maximum", "le")):
                if key in schema:
                    keywords[word] = repr(schema[key])
            return _Type("float", _sorted(keywords))
        if kind == "boolean":
            return _Type("bool")
        if kind == "object":
            imports.add(("typing", "Any"))
            return _Type("dict[str, Any]")
        if kind != "string":
            imports.add(("typing", "Any"))
            return _Type("Any")
        fmt = schema.get("format")
        expr = _FORMATS.get(str(fmt), "str")
        if expr != "str":
            imports.add(_FORMAT_IMPORTS[expr])
        if expr == "Decimal":
            facts = decimal_facts(schema)
            if "precision" in facts:
                keywords["max_digits"] = str(int(facts["precision"]))
                keywords["decimal_places"] = str(int(facts["scale"]))
            if "minimum" in facts:
                keywords["ge"] = _number(facts["minimum"], imports)
            if "maximum" in facts:
                keywords["le"] = _number(facts["maximum"], imports)
        elif expr in ("str", "Email"):
            if "minLength" in schema:
                keywords["min_length"] = str(int(schema["minLength"]))
            if "maxLength" in schema and expr == "str":  # an email's is its type's own (320)
                keywords["max_length"] = str(int(schema["maxLength"]))
            if "pattern" in schema:
                keywords["pattern"] = py_string(str(schema["pattern"]))
        return _Type(expr, _sorted(keywords))

    def model(self, name: str) -> ModelClass:
        schema = self.schemas[name]
        base = base_class(name)
        owner = name
        for suffix, _ in _BASES:
            if name.endswith(suffix) and name != suffix:
                owner = name.removesuffix(suffix)
        required = set(schema.get("required") or [])
        imports: set[Import] = {(RUNTIME, base)}
        uses: set[str] = set()
        attributes = []
        non_nullable = []
        for prop, sub in (schema.get("properties") or {}).items():
            _checked(prop, _FIELD_NAME, "the field name")
            inner = _nullable_branch(sub)
            nullable = inner is not None or allows_null(sub)
            t = self.type_of(inner if inner is not None else sub, pascal(f"{owner}_{prop}"), imports)
            imports |= t.imports
            uses |= t.uses
            source = inner if inner is not None else sub
            description = None if "$ref" in source else source.get("description")
            default = None
            optional = nullable
            if "default" in sub:
                default = self.default(sub["default"], t)
                imports |= {("decimal", "Decimal")} if t.expr == "Decimal" else set()
            elif prop not in required:
                default, optional = "None", True
            attr = _attribute(prop, t, description=description, optional=optional, default=default)
            attributes.append(attr)
            if base == "PatchModel" and not nullable:
                non_nullable.append(attr.name)
        if any(a.annotation.annotated for a in attributes):
            imports |= {("typing", "Annotated"), ("pydantic", "Field")}
        if non_nullable:
            imports.add(("typing", "ClassVar"))
        doc = _docstring(str(schema["description"])) if schema.get("description") else None
        return ModelClass(
            name, base, doc, tuple(attributes), (), tuple(sorted(non_nullable)), frozenset(uses), frozenset(imports)
        )

    def default(self, value: Any, t: _Type) -> str:
        if t.expr in self.enums:
            if value not in dict(self.enums[t.expr].members).values():
                raise ValueError(f"the default {str(value)[:60]!r} is not a value of {t.expr}")
            return f"{t.expr}.{member_name(str(value))}"
        if t.expr == "Decimal":
            return f"Decimal({py_string(str(value))})"
        return py_string(value) if isinstance(value, str) else repr(value)


def contract_classes(contract: Mapping[str, Any], source: str = "the contract") -> list[ModelClass]:
    """The classes of a frozen contract's components/schemas (Problem aside), in writing order."""
    try:
        schemas: Mapping[str, Any] = (contract.get("components") or {}).get("schemas") or {}
        reader = _ContractReader(schemas)
        classes = [
            reader.model(_checked(name, _CLASS_NAME, "the schema name"))
            for name, s in schemas.items()
            if name != "Problem" and s.get("type") == "object"
        ]
    except (ValueError, TypeError, KeyError, AttributeError, ArithmeticError) as exc:
        raise FrozenContractError(
            f"{source}: {exc}; restore the file as msgen wrote it (git checkout), or drop the version from "
            "served_versions"
        ) from None
    taken = {cls.name for cls in classes}
    return ordered([*classes, *(e for e in reader.enums.values() if e.name not in taken)])


def contract_models(contract: Mapping[str, Any], header: str, source: str = "the contract") -> str:
    """The module of a frozen contract's classes; `source`: its path, for the error."""
    return module_text(header, contract_classes(contract, source))


__all__ = [
    "Attribute",
    "ModelClass",
    "allows_null",
    "base_class",
    "client_models",
    "contract_models",
    "decimal_facts",
    "event_models",
    "field_attribute",
    "module_text",
    "python_type",
    "service_models",
]
