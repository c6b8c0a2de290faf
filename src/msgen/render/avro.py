"""Avro schemas of the events, one per event and version."""

from __future__ import annotations

from typing import Any

from msgen import model as m

_AVRO_SCALAR: dict[str, Any] = {
    "string": "string",
    "text": "string",
    "email": "string",
    "url": "string",
    "int": "long",
    "bool": "boolean",
    "uuid": {"type": "string", "logicalType": "uuid"},
    "ref": {"type": "string", "logicalType": "uuid"},
    "datetime": {"type": "long", "logicalType": "timestamp-micros"},
    "date": {"type": "int", "logicalType": "date"},
}


class _Named:
    """Avro names must be defined once per schema, then referred to by name."""

    def __init__(self, event: m.Event) -> None:
        self.event = event
        self.defined: set[str] = set()

    def type_of(self, t: m.FieldType, constraints: dict[str, Any]) -> Any:
        if t.kind == m.Kind.LIST:
            assert t.item is not None
            return {"type": "array", "items": self.type_of(t.item, {})}
        if t.kind == m.Kind.DECIMAL:
            return {
                "type": "bytes",
                "logicalType": "decimal",
                "precision": constraints.get("precision", 18),
                "scale": constraints.get("scale", 2),
            }
        if t.kind == m.Kind.ENUM:
            assert t.enum_class is not None
            if t.enum_class in self.defined:
                return t.enum_class
            self.defined.add(t.enum_class)
            return {"type": "enum", "name": t.enum_class, "symbols": list(t.enum_values)}
        if t.kind == m.Kind.OBJECT:
            vo = t.value_object
            assert vo is not None
            if vo.name in self.defined:
                return vo.name
            self.defined.add(vo.name)
            return {"type": "record", "name": vo.name, "fields": [self.field(f) for f in vo.fields]}
        return _AVRO_SCALAR[t.kind]

    def field(self, f: m.Field) -> dict[str, Any]:
        avro_type = self.type_of(f.type, f.constraints)
        out: dict[str, Any] = {"name": f.name}
        if f.required:
            out["type"] = avro_type
        else:
            out["type"] = ["null", avro_type]
            out["default"] = None
        if f.description:
            out["doc"] = f.description
        return out


def avro_schema(event: m.Event) -> dict[str, Any]:
    named = _Named(event)
    return {
        "type": "record",
        "name": event.class_name,
        "namespace": event.namespace,
        "doc": event.description,
        "fields": [named.field(f) for f in event.fields],
        "msgen.event": event.name,
        "msgen.version": event.version,
    }
