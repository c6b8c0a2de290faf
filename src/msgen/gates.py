"""Evolution gates: a changed spec must not break the contracts already published.

Events: every Avro schema is checked against its previous version with Apache
Avro's own checker (``avro.compatibility``), by the event's ``compatibility``
mode. HTTP: an operation that disappears, a response field that disappears, or
an optional request field that becomes required, is a breaking change of the
OpenAPI contract, and so is a request field whose constraints narrowed (a
shorter ``maxLength``, a higher ``minimum``, a changed ``pattern``, an enum
value removed, fewer decimal digits, ``null`` no longer accepted): values its
clients send, and rows already stored, may no longer be valid. Either is refused unless the event's ``version`` (or the
system's ``api_version``) is raised. Nothing is written when a gate refuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen.errors import SpecError
from msgen.loader import Positions

AVRO_FILE = re.compile(r"^contracts/avro/(?P<event>.+)\.v(?P<version>\d+)\.avsc$")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class EvolutionError(SpecError):
    """A spec change that breaks a published contract without a new version (exit code 2)."""


@dataclass(frozen=True)
class Break:
    path: tuple[str | int, ...]  # where in the spec to point
    message: str


def check_evolution(
    old_files: Mapping[str, str], new_files: Mapping[str, str], system: m.System, positions: Positions
) -> None:
    """Raise EvolutionError with every breaking change between two renderings."""
    breaks = [*avro_breaks(old_files, new_files, system), *openapi_breaks(old_files, new_files, system)]
    if breaks:
        raise EvolutionError(positions.at(b.path, b.message) for b in breaks)


def previous_schemas(files: Mapping[str, str]) -> dict[str, tuple[int, str]]:
    """event name -> (highest version, its schema text) among the Avro files of a rendering."""
    found: dict[str, tuple[int, str]] = {}
    for path, text in files.items():
        match = AVRO_FILE.match(path)
        if match is not None:
            version = int(match["version"])
            if match["event"] not in found or found[match["event"]][0] < version:
                found[match["event"]] = (version, text)
    return found


# -- Avro -------------------------------------------------------------------------


def avro_breaks(old_files: Mapping[str, str], new_files: Mapping[str, str], system: m.System) -> Iterator[Break]:
    previous = previous_schemas(old_files)
    for event in system.events:
        if event.name not in previous:
            continue  # a new event
        old_version, old_text = previous[event.name]
        where: tuple[str | int, ...] = ("events", event.name, "version")
        if event.version < old_version:
            yield Break(where, f"event '{event.name}' went back from version {old_version} to {event.version}")
            continue
        new_text = new_files.get(f"contracts/avro/{event.schema_file}")
        if event.version > old_version or new_text is None or new_text == old_text:
            continue  # a new version may break compatibility; an equal schema cannot
        reasons = schema_incompatibilities(json.loads(old_text), json.loads(new_text), event.compatibility)
        if reasons:
            fields = {f.name for f in event.fields}
            first = next((name for name, _ in reasons if name in fields), None)
            at: tuple[str | int, ...] = ("events", event.name, "fields", first) if first else where
            yield Break(
                at,
                f"event '{event.name}' v{event.version} is not {event.compatibility} compatible with its previous "
                f"schema: {'; '.join(reason for _, reason in reasons)}. Raise its version to "
                f"{event.version + 1}, or make the change compatible",
            )


_CONSEQUENCE = {
    "BACKWARD": "consumers on the new schema cannot read messages written with the previous one",
    "FORWARD": "consumers still on the previous schema cannot read messages written with the new one",
}


def schema_incompatibilities(old: Any, new: Any, mode: str) -> list[tuple[str, str]]:
    """[(top-level field, why)] for each way `new` breaks `old` under `mode`; [] when compatible."""
    directions = {"BACKWARD": ["BACKWARD"], "FORWARD": ["FORWARD"], "FULL": ["BACKWARD", "FORWARD"]}.get(mode, [])
    out: list[tuple[str, str]] = []
    for direction in directions:
        reader, writer = (new, old) if direction == "BACKWARD" else (old, new)
        for name, why in _incompatibilities(reader, writer, added=direction == "BACKWARD"):
            out.append((name, f"{why} ({_CONSEQUENCE[direction]})"))
    if directions:
        # Avro's checker does not compare logical types; a decimal read with another scale is a wrong number.
        for path, was, now in _decimal_changes(old, new, ""):
            out.append((path.split(".")[0].split("[")[0], f"field '{path}' changed its decimal {was} to {now}"))
    return out


def _incompatibilities(reader_json: Any, writer_json: Any, *, added: bool) -> list[tuple[str, str]]:
    """Ask Avro's checker about the whole schema, then about each field to say which one and why."""
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
    from avro.schema import parse

    reader, writer = parse(json.dumps(reader_json)), parse(json.dumps(writer_json))
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    verdict = checker.get_compatibility(reader, writer)
    found: list[tuple[str, str]] = []
    if verdict.compatibility is SchemaCompatibilityType.incompatible:
        writer_fields = {f.name: f for f in writer.fields}  # type: ignore[attr-defined]
        for field in reader.fields:  # type: ignore[attr-defined]
            other = writer_fields.get(field.name)
            if other is None:
                if not field.has_default:
                    change = "was added without a default" if added else "was removed, and had no default"
                    found.append((field.name, f"field '{field.name}' {change}"))
                continue
            result = ReaderWriterCompatibilityChecker().get_compatibility(field.type, other.type)  # type: ignore[no-untyped-call]
            if result.compatibility is SchemaCompatibilityType.incompatible:
                detail = ", ".join(sorted(result.messages))
                found.append((field.name, f"field '{field.name}' changed incompatibly ({detail})"))
        if not found:
            found.append(("", ", ".join(sorted(verdict.messages)) or "the schemas are incompatible"))
    return found


def _decimal_changes(a: Any, b: Any, path: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.get("logicalType") == "decimal" and b.get("logicalType") == "decimal":
            was, now = (a.get("precision"), a.get("scale")), (b.get("precision"), b.get("scale"))
            if was != now:
                yield path, f"(precision, scale) {was}", f"{now}"
            return
        if a.get("type") == "record" and b.get("type") == "record":
            b_fields = {f["name"]: f for f in b.get("fields", [])}
            for f in a.get("fields", []):
                if f["name"] in b_fields:
                    yield from _decimal_changes(f["type"], b_fields[f["name"]]["type"], _join(path, f["name"]))
        elif a.get("type") == "array" and b.get("type") == "array":
            yield from _decimal_changes(a["items"], b["items"], path + "[]")
        elif "type" in a and "type" in b and not isinstance(a["type"], str | list):
            yield from _decimal_changes(a["type"], b["type"], path)
    elif isinstance(a, list) and isinstance(b, list):
        for x, y in zip([t for t in a if t != "null"], [t for t in b if t != "null"], strict=False):
            yield from _decimal_changes(x, y, path)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# -- OpenAPI ----------------------------------------------------------------------


def openapi_breaks(old_files: Mapping[str, str], new_files: Mapping[str, str], system: m.System) -> Iterator[Break]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    reported: set[str] = set()  # operations whose break a service's own contract already tells
    for service in system.services:
        path = f"contracts/openapi/{service.name}.{system.api_version}.yaml"
        old_text, new_text = old_files.get(path), new_files.get(path)
        if old_text is None or new_text is None or old_text == new_text:
            continue  # a new service, a new API version, or no change
        old_doc, new_doc = yaml.load(old_text, Loader=loader), yaml.load(new_text, Loader=loader)
        grouped: dict[tuple[str, str], list[str]] = {}
        for what, subject, operation in contract_breaks(old_doc, new_doc):
            grouped.setdefault((what, subject), []).append(operation)
            reported.add(operation.split(" (", 1)[0])
        for field, detail, operation in narrowed_constraints(old_doc, new_doc):
            grouped.setdefault(("narrowed", f"{field}\0{detail}"), []).append(operation)
        for (what, subject), operations in grouped.items():
            if what == "operation":
                message = f"operation {subject} was removed"
            elif what == "status":
                message = f"{operations[0]} no longer answers {subject}"
            elif what == "query":
                message = f"query parameter '{subject}' became required in {', '.join(operations)}"
            elif what == "narrowed":
                subject, detail = subject.split("\0")
                message = f"field '{subject}' of the request of {', '.join(operations)} narrowed: {detail}"
            else:
                change = "was removed from the answer" if what == "response" else "became required in the request"
                message = f"field '{subject}' {change} of {', '.join(operations)}"
            yield Break(
                _field_place(service, subject)
                if what in ("response", "request", "narrowed")
                else ("services", service.name, "api"),
                f"service '{service.name}' API {system.api_version}: {message}; this breaks its clients: "
                f"keep it, or publish a new API version (system.api_version)",
            )

    yield from _public_breaks(old_files, new_files, system, reported)


def _public_breaks(
    old_files: Mapping[str, str], new_files: Mapping[str, str], system: m.System, reported: set[str]
) -> Iterator[Break]:
    """The gateway's public contract (render/public.py), for the operations of services that remain."""
    import yaml

    from msgen.render.public import public_path

    path = public_path(system)
    old_text, new_text = old_files.get(path), new_files.get(path)
    if old_text is None or new_text is None or old_text == new_text:
        return
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    old_doc, new_doc = yaml.load(old_text, Loader=loader), yaml.load(new_text, Loader=loader)
    services = {s.name for s in system.services}
    kept = {
        str(op.get("operationId"))
        for op in _operations(old_doc).values()
        if isinstance(op, dict) and op.get("x-msgen-service") in services
    }
    grouped: dict[tuple[str, str], list[str]] = {}
    for what, subject, operation in contract_breaks(old_doc, new_doc):
        name = operation.split(" (", 1)[0]
        if name in kept and name not in reported:
            grouped.setdefault((what, subject), []).append(operation)
    for (what, subject), operations in grouped.items():
        change = {
            "operation": "was removed",
            "status": f"no longer answers {subject}",
            "response": f"lost the answer's field '{subject}'",
            "request": f"now requires the field '{subject}'",
            "query": f"now requires the query parameter '{subject}'",
        }[what]
        yield Break(
            ("gateway",),
            f"the gateway's public API {system.api_version}: {', '.join(operations)} {change}; this breaks the "
            "SDKs and other clients: keep it, or publish a new API version (system.api_version)",
        )


def _field_place(service: m.Service, field_path: str) -> tuple[str | int, ...]:
    """The spec entry of an entity field with this name, if one exists; else the service's api."""
    name = field_path.rsplit(".", 1)[-1].removesuffix("[]")
    for entity in service.entities:
        if any(f.name == name for f in entity.fields):
            return ("services", service.name, "entities", entity.name, "fields", name)
    return ("services", service.name, "api")


def _operations(doc: Any) -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {}
    for path, item in (doc.get("paths") or {}).items():
        for method in _METHODS:
            if isinstance(item, dict) and method in item:
                out[method, path] = item[method]
    return out


def contract_breaks(old: Any, new: Any) -> list[tuple[str, str, str]]:
    """Each breaking change from OpenAPI document `old` to `new`: (kind, what, operation).

    kind is "operation" (removed), "status" (a success answer removed), "response"
    (a field of an answer removed), "request" (an optional field became required) or "query"
    (a query parameter that is new and required, or became required).
    """
    breaks: list[tuple[str, str, str]] = []
    new_ops = _operations(new)
    for (method, path), op in _operations(old).items():
        name = f"{op.get('operationId', '?')} ({method.upper()} {path})"
        now = new_ops.get((method, path))
        if now is None:
            breaks.append(("operation", name, name))
            continue
        name = str(op.get("operationId", name))
        for status, response in (op.get("responses") or {}).items():
            if not str(status).startswith("2"):
                continue
            if str(status) not in {str(s) for s in now.get("responses") or {}}:
                breaks.append(("status", str(status), name))
                continue
            after = _body_schema(_by_status(now["responses"], status))
            before = _body_schema(response)
            if before is not None and after is not None:
                for field in _removed_fields(old, new, before, after, "", set()):
                    breaks.append(("response", field, name))
        before = _body_schema(op.get("requestBody"))
        after = _body_schema(now.get("requestBody"))
        if before is not None and after is not None:
            for field in _newly_required(old, new, before, after, "", set()):
                breaks.append(("request", field, name))
        was = _query_parameters(op)
        for query, parameter in _query_parameters(now).items():
            if parameter.get("required") and not (was.get(query) or {}).get("required"):
                breaks.append(("query", query, name))
    return breaks


def _query_parameters(op: Any) -> dict[str, Any]:
    """An operation's query parameters by name."""
    params = op.get("parameters") if isinstance(op, dict) else None
    return {str(p["name"]): p for p in params or [] if isinstance(p, dict) and p.get("in") == "query" and "name" in p}


def _by_status(responses: Mapping[Any, Any], status: Any) -> Any:
    return next(v for k, v in responses.items() if str(k) == str(status))


def _body_schema(part: Any) -> Any:
    if not isinstance(part, dict):
        return None
    content = part.get("content") or {}
    media = content.get("application/json")
    return media.get("schema") if isinstance(media, dict) else None


def _resolve(doc: Any, schema: Any) -> tuple[str, Any]:
    """(a key naming the schema, the schema) with $ref followed and a nullable anyOf unwrapped."""
    key = ""
    for _ in range(20):
        if isinstance(schema, dict) and "$ref" in schema:
            key = str(schema["$ref"])
            node = doc
            for part in key.removeprefix("#/").split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            schema = node
            continue
        if isinstance(schema, dict) and "anyOf" in schema:
            branches = [b for b in schema["anyOf"] if not (isinstance(b, dict) and b.get("type") == "null")]
            if len(branches) == 1:
                schema = branches[0]
                continue
        break
    return key, schema if isinstance(schema, dict) else {}


def _removed_fields(old: Any, new: Any, a: Any, b: Any, path: str, seen: set[tuple[str, str]]) -> Iterator[str]:
    key_a, a = _resolve(old, a)
    key_b, b = _resolve(new, b)
    if key_a and (key_a, key_b) in seen:
        return
    seen.add((key_a, key_b))
    if "items" in a and "items" in b:
        yield from _removed_fields(old, new, a["items"], b["items"], path + "[]", seen)
    a_props, b_props = a.get("properties") or {}, b.get("properties") or {}
    for name, schema in a_props.items():
        if name not in b_props:
            yield _join(path, name)
        else:
            yield from _removed_fields(old, new, schema, b_props[name], _join(path, name), seen)


def _newly_required(old: Any, new: Any, a: Any, b: Any, path: str, seen: set[tuple[str, str]]) -> Iterator[str]:
    key_a, a = _resolve(old, a)
    key_b, b = _resolve(new, b)
    if key_a and (key_a, key_b) in seen:
        return
    seen.add((key_a, key_b))
    if "items" in a and "items" in b:
        yield from _newly_required(old, new, a["items"], b["items"], path + "[]", seen)
    a_props, b_props = a.get("properties") or {}, b.get("properties") or {}
    was_required, now_required = set(a.get("required") or []), set(b.get("required") or [])
    for name, schema in a_props.items():
        if name not in b_props:
            continue
        if name in now_required and name not in was_required:
            yield _join(path, name)
        yield from _newly_required(old, new, schema, b_props[name], _join(path, name), seen)


def narrowed_constraints(old: Any, new: Any) -> list[tuple[str, str, str]]:
    """Each request field whose constraints narrowed from `old` to `new`: (field, how, operation).

    A value a client sends today, or a row stored today, may fail the new constraint.
    """
    found: list[tuple[str, str, str]] = []
    new_ops = _operations(new)
    for (method, path), op in _operations(old).items():
        now = new_ops.get((method, path))
        before = _body_schema(op.get("requestBody"))
        after = _body_schema(now.get("requestBody")) if now is not None else None
        name = str(op.get("operationId", f"{method.upper()} {path}"))
        if before is not None and after is not None:
            for field, how in _narrowed(old, new, before, after, "", set()):
                found.append((field, how, name))
        if now is not None:  # a query parameter is a field of the request too
            was, present = _query_parameters(op), _query_parameters(now)
            for query in was.keys() & present.keys():
                a, b = was[query].get("schema"), present[query].get("schema")
                for field, how in _narrowed(old, new, a, b, f"{query} (query)", set()):
                    found.append((field, how, name))
    return found


# (keyword, the new value is narrower when it is) -- "lower" for an upper bound, "higher" for a lower one
_BOUNDS = (
    ("maxLength", "lower"),
    ("maxItems", "lower"),
    ("maximum", "lower"),
    ("exclusiveMaximum", "lower"),
    ("minLength", "higher"),
    ("minItems", "higher"),
    ("minimum", "higher"),
    ("exclusiveMinimum", "higher"),
)


def _accepts_null(schema: Any) -> bool:
    return isinstance(schema, dict) and (
        schema.get("type") == "null"
        or any(isinstance(b, dict) and b.get("type") == "null" for b in schema.get("anyOf") or [])
    )


def _narrowed(old: Any, new: Any, a: Any, b: Any, path: str, seen: set[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    if path and _accepts_null(a) and not _accepts_null(b):
        yield path, "null is no longer accepted"
    key_a, a = _resolve(old, a)
    key_b, b = _resolve(new, b)
    if key_a and (key_a, key_b) in seen:
        return
    seen.add((key_a, key_b))
    if path:
        yield from ((path, how) for how in _narrowed_here(a, b))
    if "items" in a and "items" in b:
        yield from _narrowed(old, new, a["items"], b["items"], path + "[]", seen)
    a_props, b_props = a.get("properties") or {}, b.get("properties") or {}
    for name, schema in a_props.items():
        if name in b_props:
            yield from _narrowed(old, new, schema, b_props[name], _join(path, name), seen)


def _narrowed_here(a: Mapping[str, Any], b: Mapping[str, Any]) -> Iterator[str]:
    """How schema `b` accepts less than `a`, on this level only."""
    decimal_a, decimal_b = a.get("x-msgen-decimal"), b.get("x-msgen-decimal")
    if isinstance(decimal_a, dict) and isinstance(decimal_b, dict):
        yield from _narrowed_decimal(decimal_a, decimal_b)
    elif a.get("pattern") != b.get("pattern") and b.get("pattern") is not None:
        before = "no pattern" if a.get("pattern") is None else f"pattern {a['pattern']!r}"
        yield f"{before} became pattern {b['pattern']!r}"
    for keyword, narrower in _BOUNDS:
        was, now = a.get(keyword), b.get(keyword)
        if not isinstance(now, int | float) or isinstance(now, bool):
            continue
        if not isinstance(was, int | float) or isinstance(was, bool):
            yield f"{keyword} {now} was added"
        elif (now < was) if narrower == "lower" else (now > was):
            yield f"{keyword} {was} became {now}"
    if isinstance(b.get("enum"), list):
        removed = [v for v in a.get("enum") or [] if v not in b["enum"]] if isinstance(a.get("enum"), list) else []
        if not isinstance(a.get("enum"), list):
            yield "the value became an enumeration"
        elif removed:
            yield f"enum value{'s' if len(removed) > 1 else ''} {', '.join(map(str, removed))} removed"


def _narrowed_decimal(a: Mapping[str, Any], b: Mapping[str, Any]) -> Iterator[str]:
    from decimal import Decimal, InvalidOperation

    scale_a, scale_b = int(a.get("scale", 0)), int(b.get("scale", 0))
    whole_a, whole_b = int(a.get("precision", 0)) - scale_a, int(b.get("precision", 0)) - scale_b
    if scale_b < scale_a:
        yield f"decimal scale {scale_a} became {scale_b} (fewer digits after the point)"
    if whole_b < whole_a:
        yield f"decimal digits before the point {whole_a} became {whole_b} (precision {a.get('precision')} → {b.get('precision')}, scale {scale_a} → {scale_b})"
    for keyword, narrower in (("maximum", "lower"), ("minimum", "higher")):
        if b.get(keyword) is None:
            continue
        try:
            now = Decimal(str(b[keyword]))
            was = None if a.get(keyword) is None else Decimal(str(a[keyword]))
        except InvalidOperation:
            continue
        if was is None:
            yield f"{keyword} {now} was added"
        elif (now < was) if narrower == "lower" else (now > was):
            yield f"{keyword} {was} became {now}"
