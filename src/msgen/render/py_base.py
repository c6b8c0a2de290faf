"""Shared by the Python views: imports, parameters, field constraints."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from msgen import model as m
from msgen.names import param_var
from msgen.render.escape import py_string
from msgen.render.pytypes import INT_MAX, INT_MIN, TYPE_IMPORTS, field_keywords, python_type


@dataclass(frozen=True)
class ImportLines:
    """A file's imports: `import module` for each of `modules`, `from module import a, b` for each of `names`
    (the macro `imports` of templates/macros/python.py.j2 writes them; ruff sorts and groups them afterwards)."""

    modules: tuple[str, ...]
    names: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass
class Imports:
    """The imports of a file, collected while building it, sorted at the end."""

    names: dict[str, set[str]] = field(default_factory=dict)
    modules: set[str] = field(default_factory=set)

    def add(self, module: str, *names: str) -> None:
        self.names.setdefault(module, set()).update(names)

    def module(self, name: str) -> None:
        self.modules.add(name)

    def lines(self) -> ImportLines:
        return ImportLines(
            tuple(sorted(self.modules)),
            tuple((mod, tuple(sorted(names))) for mod, names in sorted(self.names.items())),
        )


def _need_type(imports: Imports, ftype: m.FieldType) -> None:
    target = python_type(ftype.item or ftype)
    if target in TYPE_IMPORTS:
        imports.add(*TYPE_IMPORTS[target])


def _py_literal(value: Any) -> str:
    return repr(value)


# How a route's Query(...) writes a BIGINT's range.
_BIGINT_SPELLING = {INT_MIN: "-(2**63)", INT_MAX: "2**63 - 1"}


@dataclass(frozen=True)
class Keyword:
    """`name=value` in a call: the value already a Python literal."""

    name: str
    value: str


@dataclass(frozen=True)
class PyType:
    """A type `name`, `name[literal, ...]` when it has literals (`Literal['a', 'b']`), `| None` after it
    when optional: written by the `py_type` macro of templates/macros/python.py.j2."""

    name: str
    literals: tuple[str, ...] = ()  # Python literals
    optional: bool = False


@dataclass(frozen=True)
class Annotation:
    """`Annotated[type, marker(keywords)]`: a parameter's type with FastAPI's or pydantic's metadata
    (Query, Path, Field), written by the `annotation` macro of templates/macros/python.py.j2."""

    type: str | PyType
    marker: str
    keywords: tuple[Keyword, ...]


@dataclass(frozen=True)
class Dependency:
    """`Annotated[type, Depends(factory(args))]`: a FastAPI dependency its factory makes from Python
    literals, written by the `annotation` macro of templates/macros/python.py.j2."""

    type: str
    factory: str
    args: tuple[str, ...]


def field_keywords_of(f: m.Field) -> tuple[Keyword, ...]:
    """pydantic Field(...) keyword arguments for a field's constraints (pytypes.field_keywords's table)."""
    out = [Keyword(keyword, _query_literal(value)) for keyword, value in field_keywords(f.type.kind, f.constraints)]
    if f.description:
        out.append(Keyword("description", _py_literal(f.description)))
    return tuple(out)


def field_constraints(f: m.Field) -> list[str]:
    """`field_keywords_of` as source text."""
    return [f"{k.name}={k.value}" for k in field_keywords_of(f)]


def _query_literal(value: int | Decimal | str) -> str:
    if isinstance(value, str):
        return _py_literal(value)
    if isinstance(value, Decimal):
        return f"Decimal({py_string(str(value.normalize()))})" if value != int(value) else f"{int(value)}"
    return _BIGINT_SPELLING.get(value, str(value))


def _default_literal(f: m.Field) -> str:
    if f.type.kind == m.Kind.ENUM:
        return f"{f.type.enum_class}.{f.default}"
    if f.type.kind == m.Kind.DECIMAL:
        return f"Decimal({py_string(str(f.default))})"
    return _py_literal(f.default)


def json_fields(entity: m.Entity) -> tuple[str, ...]:
    return tuple(f.name for f in entity.fields if f.type.kind in (m.Kind.OBJECT, m.Kind.LIST))


@dataclass(frozen=True)
class Param:
    """One parameter of a generated function: `name: annotation = default`."""

    name: str
    annotation: str | PyType | Annotation | Dependency
    default: str | None = None


def path_params(op: m.Operation, imports: Imports, *, route: bool = False) -> tuple[Param, ...]:
    """`id: UUID` for an entity id, `name: str` for any other path parameter.

    A parameter renamed by `param_var` keeps its name in the URL: a route declares it with
    `Path(alias=...)`.
    """
    if "id" in op.path_params:
        imports.add("uuid", "UUID")
    out = []
    for p in op.path_params:
        var = param_var(p)
        if p == "id":
            out.append(Param("id", "UUID"))
        elif var != p and route:
            imports.add("typing", "Annotated")
            imports.add("fastapi", "Path")
            out.append(Param(var, Annotation("str", "Path", (Keyword("alias", py_string(p)),))))
        else:
            out.append(Param(var, "str"))
    return tuple(out)


def _query_type(f: m.Field, imports: Imports, *, optional: bool) -> PyType:
    """The Python type of a query parameter (an enum is a Literal of its values: it has no schema class)."""
    if f.type.kind == m.Kind.ENUM:
        imports.add("typing", "Literal")
        return PyType("Literal", tuple(repr(v) for v in f.type.enum_values), optional)
    _need_type(imports, f.type)
    return PyType(python_type(f.type), optional=optional)


def _query_default(f: m.Field) -> str | None:
    """`= value` for an optional query parameter, None for a required one."""
    if f.has_default:
        return repr(f.default) if f.type.kind == m.Kind.ENUM else _default_literal(f)
    return None if f.required else "None"


def query_params(op: m.Operation, imports: Imports, *, route: bool) -> tuple[Param, ...]:
    """Query parameters (keyword-only): validated by FastAPI in a route (Query), plainly typed elsewhere."""
    out = []
    for f in op.query:
        kind = _query_type(f, imports, optional=not f.required and not f.has_default)
        annotation: PyType | Annotation = kind
        if route:
            imports.add("fastapi", "Query")
            imports.add("typing", "Annotated")
            annotation = Annotation(kind, "Query", field_keywords_of(f))
        out.append(Param(f.name, annotation, _query_default(f)))
    return tuple(out)
