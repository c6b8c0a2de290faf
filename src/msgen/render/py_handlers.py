"""The view of a service's handlers/<module>.py: the default body of each handler, as facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen.names import snake
from msgen.render.escape import plain, py_comment, py_docstring, py_string
from msgen.render.py_base import ImportLines, Imports, Param, json_fields, path_params, query_params


@dataclass(frozen=True)
class RefCheck:
    """`await refs.require(...)` before a create: a `ref` of the payload must name an existing entity.

    `shape` is where the ref is: `field` (a field of the payload), `list` (a field of each item of a
    list field `outer`) or `object` (a field of an optional or required object field `outer`).
    `entity`, `key` and `outer_key` are Python literals; `field` and `outer` are identifiers.
    """

    entity: str
    client: str
    getter: str
    shape: str
    field: str
    key: str
    outer: str = ""
    outer_key: str = ""
    outer_required: bool = True


@dataclass(frozen=True)
class EventPublish:
    """An event published with the change (the outbox), built from the row field by field."""

    event: str
    class_name: str
    values: tuple[tuple[str, str], ...]  # (literal key, attribute of the row)
    starts_saga: bool


@dataclass(frozen=True)
class HandlerFunction:
    """The default body of one handler; module.py.j2 writes its statements.

    `action` is the crud helper it uses (`list`, `get`, `create`, `update`, `delete`) or
    `not_implemented` (a custom operation: NotImplementedYet until its author writes it).
    """

    name: str
    params: tuple[Param, ...]
    query: tuple[Param, ...]  # keyword-only
    returns: str
    doc: str
    action: str
    entity: str = ""
    read: str = ""
    var: str = ""
    json_fields: str = ""  # `, ('a', 'b')` after the payload, or nothing
    ref_checks: tuple[RefCheck, ...] = ()
    publish: EventPublish | None = None
    sets: tuple[tuple[str, str], ...] = ()  # (literal column, literal value) an update sets
    operation_id: str = ""
    module_path: str = ""


@dataclass(frozen=True)
class HandlersView:
    imports: ImportLines
    functions: tuple[HandlerFunction, ...]


def _from_entity(event: m.Event, entity: m.Entity, *, starts_saga: bool) -> EventPublish:
    """The event's fields from an entity row, field by field (its id as `<entity>_id`)."""
    names = {f.name for f in entity.fields}
    values = []
    for f in event.fields:
        if f.name == f"{entity.snake}_id":
            values.append((py_string(f.name), "id"))
        elif f.name in names:
            values.append((py_string(f.name), f.name))
    return EventPublish(py_comment(event.name), event.class_name, tuple(values), starts_saga)


def _ref_checks(service: m.Service, entity: m.Entity, imports: Imports) -> tuple[RefCheck, ...]:
    """The checks, before a create, that each `ref` whose entity this service may get exists."""
    checks = []
    for path, f in m.checked_refs(service, entity):
        assert f.ref is not None
        target, name = f.ref
        literal, getter = py_string(name), snake(f"get{name}")
        outer = next(x for x in entity.writable_fields if x.name == path[0])
        if len(path) == 1:
            checks.append(RefCheck(literal, target, getter, shape="field", field=f.name, key=py_string(f.name)))
        else:
            checks.append(
                RefCheck(
                    literal,
                    target,
                    getter,
                    shape="list" if outer.type.kind == m.Kind.LIST else "object",
                    field=f.name,
                    key=py_string(f.name),
                    outer=outer.name,
                    outer_key=py_string(outer.name),
                    outer_required=outer.required,
                )
            )
        imports.add("msgen_runtime", "refs")
        imports.add(f"{service.package}.clients", "clients")
    return tuple(checks)


def _set_literal(f: m.Field, value: Any, imports: Imports) -> str:
    """The Python value a column takes from an operation's `sets` (enums are stored as their value)."""
    if f.type.kind == m.Kind.DECIMAL:
        imports.add("decimal", "Decimal")
        return f"Decimal({py_string(str(value))})"
    if isinstance(value, str):
        return py_string(value)
    return repr(value)


def handlers_view(
    service: m.Service,
    module: str,
    start_events: dict[str, m.Event] | None = None,
) -> HandlersView:
    imports = Imports()
    imports.add("sqlalchemy.ext.asyncio", "AsyncSession")
    functions: list[HandlerFunction] = []
    for op in service.operations:
        if op.handler_module != module:
            continue
        params = [Param("session", "AsyncSession"), *path_params(op, imports)]
        if op.action == m.Action.LIST:
            imports.add("msgen_runtime.pagination", "PageParams")
            params.append(Param("page", "PageParams"))
        if op.request:
            params.append(Param("payload", op.request))
            imports.add(f"{service.package}.schemas", op.request)
        query = query_params(op, imports, route=False)
        doc = py_docstring(plain(op.summary).rstrip(".") + ".")
        entity = op.entity
        if entity is None or op.action is None:
            if op.response:
                imports.add(f"{service.package}.schemas", op.response)
            imports.add("msgen_runtime.problems", "NotImplementedYet")
            functions.append(
                HandlerFunction(
                    name=op.function,
                    params=tuple(params),
                    query=query,
                    doc=doc,
                    returns=op.response or "None",
                    action="not_implemented",
                    operation_id=py_string(op.op_id),
                    module_path=py_string(f"services/{service.name}/{service.package}/handlers/{module}.py"),
                )
            )
            continue
        imports.add("msgen_runtime", "crud")
        imports.add(f"{service.package}.models", entity.name)
        read = f"{entity.name}Read"
        imports.add(f"{service.package}.schemas", read)
        jf = json_fields(entity)
        returns = read
        ref_checks: tuple[RefCheck, ...] = ()
        publish = None
        sets: tuple[tuple[str, str], ...] = ()
        if op.action == m.Action.LIST:
            imports.add(f"{service.package}.schemas", f"{entity.name}Page")
            returns = f"{entity.name}Page"
        elif op.action == m.Action.CREATE:
            ref_checks = _ref_checks(service, entity, imports)
            if start_events and entity.name in start_events:
                event = start_events[entity.name]
                imports.add(f"{service.package}.events", event.class_name, "publish")
                publish = _from_entity(event, entity, starts_saga=True)
        elif op.action == m.Action.UPDATE:
            if op.sets:
                by_name = {f.name: f for f in entity.fields}
                sets = tuple((py_string(name), _set_literal(by_name[name], v, imports)) for name, v in op.sets)
                imports.add("typing", "Any")
            if op.publishes:
                event = op.publishes
                imports.add(f"{service.package}.events", event.class_name, "publish")
                publish = _from_entity(event, entity, starts_saga=False)
        elif op.action == m.Action.DELETE:
            returns = "None"
        functions.append(
            HandlerFunction(
                name=op.function,
                params=tuple(params),
                query=query,
                doc=doc,
                returns=returns,
                action=str(op.action.value),
                entity=entity.name,
                read=read,
                var=entity.snake,
                json_fields=f", {jf!r}" if jf else "",
                ref_checks=ref_checks,
                publish=publish,
                sets=sets,
            )
        )
    return HandlersView(imports=imports.lines(), functions=tuple(functions))
