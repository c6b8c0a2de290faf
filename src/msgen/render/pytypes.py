"""The Python spelling of the model's field types: pydantic annotations, SQLAlchemy columns, ORM attributes.

The model says what a field is (its kind, item, value object, enum, constraints); only the
Python renderer knows how pydantic and SQLAlchemy write it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from msgen import model as m
from msgen.render.common import NO_NUL_PATTERN, URL_PATTERN

_PYDANTIC_SCALAR = {
    m.Kind.STRING: "str",
    m.Kind.TEXT: "str",
    m.Kind.INT: "int",
    m.Kind.DECIMAL: "Decimal",
    m.Kind.BOOL: "bool",
    m.Kind.UUID: "UUID",
    m.Kind.REF: "UUID",
    m.Kind.DATETIME: "AwareDatetime",
    m.Kind.DATE: "date",
    m.Kind.EMAIL: "Email",
    m.Kind.URL: "str",
}
# what a Python spelling of a scalar needs imported (module, name): pydantic annotations and ORM attributes
TYPE_IMPORTS: dict[str, tuple[str, str]] = {
    "Decimal": ("decimal", "Decimal"),
    "UUID": ("uuid", "UUID"),
    "datetime": ("datetime", "datetime"),
    "date": ("datetime", "date"),
    "Email": ("msgen_runtime.types", "Email"),
    "AwareDatetime": ("pydantic", "AwareDatetime"),
}
_MAPPED_SCALAR = {**_PYDANTIC_SCALAR, m.Kind.EMAIL: "str", m.Kind.DATETIME: "datetime"}


def python_type(t: m.FieldType) -> str:
    """The pydantic annotation of a value of type `t`, e.g. "Decimal", "list[OrderLine]"."""
    if t.kind == m.Kind.LIST:
        assert t.item is not None
        return f"list[{python_type(t.item)}]"
    if t.kind == m.Kind.OBJECT:
        assert t.value_object is not None
        return t.value_object.name
    if t.kind == m.Kind.ENUM:
        assert t.enum_class is not None
        return t.enum_class
    return _PYDANTIC_SCALAR[t.kind]


def scalar_import(t: m.FieldType) -> tuple[str, str] | None:
    """What a scalar type's pydantic annotation imports (module, name), if anything."""
    return TYPE_IMPORTS.get(_PYDANTIC_SCALAR.get(t.kind, ""))


def mapped_type(t: m.FieldType) -> str:
    """The ORM attribute's type (`Mapped[...]`) of a column holding `t`: JSON is a list or a dict."""
    if t.kind == m.Kind.LIST:
        return "list[Any]"
    if t.kind == m.Kind.OBJECT:
        return "dict[str, Any]"
    if t.kind == m.Kind.ENUM:
        return "str"
    return _MAPPED_SCALAR[t.kind]


def column_type(f: m.Field) -> str:
    """The SQLAlchemy column type of an entity's field as models.py writes it: its description's
    (`msgen.tables.field_column`) through the migrations' macro, a DATETIME as the runtime's UtcDateTime."""
    from msgen.render.migrations import type_expr
    from msgen.tables import field_column

    return "UtcDateTime()" if f.type.kind == m.Kind.DATETIME else type_expr(field_column(f))


INT_MIN = -(2**63)  # what a BIGINT column holds
INT_MAX = 2**63 - 1
_DEFAULT_MAX_LENGTH = {m.Kind.STRING: 255, m.Kind.URL: 2048}
_DEFAULT_PATTERN = {m.Kind.STRING: NO_NUL_PATTERN, m.Kind.TEXT: NO_NUL_PATTERN, m.Kind.URL: URL_PATTERN}


def field_keywords(kind: m.Kind, c: Mapping[str, Any]) -> list[tuple[str, int | Decimal | str]]:
    """The pydantic `Field` keywords of a field's constraints `c`, with the defaults of its kind.

    The one table of them, for the schemas' models (render/schemas.py, which sorts them) and the routes'
    query parameters (py_base.field_constraints, in this order). A value is an int (a bound, a length,
    a number of digits), a Decimal (a decimal's bound, as exact as the spec wrote it) or a str (a
    pattern); each caller spells it.
    """
    out: list[tuple[str, int | Decimal | str]] = []
    if kind == m.Kind.INT:
        out += [("ge", int(c.get("min", INT_MIN))), ("le", int(c.get("max", INT_MAX)))]
    elif kind == m.Kind.DECIMAL:
        out += [(keyword, Decimal(str(c[key]))) for keyword, key in (("ge", "min"), ("le", "max")) if key in c]
        out += [("max_digits", int(c.get("precision", 18))), ("decimal_places", int(c.get("scale", 2)))]
    elif kind in m.STRINGISH_KINDS:
        if "min_length" in c:
            out.append(("min_length", int(c["min_length"])))
        longest = c.get("max_length", _DEFAULT_MAX_LENGTH.get(kind))
        if longest is not None:
            out.append(("max_length", int(longest)))
        pattern = c.get("pattern", _DEFAULT_PATTERN.get(kind))
        if pattern is not None:
            out.append(("pattern", pattern))
    elif kind == m.Kind.LIST:
        out += [
            (keyword, int(c[key]))
            for keyword, key in (("min_length", "min_items"), ("max_length", "max_items"))
            if key in c
        ]
    return out
