"""Deterministic example values that satisfy a field's type and constraints.

They appear in the OpenAPI contracts and drive the generated test suites.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from msgen import model as m
from msgen.samples import string_example as string_example

EXAMPLE_UUID = "00000000-0000-4000-8000-000000000001"


def field_example(f: m.Field, value_objects: tuple[m.ValueObject, ...], *, seed: int = 0) -> Any:
    """A JSON value for field `f` (value objects are looked up in `value_objects`)."""
    return type_example(f.type, f.constraints, f.default, value_objects, seed=seed, given=f.example)


def type_example(
    t: m.FieldType,
    constraints: dict[str, Any],
    default: Any,
    value_objects: tuple[m.ValueObject, ...],
    *,
    seed: int = 0,
    given: Any = None,
) -> Any:
    kind = t.kind
    if kind == "list":
        assert t.item is not None
        count = max(1, constraints.get("min_items", 1))
        return [type_example(t.item, {}, None, value_objects, seed=seed) for _ in range(count)]
    if kind == "object":
        vo = t.value_object
        assert vo is not None
        # Every field, the optional ones too: an answer carries them all (null when left out), and the
        # generated tests compare the object they sent with the one they read back.
        return {f.name: field_example(f, value_objects, seed=seed) for f in vo.fields}
    if given is not None:
        return given
    if kind == "enum":
        values = t.enum_values
        return default if default is not None and seed == 0 else values[seed % len(values)]
    if kind in ("string", "text"):
        return string_example(constraints, seed=seed, kind=kind)
    if kind == "int":
        low = int(constraints.get("min", 0))
        high = int(constraints.get("max", low + 100))
        return min(max(low, 1 + seed), high)
    if kind == "decimal":
        floor = Decimal(str(constraints.get("min", 0)))
        ceiling = Decimal(str(constraints.get("max", 1_000_000)))
        scale = int(constraints.get("scale", 2))
        amount = min(max(floor, Decimal("12.5") + seed), ceiling)
        return f"{amount:.{scale}f}"
    if kind == "bool":
        return seed % 2 == 0
    if kind in ("uuid", "ref"):
        return EXAMPLE_UUID if seed == 0 else f"00000000-0000-4000-8000-{seed:012d}"
    if kind == "datetime":
        return f"2026-01-0{1 + seed % 9}T10:00:00Z"
    if kind == "date":
        return f"2026-01-0{1 + seed % 9}"
    if kind == "email":
        local = f"someone{seed or ''}"
        # as long as its min_length asks (an address's local part holds 64 characters at most)
        local += "x" * min(64 - len(local), int(constraints.get("min_length", 0)) - len(local) - len("@example.com"))
        return f"{local}@example.com"
    if kind == "url":
        return f"https://example.com/{seed}"
    raise AssertionError(kind)


def example_payload(entity: m.Entity, service: m.Service) -> dict[str, Any]:
    """A create body: every writable field that is required or has a default."""
    vos = service.value_objects
    return {f.name: field_example(f, vos) for f in entity.writable_fields if f.required or f.has_default}


def update_payload(entity: m.Entity, service: m.Service) -> dict[str, Any]:
    """A patch body changing one plain field to another valid value ({} when none can change)."""
    for f in entity.writable_fields:
        if (
            f.type.kind in (m.Kind.STRING, m.Kind.TEXT, m.Kind.INT, m.Kind.DECIMAL, m.Kind.BOOL, m.Kind.ENUM)
            and not f.unique
        ):
            first = field_example(f, service.value_objects)
            for seed in (1, 2, 3):
                other = field_example(f, service.value_objects, seed=seed)
                if other is not None and other != first:
                    return {f.name: other}
    return {}
