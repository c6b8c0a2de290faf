"""Fields: their names, types (value objects built once, those they use first), references and constraints."""

from __future__ import annotations

from msgen import model as m
from msgen.errors import did_you_mean
from msgen.loader import Path_
from msgen.names import ENUM_VALUE_RE, RESERVED_FIELDS, a, pascal, snake, unsafe_reason
from msgen.patterns import pattern_matches
from msgen.resolving.report import LIST_RE, Reporter, cycles
from msgen.samples import string_example
from msgen.spec import SCALAR_TYPES, FieldSpec, ServiceSpec
from msgen.text import spec_text

_STRINGISH = m.STRINGISH_KINDS
_NUMERIC = m.NUMERIC_KINDS


class FieldChecks(Reporter):
    """The fields of entities, value objects, events and query parameters, checked and built."""

    built_value_objects: dict[tuple[str, str], m.ValueObject | None]  # (service, name): None while being built
    ref_fields: list[m.Field]  # every `ref` field built, its entity filled in by `link_refs`

    def check_class_names(
        self, service: str, entities: tuple[m.Entity, ...], value_objects: tuple[m.ValueObject, ...]
    ) -> None:
        """The classes of schemas.py (value objects, enums, per-entity models) must not collide."""
        owners: dict[str, str] = {}
        for vo in value_objects:
            owners[vo.name] = f"value object {vo.name}"
        for entity in entities:
            for suffix in ("Create", "Update", "Read", "Page", "Accepted"):
                owners.setdefault(entity.name + suffix, f"entity {entity.name}")
        for owner_kind, owner in [("entities", e) for e in entities] + [("value_objects", v) for v in value_objects]:
            for f in owner.fields:
                enum = (f.type.item or f.type).enum_class
                if enum and enum in owners:
                    where = (
                        (*self.vo_path(service, owner.name), "fields", f.name)
                        if owner_kind == "value_objects"
                        else ("services", service, owner_kind, owner.name, "fields", f.name)
                    )
                    self.error(
                        where,
                        f"the enum of field '{f.name}' is named {enum}, which {owners[enum]} already uses: "
                        "rename the field or that type",
                        key=True,
                    )
                elif enum:
                    owners[enum] = f"the enum of {owner.name}.{f.name}"

    def check_value_object_cycles(self, service: str, svc: ServiceSpec) -> None:
        graph = {
            vo: {self.base_type(f.type) for f in spec.fields.values()} & set(svc.value_objects)
            for vo, spec in svc.value_objects.items()
        }
        for cycle in cycles(graph):
            path = self.vo_path(service, cycle[0])
            self.error(path, f"value objects contain each other: {' -> '.join(cycle)}", key=True)

    def value_object(self, service: str, svc: ServiceSpec, name: str) -> m.ValueObject | None:
        """Value object `name` of `service`, built once; None while it is being built (a cycle, reported)."""
        key = (service, name)
        if key not in self.built_value_objects:
            self.built_value_objects[key] = None
            spec = svc.value_objects[name]
            self.built_value_objects[key] = m.ValueObject(
                name=name,
                fields=self.fields(service, svc, spec.fields, (*self.vo_path(service, name), "fields"), entity=False),
                description=spec_text(spec.description),
            )
        return self.built_value_objects[key]

    def fields(
        self, service: str, svc: ServiceSpec | None, specs: dict[str, FieldSpec], base: Path_, *, entity: bool
    ) -> tuple[m.Field, ...]:
        vos = set(svc.value_objects) if svc is not None else set()
        out: list[m.Field] = []
        for fname, fspec in specs.items():
            path = (*base, fname)
            if not self.check_name("field", fname, path):
                continue
            if entity and fname in RESERVED_FIELDS:
                self.error(
                    path,
                    f"field name '{fname}' is reserved (every entity has id, created_at and updated_at; "
                    "metadata and registry belong to SQLAlchemy)",
                    key=True,
                )
                continue
            ftype = self.field_type(fspec, vos, path, owner=pascal(f"{_owner_name(base)}_{fname}"), service=service)
            if ftype is None:
                continue
            ref = self.reference(fspec, path) if ftype.kind == "ref" else None
            self.check_constraints(fspec, ftype, path)
            out.append(
                built := m.Field(
                    name=fname,
                    type=ftype,
                    required=fspec.required,
                    unique=fspec.unique,
                    read_only=fspec.read_only,
                    default=fspec.default,
                    description=spec_text(fspec.description),
                    constraints={
                        k: v
                        for k, v in fspec.model_dump(
                            include={
                                "min",
                                "max",
                                "min_length",
                                "max_length",
                                "pattern",
                                "min_items",
                                "max_items",
                                "precision",
                                "scale",
                            }
                        ).items()
                        if v is not None
                    },
                    ref=ref,
                    example=fspec.example,
                )
            )
            if ref is not None:
                self.ref_fields.append(built)
        return tuple(out)

    def link_refs(self, services: dict[str, m.Service]) -> None:
        """Each `ref` field's entity and its service, once every service (a ref may name its own entity, or
        two entities each other) exists as the system holds it. The one place a built `Field` is changed."""
        for f in self.ref_fields:
            assert f.ref is not None
            service = services.get(f.ref.service)
            entity = next((e for e in service.entities if e.name == f.ref.entity), None) if service else None
            object.__setattr__(f, "entity", entity)
            object.__setattr__(f, "ref_service", service if entity else None)

    def field_type(self, fspec: FieldSpec, vos: set[str], path: Path_, owner: str, service: str) -> m.FieldType | None:
        text = fspec.type.strip()
        tpath = (*path, "type")
        list_match = LIST_RE.match(text)
        if list_match:
            inner = list_match.group(1)
            if inner in ("ref", "enum", "list"):
                self.error(tpath, f"list[{inner}] is not supported: use list of a scalar or a value object")
                return None
            item = self.simple_type(inner, fspec, vos, tpath, owner, service)
            if item is None:
                return None
            return m.FieldType(kind=m.Kind.LIST, item=item)
        if text.startswith("list"):
            self.error(tpath, f"type '{text}' is not valid: write list[<type>], e.g. list[OrderLine]")
            return None
        return self.simple_type(text, fspec, vos, tpath, owner, service)

    def simple_type(
        self, text: str, fspec: FieldSpec, vos: set[str], tpath: Path_, owner: str, service: str
    ) -> m.FieldType | None:
        if text in vos:
            vo = self.value_object(service, self.spec.services[service], text)
            return m.FieldType(kind=m.Kind.OBJECT, value_object=vo) if vo is not None else None
        if text not in SCALAR_TYPES:
            hint = did_you_mean(text, [*SCALAR_TYPES, *vos])
            owners = [n for n, s in self.spec.services.items() if text in s.value_objects]
            if owners:
                hint = (
                    f": value object '{text}' belongs to service '{owners[0]}', and a service sees only its own "
                    "value objects and the shared ones; move it to the top-level value_objects section to share it"
                )
            self.error(tpath, f"unknown type '{text}'{hint}")
            return None
        if text == "enum":
            values = fspec.values or []
            if not values:
                self.error(tpath, "an enum needs 'values', a list of its allowed values")
                return None
            for index, value in enumerate(values):
                if unsafe_reason(value) or not ENUM_VALUE_RE.match(value):
                    self.error(
                        (*tpath[:-1], "values", index),
                        f"enum value '{value}' is not a safe identifier: use letters, digits and '_'",
                    )
            if len(set(values)) != len(values):
                self.error((*tpath[:-1], "values"), "enum values must be unique")
            return m.FieldType(kind=m.Kind.ENUM, enum_class=owner, enum_values=tuple(values))
        return m.FieldType(kind=m.Kind(text))

    def reference(self, fspec: FieldSpec, path: Path_) -> m.EntityRef | None:
        if not fspec.to:
            self.error(path, "a ref field needs 'to: <service>.<Entity>'")
            return None
        service, dot, entity = fspec.to.partition(".")
        services = self.spec.services
        if not dot or not service or not entity:
            example = f"{snake(fspec.to)}.{fspec.to}" if fspec.to[:1].isupper() else "order.Order"
            self.error((*path, "to"), f"to: '{fspec.to}' must be <service>.<Entity>, e.g. {example}")
            return None
        if service not in services:
            self.unknown((*path, "to"), "service", service, services)
            return None
        if entity not in services[service].entities:
            hint = did_you_mean(entity, services[service].entities)
            self.error((*path, "to"), f"service '{service}' has no entity '{entity}'{hint}")
            return None
        return m.EntityRef(service, entity)

    def check_constraints(self, fspec: FieldSpec, ftype: m.FieldType, path: Path_) -> None:
        kind = ftype.kind
        rules = {
            "min": kind in _NUMERIC,
            "max": kind in _NUMERIC,
            "min_length": kind in _STRINGISH,
            "max_length": kind in {"string", "text"},
            "pattern": kind in {"string", "text"},
            "min_items": kind == "list",
            "max_items": kind == "list",
            "precision": kind == "decimal",
            "scale": kind == "decimal",
            "values": kind == "enum",
            "to": kind == "ref",
        }
        for key, allowed in rules.items():
            if getattr(fspec, key) is not None and not allowed:
                self.error((*path, key), f"'{key}' does not apply to a field of type {fspec.type}", key=True)
        for low, high in (("min", "max"), ("min_length", "max_length"), ("min_items", "max_items")):
            lo, hi = getattr(fspec, low), getattr(fspec, high)
            if lo is not None and hi is not None and lo > hi:
                self.error((*path, high), f"'{high}' ({hi}) is below '{low}' ({lo})")
        if fspec.precision is not None and fspec.scale is not None and fspec.scale > fspec.precision:
            self.error((*path, "scale"), f"scale ({fspec.scale}) is above precision ({fspec.precision})")
        if fspec.default is not None:
            self.check_default(fspec, ftype, path)
        if fspec.unique and kind in {"object", "list", "text"}:
            self.error((*path, "unique"), f"{a(kind)} field cannot be unique")
        if fspec.read_only and fspec.required and fspec.default is None:
            self.error((*path, "read_only"), "a read-only field must have a default or be required: false")
        if kind in ("string", "text"):
            constraints = fspec.model_dump(include={"min_length", "max_length", "pattern"}, exclude_none=True)
            example = string_example(constraints, fspec.example, kind=kind)
            if example is None:
                self.error(path, "msgen cannot find a value that matches this pattern: give an 'example'")
            elif fspec.example is not None and fspec.pattern and not pattern_matches(fspec.pattern, example):
                self.error((*path, "example"), f"example {fspec.example!r} does not match the pattern")

    def check_default(self, fspec: FieldSpec, ftype: m.FieldType, path: Path_) -> None:
        value = fspec.default
        kind = ftype.kind
        ok = {
            "enum": lambda: value in ftype.enum_values,
            "bool": lambda: isinstance(value, bool),
            "int": lambda: isinstance(value, int) and not isinstance(value, bool),
            "decimal": lambda: isinstance(value, int | float) and not isinstance(value, bool),
        }.get(kind, lambda: isinstance(value, str) and kind in _STRINGISH)()
        if ok and kind in _NUMERIC and isinstance(value, int | float):
            low, high = fspec.min, fspec.max
            if (low is not None and value < low) or (high is not None and value > high):
                self.error((*path, "default"), f"default {value!r} is outside min/max")
        if ok and kind in _STRINGISH and isinstance(value, str):
            if fspec.max_length is not None and len(value) > fspec.max_length:
                self.error((*path, "default"), f"default {value!r} is longer than max_length ({fspec.max_length})")
            if fspec.pattern and not pattern_matches(fspec.pattern, value):
                self.error((*path, "default"), f"default {value!r} does not match the pattern")
        if not ok:
            expected = f"one of {', '.join(ftype.enum_values)}" if kind == "enum" else f"{a(kind)} value"
            same = [v for v in ftype.enum_values if isinstance(value, str) and v.casefold() == value.casefold()]
            hint = f" (did you mean '{same[0]}'? enum values are case-sensitive)" if same else ""
            self.error((*path, "default"), f"default {value!r} is not {expected}{hint}")


def _owner_name(base: Path_) -> str:
    # (... , "entities", "Product", "fields") -> "Product"; events -> the event name
    return str(base[-2])
