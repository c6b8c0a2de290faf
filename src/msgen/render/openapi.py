"""One OpenAPI 3.1 document per service and API version, built from the model."""

from __future__ import annotations

import contextlib
import hashlib
import io
import pickle
import sys
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from msgen import model as m
from msgen.caches import cache_folder, read_checked, write_checked
from msgen.names import a, sentence
from msgen.render.common import NO_NUL_PATTERN, URL_PATTERN, decimal_description, prefer_description, waiting_saga
from msgen.render.decimal_pattern import decimal_pattern
from msgen.render.examples import example_payload

_FORMATS = {
    "uuid": "uuid",
    "ref": "uuid",
    "datetime": "date-time",
    "date": "date",
    "email": "email",
    "url": "uri",
}
_PROBLEM = {"$ref": "#/components/schemas/Problem"}
MAX_OFFSET = 1_000_000_000
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


class _Dumper(_BaseDumper):  # type: ignore[misc]  # PyYAML ships no types
    """PyYAML's safe dumper, its representer shortened for plain dicts, lists and strings.

    The nodes are the ones SafeRepresenter makes (a dict or list met twice is one node, which the
    emitter writes as an anchor and aliases), and what the resolver says of a scalar is kept.
    A contract holds tens of thousands of scalars: the general path took most of the dump's time.
    """

    _resolved: dict[tuple[Any, str, tuple[bool, bool]], Any] = {}  # noqa: RUF012  # one per process, bounded

    def represent_data(self, data: Any) -> Any:
        kind = type(data)
        if self.sort_keys or self.default_flow_style is None:
            return super().represent_data(data)
        if kind is str:
            return yaml.ScalarNode(_STR, data, style=self.default_style)
        if kind is dict or kind is list:
            key = id(data)
            node = self.represented_objects.get(key)
            if node is not None:
                return node
            self.object_keeper.append(data)
            items: list[Any] = []
            if kind is dict:
                node = yaml.MappingNode(_MAP, items, flow_style=self.default_flow_style)
                self.represented_objects[key] = node
                represent = self.represent_data
                items.extend((represent(k), represent(v)) for k, v in data.items())
            else:
                node = yaml.SequenceNode(_SEQ, items, flow_style=self.default_flow_style)
                self.represented_objects[key] = node
                items.extend(map(self.represent_data, data))
            return node
        return super().represent_data(data)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (kind, value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            if len(self._resolved) > 200_000:
                self._resolved.clear()
            tag = self._resolved[key] = super().resolve(kind, value, implicit)
        return tag


def field_schema(f: m.Field, *, nullable: bool, default: bool = False) -> dict[str, Any]:
    """A field's schema; `default`: with the spec's default (in bodies that create)."""
    schema = type_schema(f.type, f.constraints)
    if f.description:
        schema = {**schema, "description": f.description} if "$ref" not in schema else schema
    if nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    if default and f.has_default:
        schema["default"] = str(f.default) if f.type.kind == m.Kind.DECIMAL else f.default
    return schema


def decimal_text(value: Any) -> str:
    """A decimal bound as exact text: 0.0 -> "0", 0.010 -> "0.01"."""
    return format(Decimal(str(value)).normalize(), "f")


def type_schema(t: m.FieldType, c: dict[str, Any]) -> dict[str, Any]:
    kind = t.kind
    if kind == "list":
        assert t.item is not None
        schema: dict[str, Any] = {"type": "array", "items": type_schema(t.item, {})}
        if "min_items" in c:
            schema["minItems"] = c["min_items"]
        if "max_items" in c:
            schema["maxItems"] = c["max_items"]
        return schema
    if kind == "object":
        assert t.value_object is not None
        return {"$ref": f"#/components/schemas/{t.value_object.name}"}
    if kind == "enum":
        return {"type": "string", "enum": list(t.enum_values)}
    if kind == "int":
        return {
            "type": "integer",
            "minimum": int(c["min"]) if "min" in c else -(2**63),
            "maximum": int(c["max"]) if "max" in c else 2**63 - 1,
        }
    if kind == "decimal":
        precision, scale = int(c.get("precision", 18)), int(c.get("scale", 2))
        low = Decimal(decimal_text(c["min"])) if "min" in c else None
        high = Decimal(decimal_text(c["max"])) if "max" in c else None
        # The bounds are in the pattern: minimum/maximum do not apply to a string.
        schema = {"type": "string", "format": "decimal", "pattern": decimal_pattern(precision, scale, low, high)}
        words = decimal_description(c)
        if words is not None:
            schema["description"] = words
        # What JSON Schema cannot say of a number sent as a string; the models are generated from it.
        facts: dict[str, Any] = {"precision": precision, "scale": scale}
        if "min" in c:
            facts["minimum"] = decimal_text(c["min"])
        if "max" in c:
            facts["maximum"] = decimal_text(c["max"])
        schema["x-msgen-decimal"] = facts
        return schema
    if kind == "bool":
        return {"type": "boolean"}
    schema = {"type": "string"}
    if kind in _FORMATS:
        schema["format"] = _FORMATS[kind]
    if "min_length" in c:
        schema["minLength"] = c["min_length"]
    if kind in ("string", "url", "email"):
        schema["maxLength"] = c.get("max_length", {"string": 255, "url": 2048, "email": 320}[kind])
    elif "max_length" in c:  # a text's, when the spec sets one
        schema["maxLength"] = c["max_length"]
    if "pattern" in c:
        schema["pattern"] = c["pattern"]
    elif kind == "url":
        schema["pattern"] = URL_PATTERN
    elif kind in ("string", "text"):
        schema["pattern"] = NO_NUL_PATTERN
    return schema


def _object(fields: list[tuple[str, dict[str, Any], bool]], description: str, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "description": description}
    schema["properties"] = {name: sch for name, sch, _ in fields}
    required = [name for name, _, req in fields if req]
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def _components(service: m.Service) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for vo in service.value_objects:
        schemas[vo.name] = _object(
            [
                (f.name, field_schema(f, nullable=not f.required, default=True), f.required and not f.has_default)
                for f in vo.fields
            ],
            vo.description or f"The {vo.name} value object.",
            additionalProperties=False,
        )
    for e in service.entities:
        writable = e.writable_fields
        schemas[f"{e.name}Create"] = _object(
            [
                (f.name, field_schema(f, nullable=not f.required, default=True), f.required and not f.has_default)
                for f in writable
            ],
            f"The body that creates {a(e.name)}.",
            additionalProperties=False,
            example=example_payload(e, service),
        )
        schemas[f"{e.name}Update"] = _object(
            [(f.name, field_schema(f, nullable=not f.required), False) for f in writable],
            f"A partial update of {a(e.name)}: only the fields sent change.",
            additionalProperties=False,
        )
        meta = [
            ("id", {"type": "string", "format": "uuid"}, True),
            *[(f.name, field_schema(f, nullable=not f.required), True) for f in e.fields],
            ("created_at", {"type": "string", "format": "date-time"}, True),
            ("updated_at", {"type": "string", "format": "date-time"}, True),
        ]
        schemas[f"{e.name}Read"] = _object(meta, sentence(f"{a(e.name)} as clients see it."))
        schemas[f"{e.name}Page"] = _object(
            [
                ("items", {"type": "array", "items": {"$ref": f"#/components/schemas/{e.name}Read"}}, True),
                ("total", {"type": "integer", "minimum": 0}, True),
                ("limit", {"type": "integer", "minimum": 1}, True),
                ("offset", {"type": "integer", "minimum": 0}, True),
            ],
            f"One page of {e.name} items.",
        )
        if any(op.is_async and op.entity is e for op in service.operations):
            schemas[f"{e.name}Accepted"] = _object(
                [("id", {"type": "string", "format": "uuid"}, True), ("status_url", {"type": "string"}, True)],
                f"The answer to an accepted {e.name} request: where to follow it.",
            )
    schemas["Problem"] = _object(
        [
            ("type", {"type": "string"}, True),
            ("title", {"type": "string"}, True),
            ("status", {"type": "integer"}, True),
            ("detail", {"type": "string"}, False),
            ("instance", {"type": "string"}, False),
            ("errors", {"type": "array", "items": {"type": "object"}}, False),
        ],
        "An error, as RFC 9457 problem details.",
    )
    return schemas


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _PROBLEM}}}


def _operation(op: m.Operation, service: m.Service, system: m.System) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.op_id,
        "summary": op.summary,
        "tags": [op.entity.name if op.entity else service.name],
    }
    params: list[dict[str, Any]] = []
    for p in op.path_params:
        schema = {"type": "string", "format": "uuid"} if p == "id" else {"type": "string"}
        params.append({"name": p, "in": "path", "required": True, "schema": schema})
    if op.action == m.Action.LIST:
        params.append(
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": op.max_page_size, "default": op.page_size},
            }
        )
        params.append(
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
            }
        )
    for q in op.query:
        params.append(
            {
                "name": q.name,
                "in": "query",
                "required": q.required and not q.has_default,
                "schema": field_schema(q, nullable=False, default=True),
            }
        )
    if op.idempotent:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Makes a retry of this request safe: the first answer is replayed.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    saga = waiting_saga(system, service, op)
    if saga is not None and op.entity:
        params.append(
            {
                "name": "Prefer",
                "in": "header",
                "required": False,
                "description": prefer_description(op.entity),
                "schema": {"type": "string", "maxLength": 1024},
            }
        )
    if params:
        out["parameters"] = params
    if op.request:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.request}"}}},
        }
    responses: dict[str, Any] = {}
    if op.status == 204 or op.response is None:
        responses[str(op.status)] = {"description": "Done."}
    else:
        ok: dict[str, Any] = {
            "description": "Accepted: follow the Location." if op.is_async else "Success.",
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.response}"}}},
        }
        if op.is_async:
            ok["headers"] = {"Location": {"description": "Where to follow the request.", "schema": {"type": "string"}}}
        if saga is not None and op.entity:
            ok["headers"]["Preference-Applied"] = _preference_applied()
            responses["201"] = {
                "description": "Created, and its saga ended within the time Prefer: wait asked (its final status).",
                "headers": {
                    "Location": {"description": "The entity.", "schema": {"type": "string"}},
                    "Preference-Applied": _preference_applied(),
                },
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.entity.name}Read"}}},
            }
        responses[str(op.status)] = ok
    if op.path_params:
        responses["404"] = _problem("Not found.")
    if op.action in (m.Action.CREATE, m.Action.UPDATE):
        responses["409"] = _problem("Conflicts with an existing resource.")
    if op.is_custom:
        responses["501"] = _problem("The operation's business logic is not written yet.")
    responses["422"] = _problem("The request does not match the contract.")
    if op.action == m.Action.CREATE and op.entity and m.checked_refs(service, op.entity):
        responses["422"] = _problem(
            "The request does not match the contract, or refers to an entity that does not exist."
        )
        responses["503"] = _problem("A service that says whether a referred entity exists is unavailable.")
        responses["504"] = _problem("A service that says whether a referred entity exists did not answer in time.")
    out["responses"] = responses
    if op.scopes:
        # The gateway checks tokens and scopes; the service documents what the route needs.
        out["x-scopes"] = list(op.scopes)
    return out


def _preference_applied() -> dict[str, Any]:
    """The `Preference-Applied` header of a create that may wait for its saga (a new dict: no YAML anchor)."""
    return {
        "description": "With Prefer: wait, `wait=<seconds>`: how long the answer could wait.",
        "schema": {"type": "string"},
    }


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


def _used(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """Only the schemas the operations reach, directly or through each other."""
    todo, used = list(_refs(paths)), set()
    while todo:
        name = todo.pop()
        if name not in used and name in schemas:
            used.add(name)
            todo.extend(_refs(schemas[name]))
    return {name: schema for name, schema in schemas.items() if name in used}


def openapi_document(system: m.System, service: m.Service) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op in service.operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, service, system)
    for saga in system.sagas:
        if saga.orchestrator == service.name and saga.entity:
            entity = saga.entity
            final = " or ".join(s for s in (saga.status_completed, saga.status_failed) if s)
            paths[f"/{system.api_version}{entity.resource}/{{id}}/events"] = {
                "get": {
                    "operationId": f"stream{entity.name}Events",
                    "summary": f"Follow {a(entity.name)} status as Server-Sent Events",
                    "description": (
                        f"One `status` event per status, in order, until {final}. Each event's `id` is its place "
                        "in the entity's status log: a client that reconnects with `Last-Event-ID` gets only the "
                        "later ones, or 204 when it already received the final one."
                    ),
                    "tags": [entity.name],
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
                        {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "The status stream.",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        "204": {"description": "The client already received the final status."},
                        "404": _problem("Not found."),
                        "422": _problem("The request does not match the contract."),
                    },
                }
            }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": service.kebab,
            "version": system.api_version,
            "description": service.description,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": _used(paths, _components(service))},
    }


def to_yaml(document: dict[str, Any]) -> str:
    """Block-style YAML in the document's own key order (libyaml's emitter: ten times ruamel's speed).

    The text is yaml.dump's with the dumper above; it is written by handing the emitter its events
    straight from the document, without a tree of nodes in between (a third of the time). A document
    holding a value the safe representer could alias, other than a dict or a list, is left to yaml.dump.

    Even so, the contracts' YAML is the largest part of rendering many services, so each text is kept
    in msgen's cache folder (yaml/), named by a digest of the document's pickle, which holds every value
    with its exact type and every dict or list met twice as one (the anchors), and of what writes it
    (this module, PyYAML's and libyaml's versions, Python's). The same document again is read back.
    """
    folder = cache_folder("yaml")
    key = _yaml_key(document) if folder is not None else None
    if folder is not None and key is not None:
        kept = read_checked(folder, key)
        if kept is not None:
            try:
                return kept.decode("utf-8")
            except UnicodeDecodeError:
                pass
    text = _to_yaml(document)
    if folder is not None and key is not None:
        with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate: not kept
            write_checked(folder, key, text.encode("utf-8"))
    return text


def _yaml_key(document: Any) -> str | None:
    try:
        pickled = pickle.dumps(document, protocol=5)
    except (pickle.PicklingError, TypeError, AttributeError, ValueError, RecursionError):
        return None
    return hashlib.sha256(_yaml_writer() + pickled).hexdigest() + ".yaml"


@cache
def _yaml_writer() -> bytes:
    libyaml = getattr(getattr(yaml, "_yaml", None), "get_version_string", lambda: "none")()
    code = Path(__file__).read_bytes()
    return hashlib.sha256(repr((yaml.__version__, libyaml, sys.version)).encode() + code).digest()


def _to_yaml(document: dict[str, Any]) -> str:
    try:
        return _emitted(document)
    except _NotPlain:
        text: str = yaml.dump(
            document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100, allow_unicode=True
        )
        return text


class _NotPlain(Exception):
    """A value the event writer leaves to yaml.dump."""


def _anchors(document: Any) -> dict[int, str]:
    """The anchors yaml.dump gives: each dict or list met twice, numbered in the order it is met again."""
    seen: set[int] = set()
    anchors: dict[int, str] = {}
    stack = [document]
    while stack:
        data = stack.pop()
        kind = type(data)
        if kind is dict or kind is list:
            key = id(data)
            if key in seen:
                if key not in anchors:
                    anchors[key] = f"id{len(anchors) + 1:03d}"
                continue
            seen.add(key)
            if kind is dict:
                children: list[Any] = []
                for item in data.items():
                    children.extend(item)
                stack.extend(reversed(children))
            else:
                stack.extend(reversed(data))
        elif not isinstance(data, str | bytes | bool | int | float) and data is not None:
            raise _NotPlain  # the representer might alias it: its anchor is not ours to number
    return anchors


def _emitted(document: Any) -> str:
    """yaml.dump(document, Dumper=_Dumper, ...) from the events the serializer would emit for its nodes."""
    anchors = _anchors(document)
    stream = io.StringIO()
    dumper = _Dumper(stream, default_flow_style=False, sort_keys=False, width=100, allow_unicode=True)
    emit, resolve, scalar_node = dumper.emit, dumper.resolve, yaml.ScalarNode
    written: set[int] = set()
    text_implicit: dict[str, tuple[bool, bool]] = {}  # a text's implicit flags: (plain, quoted) reads as text

    def scalar(tag: str, value: str, style: str | None) -> None:
        implicit = (
            resolve(scalar_node, value, (True, False)) == tag,
            resolve(scalar_node, value, (False, True)) == tag,
        )
        emit(yaml.ScalarEvent(None, tag, implicit, value, style=style))

    def write(data: Any) -> None:
        kind = type(data)
        if kind is str:
            implicit = text_implicit.get(data)
            if implicit is None:
                implicit = text_implicit[data] = (
                    resolve(scalar_node, data, (True, False)) == _STR,
                    resolve(scalar_node, data, (False, True)) == _STR,
                )
            emit(yaml.ScalarEvent(None, _STR, implicit, data))
        elif kind is dict or kind is list:
            key = id(data)
            anchor = anchors.get(key)
            if anchor is not None:
                if key in written:
                    emit(yaml.AliasEvent(anchor))
                    return
                written.add(key)
            if kind is dict:
                emit(yaml.MappingStartEvent(anchor, _MAP, True, flow_style=False))
                for item in data.items():
                    write(item[0])
                    write(item[1])
                emit(yaml.MappingEndEvent())
            else:
                emit(yaml.SequenceStartEvent(anchor, _SEQ, True, flow_style=False))
                for item in data:
                    write(item)
                emit(yaml.SequenceEndEvent())
        else:
            node = dumper.represent_data(data)
            if not isinstance(node, scalar_node):
                raise _NotPlain
            scalar(node.tag, node.value, node.style)

    try:
        dumper.open()
        emit(yaml.DocumentStartEvent(explicit=False))
        write(document)
        emit(yaml.DocumentEndEvent(explicit=False))
        dumper.close()
    finally:
        dumper.dispose()
    return stream.getvalue()


__all__ = ["openapi_document", "to_yaml"]
