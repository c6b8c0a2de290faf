"""Views for the Python templates: every identifier, type and import, computed here.

A template only lays out what these functions return; nothing in a template
decides a name or a type.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from msgen import model as m
from msgen.names import a, kebab, param_var, pascal, sentence, snake
from msgen.render.common import NO_NUL_PATTERN, URL_PATTERN
from msgen.render.escape import plain, py_docstring, py_string
from msgen.render.examples import example_payload, update_payload
from msgen.tables import runtime_tables


@dataclass
class Imports:
    """`from x import a, b` lines, collected while building a file, sorted at the end."""

    names: dict[str, set[str]] = field(default_factory=dict)
    modules: set[str] = field(default_factory=set)

    def add(self, module: str, *names: str) -> None:
        self.names.setdefault(module, set()).update(names)

    def module(self, name: str) -> None:
        self.modules.add(name)

    def lines(self) -> list[str]:
        out = [f"import {name}" for name in sorted(self.modules)]
        out += [f"from {mod} import {', '.join(sorted(names))}" for mod, names in sorted(self.names.items())]
        return out


_TYPE_IMPORTS = {
    "Decimal": ("decimal", "Decimal"),
    "UUID": ("uuid", "UUID"),
    "datetime": ("datetime", "datetime"),
    "date": ("datetime", "date"),
    "Email": ("msgen_runtime.types", "Email"),
    "AwareDatetime": ("pydantic", "AwareDatetime"),
}


def _need_type(imports: Imports, ftype: m.FieldType) -> None:
    target = ftype.item or ftype
    if target.python in _TYPE_IMPORTS:
        imports.add(*_TYPE_IMPORTS[target.python])


def _py_literal(value: Any) -> str:
    return repr(value)


def field_constraints(f: m.Field) -> list[str]:
    """pydantic Field(...) keyword arguments for a field's constraints."""
    c = f.constraints
    out: list[str] = []
    kind = f.type.kind
    if kind in ("int", "decimal"):
        if "min" in c:
            out.append(f"ge={_number(c['min'], kind)}")
        elif kind == "int":
            out.append("ge=-(2**63)")  # what a BIGINT column holds
        if "max" in c:
            out.append(f"le={_number(c['max'], kind)}")
        elif kind == "int":
            out.append("le=2**63 - 1")
    if kind == "decimal":
        out.append(f"max_digits={c.get('precision', 18)}")
        out.append(f"decimal_places={c.get('scale', 2)}")
    if "min_length" in c:
        out.append(f"min_length={c['min_length']}")
    if "max_length" in c:
        out.append(f"max_length={c['max_length']}")
    elif kind == "string":
        out.append("max_length=255")
    elif kind == "url":
        out.append("max_length=2048")
    if "pattern" in c:
        out.append(f"pattern={_py_literal(c['pattern'])}")
    elif kind == "url":
        out.append("pattern=" + _py_literal(URL_PATTERN))
    elif kind in ("string", "text"):
        out.append("pattern=" + _py_literal(NO_NUL_PATTERN))
    if "min_items" in c:
        out.append(f"min_length={c['min_items']}")
    if "max_items" in c:
        out.append(f"max_length={c['max_items']}")
    if f.description:
        out.append(f"description={_py_literal(f.description)}")
    return out


def _number(value: Any, kind: str) -> str:
    if kind == "int":
        return str(int(value))
    return f'Decimal("{Decimal(str(value)).normalize()}")' if value != int(value) else f"{int(value)}"


def _default_literal(f: m.Field) -> str:
    if f.type.kind == "enum":
        return f"{f.type.enum_class}.{f.default}"
    if f.type.kind == "decimal":
        return f'Decimal("{f.default}")'
    return _py_literal(f.default)


def annotation(f: m.Field, imports: Imports, *, optional: bool) -> str:
    _need_type(imports, f.type)
    base = f.type.python
    constraints = field_constraints(f)
    if constraints:
        imports.add("typing", "Annotated")
        imports.add("pydantic", "Field")
        base = f"Annotated[{base}, Field({', '.join(constraints)})]"
    return f"{base} | None" if optional else base


def pydantic_line(f: m.Field, imports: Imports, *, mode: str) -> str:
    """One model attribute; mode is create, update, read or event.

    An event's optional field may be left out, as its Avro schema's default (null) says.
    """
    if mode == "update":
        return f"{f.name}: {annotation(f, imports, optional=True)} = None"
    if mode == "read":
        return f"{f.name}: {annotation(f, imports, optional=not f.required)}"
    if mode == "event" and not f.required:
        return f"{f.name}: {annotation(f, imports, optional=True)} = None"
    if mode == "event":
        return f"{f.name}: {annotation(f, imports, optional=False)}"
    if f.has_default:
        return f"{f.name}: {annotation(f, imports, optional=not f.required)} = {_default_literal(f)}"
    if not f.required:
        return f"{f.name}: {annotation(f, imports, optional=True)} = None"
    return f"{f.name}: {annotation(f, imports, optional=False)}"


@dataclass(frozen=True)
class ModelView:
    name: str
    base: str
    doc: str
    lines: list[str]
    classvars: list[str] = field(default_factory=list)


def _enums(fields: tuple[m.Field, ...]) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for f in fields:
        t = f.type.item or f.type
        if t.enum_class:
            found[t.enum_class] = t.enum_values
    return found


def models_view(service: m.Service, sagas: tuple[m.Saga, ...] = ()) -> dict[str, Any]:
    imports = Imports()
    imports.module("sqlalchemy as sa")
    imports.add("sqlalchemy.orm", "DeclarativeBase", "Mapped", "mapped_column")
    imports.add("msgen_runtime.entities", "EntityMixin")
    entities = []
    for entity in service.entities:
        columns = []
        for f in entity.fields:
            mapped = f.type.mapped
            if mapped in ("Decimal", "UUID", "date"):
                imports.add(*_TYPE_IMPORTS[mapped])
            if mapped == "datetime":
                imports.add("datetime", "datetime")
            if "Any" in mapped:
                imports.add("typing", "Any")
            if f.nullable:
                mapped = f"{mapped} | None"
            args = [f.type.column]
            if f.type.column.startswith("UtcDateTime"):
                imports.add("msgen_runtime.types", "UtcDateTime")
            if f.unique:
                args.append("unique=True")
            if f.ref and not f.unique:
                args.append("index=True")
            args.append(f"nullable={not f.required}")
            if f.has_default:
                default = f.default
                args.append(f"default={default!r}" if f.type.kind != "decimal" else f'default=Decimal("{default}")')
                if f.type.kind == "decimal":
                    imports.add("decimal", "Decimal")
            if f.ref:
                columns.append(f"# the id of {a(f.ref[1])} of the {f.ref[0]} service: no foreign key across services")
            columns.append(f"{f.name}: Mapped[{mapped}] = mapped_column({', '.join(args)})")
        doc = entity.description or sentence(a(entity.name)) + "."
        entities.append({"name": entity.name, "table": entity.table, "columns": columns, "doc": doc})
    idempotency = any(op.idempotent for op in service.operations)
    if idempotency:
        imports.add("msgen_runtime.idempotency", "IdempotencyKeyMixin")
    tables = messaging_tables(service, sagas)
    for mixin, module in (
        ("OutboxMessageMixin", "outbox"),
        ("OutboxPartitionMixin", "outbox"),
        ("InboxMessageMixin", "consumer"),
        ("DeadLetterMixin", "consumer"),
        ("SagaStateMixin", "saga"),
        ("StatusLogMixin", "saga"),
        ("SagaStepMixin", "participant"),
    ):
        if any(t["mixin"] == mixin for t in tables):
            imports.add(f"msgen_runtime.messaging.{module}", mixin)
    return {"imports": imports.lines(), "entities": entities, "idempotency": idempotency, "messaging": tables}


# The ORM model each runtime table gets in a service's models.py: (class, runtime mixin, docstring).
_RUNTIME_MODELS = {
    "outbox": (
        "OutboxMessage",
        "OutboxMessageMixin",
        "Events waiting to be relayed, written with the business change.",
    ),
    "outbox_partitions": ("OutboxPartition", "OutboxPartitionMixin", "The partitions of the outbox a relay claims."),
    "inbox": ("InboxMessage", "InboxMessageMixin", "Messages already handled: a redelivery has no second effect."),
    "dead_letters": ("DeadLetter", "DeadLetterMixin", "Messages that could not be handled, for msgen dlq."),
    "saga_states": ("SagaState", "SagaStateMixin", "The state of each saga this service orchestrates."),
    "status_log": ("StatusLog", "StatusLogMixin", "Every status the saga's entity went through, in order."),
    "saga_steps": (
        "SagaStep",
        "SagaStepMixin",
        "What this service did for each saga step it takes part in: each step acts once.",
    ),
}


def messaging_tables(service: m.Service, sagas: tuple[m.Saga, ...]) -> list[dict[str, str]]:
    """The runtime's tables this service needs: outbox, inbox, dead letters, saga state, status log."""
    tables = []
    for table in runtime_tables(service, sagas):
        if table.name in _RUNTIME_MODELS:  # idempotency_keys has a model of its own
            name, mixin, doc = _RUNTIME_MODELS[table.name]
            tables.append({"name": name, "mixin": mixin, "table": table.name, "doc": doc})
    return tables


def json_fields(entity: m.Entity) -> tuple[str, ...]:
    return tuple(f.name for f in entity.fields if f.type.kind in ("object", "list"))


@dataclass(frozen=True)
class RouteView:
    function: str
    decorator: str
    params: list[str]
    returns: str
    doc: str
    body: list[str]


def _cached_entities(service: m.Service) -> dict[str, float]:
    """Entities whose get-by-id is cached, with its TTL."""
    return {op.entity: op.cache_ttl for op in service.operations if op.action == "get" and op.entity and op.cache_ttl}


def _op_cached(op: m.Operation) -> bool:
    """A GET operation whose answer is cached per parameters (action get uses the entity's cache instead)."""
    return op.cache_ttl is not None and op.method == "GET" and op.action != "get" and op.response is not None


def routes_view(service: m.Service, system: m.System) -> dict[str, Any]:
    imports = Imports()
    imports.add("typing", "Annotated")
    imports.add("fastapi", "APIRouter", "Depends")
    imports.add("sqlalchemy.ext.asyncio", "AsyncSession")
    imports.add("msgen_runtime.db", "get_session")
    cached = _cached_entities(service)
    routes: list[RouteView] = []
    handler_modules = set()
    deps: list[str] = ["SessionDep = Annotated[AsyncSession, Depends(get_session)]"]
    if any(op.idempotent for op in service.operations):
        imports.add("msgen_runtime.idempotency", "Idempotency", "idempotency_dependency")
        imports.add(f"{service.package}.models", "IdempotencyKey")
        deps.append("IdempotencyDep = Annotated[Idempotency, Depends(idempotency_dependency(IdempotencyKey))]")
    if cached or any(_op_cached(op) for op in service.operations):
        imports.add("msgen_runtime.cache", "Cache", "get_cache")
        deps.append("CacheDep = Annotated[Cache, Depends(get_cache)]")
    for op in service.operations:
        handler_modules.add(op.handler_module)
        routes.append(_route(op, service, system, imports, cached))
    for saga in system.sagas:
        if saga.orchestrator == service.name and saga.entity:
            routes.append(_status_stream_route(saga, service.entity(saga.entity), imports))
    model_names = sorted({n for op in service.operations for n in (op.request, op.response) if n})
    if model_names:
        imports.add(f"{service.package}.schemas", *model_names)
    return {
        "imports": imports.lines(),
        "handler_modules": sorted(handler_modules),
        "routes": routes,
        "prefix": f"/{system.api_version}",
        "deps": deps,
    }


def path_param_declarations(op: m.Operation, imports: Imports, *, route: bool = False) -> list[str]:
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
            out.append("id: UUID")
        elif var != p and route:
            imports.add("typing", "Annotated")
            imports.add("fastapi", "Path")
            out.append(f"{var}: Annotated[str, Path(alias={p!r})]")
        else:
            out.append(f"{var}: str")
    return out


def _query_type(f: m.Field, imports: Imports) -> str:
    """The Python type of a query parameter (an enum is a Literal of its values: it has no schema class)."""
    if f.type.kind == "enum":
        imports.add("typing", "Literal")
        return f"Literal[{', '.join(repr(v) for v in f.type.enum_values)}]"
    _need_type(imports, f.type)
    return f.type.python


def _query_default(f: m.Field) -> str | None:
    """`= value` for an optional query parameter, None for a required one."""
    if f.has_default:
        return repr(f.default) if f.type.kind == "enum" else _default_literal(f)
    return None if f.required else "None"


def query_declarations(op: m.Operation, imports: Imports, *, route: bool) -> list[str]:
    """Keyword-only query parameters: validated by FastAPI in a route (Query), plainly typed elsewhere."""
    if not op.query:
        return []
    out = ["*"]
    for f in op.query:
        python = _query_type(f, imports)
        optional = not f.required and not f.has_default
        kind = f"{python} | None" if optional else python
        if route:
            imports.add("fastapi", "Query")
            imports.add("typing", "Annotated")
            kind = f"Annotated[{kind}, Query({', '.join(field_constraints(f))})]"
        default = _query_default(f)
        out.append(f"{f.name}: {kind}" + (f" = {default}" if default is not None else ""))
    return out


def status_stream_path(entity: m.Entity) -> str:
    return f"{entity.resource}/{{id}}/events"


def _status_stream_route(saga: m.Saga, entity: m.Entity, imports: Imports) -> RouteView:
    """GET /<resources>/{id}/events: the entity's statuses as Server-Sent Events, until a final one."""
    imports.add("uuid", "UUID")
    imports.add("fastapi", "Request")
    imports.add("fastapi", "Response")
    imports.add("fastapi", "Header")
    imports.add("typing", "Annotated")
    imports.add("sse_starlette", "EventSourceResponse")
    imports.add("msgen_runtime", "crud")
    imports.add("msgen_runtime.messaging.saga", "status_stream")
    imports.add(f"{saga.orchestrator}_service.models", entity.name, "StatusLog")
    final = sorted(s for s in (saga.status_completed, saga.status_failed) if s)
    return RouteView(
        function=f"stream_{entity.snake}_events",
        decorator=(
            f"@router.get({status_stream_path(entity)!r}, operation_id='stream{entity.name}Events', "
            f"summary='Follow {a(entity.name)} status as Server-Sent Events', response_class=EventSourceResponse, "
            "responses={200: {'content': {'text/event-stream': {}}}, "
            "204: {'description': 'The client already received the final status.'}})"
        ),
        params=[
            "request: Request",
            "id: UUID",
            "last_event_id: Annotated[str | None, Header(alias='Last-Event-ID')] = None",
        ],
        returns="Response",
        doc=f'"""Every status of the {entity.name} after Last-Event-ID, in order, until {" or ".join(final)}."""',
        body=[
            "sessions = request.app.state.database.sessions",
            "async with sessions() as session:  # not held while streaming",
            f"    await crud.get_or_404(session, {entity.name}, id)",
            f"final = frozenset({final!r})",
            "return await status_stream(sessions, StatusLog, str(id), final=final, last_event_id=last_event_id)",
        ],
    )


def _route(
    op: m.Operation, service: m.Service, system: m.System, imports: Imports, cached: dict[str, float]
) -> RouteView:
    params = ["session: SessionDep", *path_param_declarations(op, imports, route=True)]
    call_args = ["session", *(param_var(p) for p in op.path_params)]
    if op.action == "list":
        imports.add("msgen_runtime.pagination", "PageParams", "page_params")
        params.append(f"page: Annotated[PageParams, Depends(page_params({op.page_size}, {op.max_page_size}))]")
        call_args.append("page")
    if op.request:
        params.append(f"payload: {op.request}")
        call_args.append("payload")
    call_args += [f"{q}={q}" for q in op.query_names]
    call = f"handlers.{op.handler_module}.{op.function}({', '.join(call_args)})"
    decorator = [repr(op.route), f"operation_id={op.op_id!r}", f"summary={op.summary!r}", f"status_code={op.status}"]
    if op.scopes:
        decorator.append(f"openapi_extra={{'x-scopes': {list(op.scopes)!r}}}")
    entity = service.entity(op.entity) if op.entity else None
    cache_key = f'f"{entity.snake}:{{id}}"' if entity else ""
    invalidate = entity is not None and entity.name in cached and op.action in ("update", "delete")
    if invalidate or (op.action == "get" and entity is not None and entity.name in cached) or _op_cached(op):
        params.append("cache: CacheDep")
    is_read = op.method == "GET"
    returns = op.response or "None"
    body: list[str] = []
    location = ""
    if op.is_async and entity is not None:
        location = f'f"/{system.api_version}{entity.resource}/{{created.id}}"'
    if is_read:
        if op.action == "get" and entity is not None and entity.name in cached:
            body = [f"return await cache.get_or_load({cache_key}, {cached[entity.name]!r}, {returns}, lambda: {call})"]
        elif _op_cached(op):
            imports.add("msgen_runtime.cache", "operation_key")
            # a path parameter named like a keyword ({from}) is passed as **{"from": from_}
            values = [
                f"**{{{p!r}: {param_var(p)}}}" if keyword.iskeyword(p) else f"{p}={param_var(p)}"
                for p in (*op.path_params, *op.query_names)
            ]
            if op.action == "list":
                values += ["limit=page.limit", "offset=page.offset"]
            key = f"operation_key({', '.join([repr(op.op_id), *values])})"
            body = [f"return await cache.get_or_load({key}, {op.cache_ttl!r}, {returns}, lambda: {call})"]
        elif op.response is None:
            body = [f"await {call}"]
        else:
            body = [f"return await {call}"]
    elif op.idempotent:
        params.append("idempotency: IdempotencyDep")
        imports.add("fastapi", "Response")
        run = [f"{op.op_id!r}", "payload" if op.request else "None", f"lambda: {call}", f"status_code={op.status}"]
        if op.is_async:
            run.append(f"location=lambda created: {location}")
            run.append(f"body=lambda created: {op.response}(id=created.id, status_url={location})")
        body = [f"answer = await idempotency.run({', '.join(run)})"]
        if invalidate:
            body.append(f"await cache.invalidate({cache_key})")
        body.append("return answer")
        if op.response and op.status != 204:
            decorator.append(f"response_model={op.response}")
        returns = "Response"
    else:
        imports.add("msgen_runtime.uow", "commit")
        if op.status == 204 or op.action == "delete":
            imports.add("fastapi", "Response")
            decorator.append("response_class=Response")
            body = [f"await {call}", "await commit(session)"]
            if invalidate:
                body.append(f"await cache.invalidate({cache_key})")
            body.append("return Response(status_code=204)")
            returns = "Response"
        elif op.is_async:
            imports.add("fastapi", "Response")
            params.append("response: Response")
            body = [
                f"created = await {call}",
                "await commit(session)",
                f"location = {location}",
                'response.headers["Location"] = location',
                f"return {returns}(id=created.id, status_url=location)",
            ]
        elif op.response is None:
            body = [f"await {call}", "await commit(session)"]
        else:
            body = ["result = await " + call, "await commit(session)"]
            if invalidate:
                body.append(f"await cache.invalidate({cache_key})")
            body.append("return result")
    params += query_declarations(op, imports, route=True)  # keyword-only: last
    doc = py_docstring(plain(op.summary).rstrip(".") + ".")
    return RouteView(
        function=op.function,
        decorator=f"@router.{op.method.lower()}({', '.join(decorator)})",
        params=params,
        returns=returns,
        doc=doc,
        body=body,
    )


@dataclass(frozen=True)
class HandlerFunction:
    name: str
    params: list[str]
    returns: str
    doc: str
    body: list[str]


def _from_entity(event: m.Event, entity: m.Entity, var: str) -> str:
    """`Event.model_validate({...})` from an entity row, field by field (its id as `<entity>_id`)."""
    names = {f.name for f in entity.fields}
    parts = []
    for f in event.fields:
        if f.name == f"{entity.snake}_id":
            parts.append(f"{f.name!r}: {var}.id")
        elif f.name in names:
            parts.append(f"{f.name!r}: {var}.{f.name}")
    return f"{event.class_name}.model_validate({{{', '.join(parts)}}})"


def _ref_checks(service: m.Service, entity: m.Entity, imports: Imports) -> list[str]:
    """Lines asking, before a create, that each `ref` whose entity this service may get exists."""
    lines: list[str] = []
    for path, f in m.checked_refs(service, entity):
        assert f.ref is not None
        target, name = f.ref
        get = f"get{name}"
        call = f"clients().{target}.{snake(get)}"
        outer = next(x for x in entity.writable_fields if x.name == path[0])
        if len(path) == 1:
            refs = f"[([{f.name!r}], payload.{f.name})]"
        elif outer.type.kind == "list":
            items = f"payload.{outer.name}" if outer.required else f"payload.{outer.name} or []"
            refs = f"[([{outer.name!r}, str(i), {f.name!r}], item.{f.name}) for i, item in enumerate({items})]"
        else:
            refs = f"[([{outer.name!r}, {f.name!r}], payload.{outer.name}.{f.name})] if payload.{outer.name} else []"
        if not lines:
            lines.append("# the entities it refers to must exist (422 if not; 503 when their service cannot say)")
        lines.append(f"await refs.require({name!r}, {refs}, {call})")
        imports.add("msgen_runtime", "refs")
        imports.add(f"{service.package}.clients", "clients")
    return lines


def _set_literal(f: m.Field, value: Any, imports: Imports) -> str:
    """The Python value a column takes from an operation's `sets` (enums are stored as their value)."""
    if f.type.kind == "decimal":
        imports.add("decimal", "Decimal")
        return f"Decimal({py_string(str(value))})"
    if isinstance(value, str):
        return py_string(value)
    return repr(value)


def handlers_view(
    service: m.Service,
    module: str,
    start_events: dict[str, m.Event] | None = None,
    events: dict[str, m.Event] | None = None,
) -> dict[str, Any]:
    imports = Imports()
    imports.add("sqlalchemy.ext.asyncio", "AsyncSession")
    functions: list[HandlerFunction] = []
    for op in service.operations:
        if op.handler_module != module:
            continue
        params = ["session: AsyncSession", *path_param_declarations(op, imports)]
        if op.action == "list":
            imports.add("msgen_runtime.pagination", "PageParams")
            params.append("page: PageParams")
        if op.request:
            params.append(f"payload: {op.request}")
            imports.add(f"{service.package}.schemas", op.request)
        params += query_declarations(op, imports, route=False)
        body: list[str]
        returns = op.response or "None"
        entity = service.entity(op.entity) if op.entity else None
        if entity is not None and op.action is not None:
            imports.add("msgen_runtime", "crud")
            imports.add(f"{service.package}.models", entity.name)
            read = f"{entity.name}Read"
            imports.add(f"{service.package}.schemas", read)
            jf = json_fields(entity)
            jf_text = f", {jf!r}" if jf else ""
            var = entity.snake
            if op.action == "list":
                imports.add(f"{service.package}.schemas", f"{entity.name}Page")
                returns = f"{entity.name}Page"
                body = [
                    f"rows, total = await crud.list_page(session, {entity.name}, limit=page.limit, offset=page.offset)",
                    f"return {entity.name}Page(",
                    f"    items=[{read}.model_validate(row) for row in rows], total=total, limit=page.limit, offset=page.offset",
                    ")",
                ]
            elif op.action == "get":
                returns = read
                body = [
                    f"{var} = await crud.get_or_404(session, {entity.name}, id)",
                    f"return {read}.model_validate({var})",
                ]
            elif op.action == "create":
                returns = read
                body = _ref_checks(service, entity, imports)
                body.append(f"{var} = await crud.create(session, {entity.name}, crud.row_from(payload{jf_text}))")
                if start_events and entity.name in start_events:
                    event = start_events[entity.name]
                    imports.add(f"{service.package}.events", event.class_name, "publish")
                    body.append(f"# starts the saga: {event.name} goes out with this transaction")
                    body.append(f"await publish(session, {_from_entity(event, entity, var)})")
                body.append(f"return {read}.model_validate({var})")
            elif op.action == "update":
                returns = read
                if op.sets:
                    by_name = {f.name: f for f in entity.fields}
                    pairs = [f"{name!r}: {_set_literal(by_name[name], v, imports)}" for name, v in op.sets]
                    body = [f"values: dict[str, Any] = {{{', '.join(pairs)}}}"]
                    imports.add("typing", "Any")
                else:
                    body = [f"values = crud.row_from(payload{jf_text}, partial=True)"]
                body.append(f"{var} = await crud.update(session, {entity.name}, id, values)")
                if op.publishes and events and op.publishes in events:
                    event = events[op.publishes]
                    imports.add(f"{service.package}.events", event.class_name, "publish")
                    body.append(f"# {event.name} goes out with this transaction (the outbox)")
                    body.append(f"await publish(session, {_from_entity(event, entity, var)})")
                body.append(f"return {read}.model_validate({var})")
            else:
                returns = "None"
                body = [f"await crud.delete(session, {entity.name}, id)"]
        else:
            if op.response:
                imports.add(f"{service.package}.schemas", op.response)
            imports.add("msgen_runtime.problems", "NotImplementedYet")
            body = [
                f"raise NotImplementedYet({op.op_id!r}, "
                f"{f'services/{service.name}/{service.package}/handlers/{module}.py'!r})"
            ]
        functions.append(
            HandlerFunction(op.function, params, returns, py_docstring(plain(op.summary).rstrip(".") + "."), body)
        )
    return {"imports": imports.lines(), "functions": functions}


def _vary(entity: m.Entity, service: m.Service, payload: dict[str, Any]) -> dict[str, Any]:
    """A field of the create body and another valid value for it (to send a different body)."""
    changed = update_payload(entity, service)
    if changed:
        name, value = next(iter(changed.items()))
        return {"vary_field": name, "vary_value": repr(value)}
    name = next(iter(payload), "")
    return {"vary_field": name, "vary_value": repr(payload.get(name))}


def downstream_view(service: m.Service, system: m.System) -> list[dict[str, Any]]:
    """The entity reads this service's default code makes (its ref checks): per callee, the path before
    the id and an entity the callee could answer, for the test suite's stand-ins of the callees."""
    from msgen.render.examples import EXAMPLE_UUID, field_example

    found: dict[str, dict[str, Any]] = {}
    for call in service.calls:
        callee = next((s for s in system.services if s.name == call.service), None)
        op = next((o for o in callee.operations if o.op_id == call.operation), None) if callee else None
        if callee is None or op is None or op.action != "get" or op.entity is None:
            continue
        entity = callee.entity(op.entity)
        read = {f.name: field_example(f, callee.value_objects) for f in entity.fields}
        stamp = "2026-01-01T00:00:00Z"
        body = {"id": EXAMPLE_UUID, **read, "created_at": stamp, "updated_at": stamp}
        found.setdefault(callee.name, {"service": callee.name, "reads": []})["reads"].append(
            {"prefix": op.path.removesuffix("{id}"), "body": repr(body)}
        )
    return list(found.values())


def _ref_check_example(service: m.Service, entity: m.Entity, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The first ref of the example body the default create checks: where it is, whose entity."""
    for path, f in m.checked_refs(service, entity):
        assert f.ref is not None
        if path[0] not in payload:
            continue
        loc: list[str] = ["body", path[0]]
        subscript = f"[{path[0]!r}]"
        if len(path) == 2:
            if isinstance(payload[path[0]], list):
                loc.append("0")
                subscript += "[0]"
            loc.append(path[1])
            subscript += f"[{path[1]!r}]"
        return {"loc": loc, "subscript": subscript, "service": f.ref[0], "entity": f"a {f.ref[1]}"}
    return None


def tests_view(service: m.Service, system: m.System) -> dict[str, Any]:
    """Data for the generated test suite: sample bodies and what to expect of each operation."""
    entities = []
    for entity in service.entities:
        ops = {op.action: op for op in service.operations if op.entity == entity.name and op.action}
        if not ops:
            continue
        create_op = ops.get("create")
        payload = example_payload(entity, service)
        unique = [f.name for f in entity.writable_fields if f.unique]
        entities.append(
            {
                "name": entity.name,
                "snake": entity.snake,
                "path": f"/{system.api_version}{entity.resource}",
                "create_path": create_op.path if create_op else None,
                "create_status": create_op.status if create_op else None,
                "create_async": bool(create_op and create_op.is_async),
                "payload": repr(payload),
                "patch_body": repr(update_payload(entity, service)),
                "has_list": "list" in ops,
                "has_get": "get" in ops,
                "has_update": "update" in ops,
                "has_delete": "delete" in ops,
                "unique": bool(unique),
                "table": entity.table,
                "idempotent_op": bool(create_op and create_op.idempotent),
                "cached": any(op.action == "get" and op.cache_ttl for op in ops.values()),
                **_vary(entity, service, payload),
                "required": [f.name for f in entity.writable_fields if f.required and not f.has_default],
                "ref_check": _ref_check_example(service, entity, payload) if create_op else None,
            }
        )
    custom = [
        {
            "op_id": op.op_id,
            "method": op.method,
            "path": op.path.replace("{id}", "00000000-0000-4000-8000-000000000000"),
            "body": "{}" if op.request else None,
        }
        for op in service.operations
        if op.is_custom
        and not any("{" + p + "}" in op.path for p in op.path_params if p != "id")
        and not op.request
        and not any(q.required and not q.has_default for q in op.query)
    ]
    return {"entities": entities, "custom": custom, "messaging": bool(service.publishes or service.consumes)}


def downstreams(service: m.Service) -> list[dict[str, str]]:
    """The services this one calls, once each, with their URL setting."""
    seen: dict[str, dict[str, str]] = {}
    for call in service.calls:
        seen.setdefault(
            call.service,
            {
                "service": call.service,
                "kebab": f"{kebab(call.service)}-service",
                "setting": f"{call.service}_url",
                "env": f"{call.service.upper()}_URL",
                "client_class": f"{pascal(call.service)}Client",
            },
        )
    return list(seen.values())


def main_view(service: m.Service, older_versions: tuple[str, ...] = ()) -> dict[str, Any]:
    """`older_versions`: API versions served beside the current one, each by its own router."""
    imports = Imports()
    routers = ["router"]
    for version in older_versions:
        imports.add(f"{service.package}.api.routes_{version}", f"router as router_{version}")
        routers.append(f"router_{version}")
    messaging = bool(service.publishes or service.consumes)
    if messaging:
        imports.add(f"{service.package}.messaging", "MESSAGING")
    imports.add(f"{service.package}.api.routes", "router")
    imports.add(f"{service.package}.settings", "Settings")
    idempotency = any(op.idempotent for op in service.operations)
    if idempotency:
        imports.add(f"{service.package}.models", "IdempotencyKey")
    if service.calls:
        imports.add(f"{service.package}.clients", "configure_clients")
    return {
        "imports": imports.lines(),
        "idempotency": idempotency,
        "has_clients": bool(service.calls),
        "messaging": messaging,
        "routers": routers,
    }


def settings_view(system: m.System, service: m.Service) -> dict[str, Any]:
    """The URL of each service it calls; who may call it: the gateway and the services calling it."""
    calling = sorted({other.name for other in system.services for call in other.calls if call.service == service.name})
    return {"downstreams": downstreams(service), "callers": ["gateway", *calling]}


def clients_view(system: m.System, service: m.Service) -> dict[str, Any]:
    """Typed clients for the services `service` calls, with models generated from the callees' contracts."""
    from msgen.render.schemas import client_models, service_models

    clients = []
    for downstream in downstreams(service):
        callee = system.service(downstream["service"])
        calls = {c.operation: c for c in service.calls if c.service == callee.name}
        ops = [op for op in callee.operations if op.op_id in calls]
        # The callee's own generated models (from its contract), re-based on ClientModel: ruff drops unused imports.
        roots = {n for op in ops for n in (op.request, op.response) if n}
        model_imports, models_code = client_models(service_models(system, callee), roots)
        imports = Imports()
        imports.add("msgen_runtime.http", "ServiceClient")
        imports.add("msgen_runtime.schemas", "ClientModel")
        for line in model_imports:
            if line.startswith("from ") and not line.startswith("from msgen_runtime.schemas"):
                module, _, names = line.removeprefix("from ").partition(" import ")
                imports.add(module, *names.split(", "))
        methods = []
        for op in ops:
            params = path_param_declarations(op, imports)
            options = [f"timeout={calls[op.op_id].timeout!r}"]
            if op.action == "list":
                params += [f"limit: int = {op.page_size}", "offset: int = 0"]
            if op.query:
                options.append(f"params={{{', '.join(f'{q!r}: {q}' for q in op.query_names)}}}")
            if op.request:
                params.append(f"payload: {op.request}")
                # a partial update sends only the fields set: null would clear them, or be refused
                dump = 'mode="json", exclude_unset=True' if op.action == "update" else 'mode="json"'
                options.insert(0, f"json=payload.model_dump({dump})")
            params += query_declarations(op, imports, route=False)
            path = op.path
            for param in op.path_params:
                path = path.replace("{" + param + "}", "{" + param_var(param) + "}")
            target = f'f"{path}"' if op.path_params else repr(path)
            if op.action == "list":
                target = f'f"{path}?limit={{limit}}&offset={{offset}}"'
            ttl = calls[op.op_id].cache_ttl
            if op.response and ttl is not None:
                body = (
                    f"return await self.cached_call({ttl!r}, {op.method!r}, {target}, {op.response}, "
                    f"{', '.join(options)})"
                )
                returns = op.response
            elif op.response:
                body = f"return await self.call({op.method!r}, {target}, {op.response}, {', '.join(options)})"
                returns = op.response
            else:
                body = f"await self.request({op.method!r}, {target}, {', '.join(options)})"
                returns = "None"
            methods.append(
                {
                    "name": op.function,
                    "params": params,
                    "returns": returns,
                    "doc": py_docstring(plain(op.summary).rstrip(".") + f" ({callee.kebab}, {op.method} {op.path})."),
                    "body": body,
                }
            )
        clients.append(
            {
                "module": callee.name,
                "class_name": downstream["client_class"],
                "service": callee.name,
                "kebab": callee.kebab,
                "setting": downstream["setting"],
                "timeout": max(c.timeout for c in calls.values()),
                "retries": max(c.retries for c in calls.values()),
                "cached": any(c.cache_ttl is not None for c in calls.values()),
                "imports": imports.lines(),
                "models_code": models_code,
                "methods": methods,
            }
        )
    return {"clients": clients, "cached": any(c["cached"] for c in clients)}
