"""The view of a service's api/routes.py: one RouteView of facts per route."""

from __future__ import annotations

import keyword
from dataclasses import dataclass

from msgen import model as m
from msgen.names import a, param_var
from msgen.render.common import prefer_description, waiting_saga
from msgen.render.escape import plain, py_docstring, py_string
from msgen.render.py_base import Annotation, Dependency, ImportLines, Imports, Keyword, Param, path_params, query_params


@dataclass(frozen=True)
class HandlerCall:
    """The call of a handler function from a route: `handlers.<module>.<function>(<args>)`."""

    module: str
    function: str
    args: tuple[str, ...]  # positional: variables
    keywords: tuple[str, ...] = ()  # the query parameters, passed as `name=name`


@dataclass(frozen=True)
class CacheKey:
    """A cached read's key: an entity's (`f"<entity>:{id}"`, `entity` its snake name), or an operation's
    (`operation_key(<operation>, name=value, ...)`: `operation` a Python literal, each value's parameter name,
    its variable and whether the name is a keyword (passed as `**{"from": from_}`), and the page's limit and
    offset when `page`)."""

    entity: str | None = None
    operation: str | None = None
    values: tuple[tuple[str, str, bool], ...] = ()
    page: bool = False


@dataclass(frozen=True)
class RouteView:
    """The facts of one route; routes.py.j2 turns them into statements.

    `helper` says which runtime helper answers: `call` (a read), `entity_cache` (a cached get by id),
    `operation_cache` (a cached read per parameters), `idempotency` (an idempotent write), `no_content`
    (a 204 write), `accepted` (an asynchronous create: 202 with Location), `commit` (any other write).
    Every spec string is already a Python literal (`path`, `operation_id`, `summary`, `scopes`, `doc`).
    """

    method: str
    path: str
    function: str
    operation_id: str
    summary: str
    status: int
    scopes: tuple[str, ...] | None  # Python literals
    response_model: str | None
    response_class: str | None
    params: tuple[Param, ...]
    query: tuple[Param, ...]  # keyword-only
    returns: str
    doc: str
    helper: str
    call: HandlerCall
    response: str | None
    cache_key: CacheKey | None = None
    cache_ttl: str | None = None
    invalidate: bool = False
    location: str | None = None  # an asynchronous create's Location before `/{created.id}` (a checked path)
    payload: bool = False
    # a create that starts a saga: `Prefer: wait=N` answers 201 with the entity once the saga has ended
    settle: SettleView | None = None


@dataclass(frozen=True)
class SettleView:
    """What `settle` (msgen_runtime.messaging.saga) needs: the entity, its read model, its final statuses."""

    entity: str
    read: str
    final: str


@dataclass(frozen=True)
class StatusStreamView:
    """GET /<resources>/{id}/events of a saga's entity: its statuses as Server-Sent Events."""

    function: str
    path: str
    operation_id: str
    summary: str
    entity: str
    doc: str
    final: str


@dataclass(frozen=True)
class RoutesView:
    imports: ImportLines
    prefix: str
    idempotency: bool  # the IdempotencyDep dependency
    cache: bool  # the CacheDep dependency
    routes: tuple[RouteView, ...]
    streams: tuple[StatusStreamView, ...]


def _cached_entities(service: m.Service) -> dict[str, float]:
    """Entities whose get-by-id is cached, with its TTL."""
    return {
        op.entity.name: op.cache_ttl
        for op in service.operations
        if op.action == m.Action.GET and op.entity and op.cache_ttl
    }


def _op_cached(op: m.Operation) -> bool:
    """A GET operation whose answer is cached per parameters (action get uses the entity's cache instead)."""
    return (
        op.cache_ttl is not None
        and op.method == m.HttpMethod.GET
        and op.action != m.Action.GET
        and op.response is not None
    )


def routes_view(service: m.Service, system: m.System) -> RoutesView:
    imports = Imports()
    imports.add("typing", "Annotated")
    imports.add("fastapi", "APIRouter", "Depends")
    imports.add("sqlalchemy.ext.asyncio", "AsyncSession")
    imports.add("msgen_runtime.db", "get_session")
    cached = _cached_entities(service)
    idempotency = any(op.idempotent for op in service.operations)
    if idempotency:
        imports.add("msgen_runtime.idempotency", "Idempotency", "idempotency_dependency")
        imports.add(f"{service.package}.models", "IdempotencyKey")
    cache = bool(cached or any(_op_cached(op) for op in service.operations))
    if cache:
        imports.add("msgen_runtime.cache", "Cache", "get_cache")
    routes = tuple(_route(op, service, system, imports, cached) for op in service.operations)
    streams = tuple(
        _status_stream_route(saga, saga.entity, imports)
        for saga in system.sagas
        if saga.orchestrator == service.name and saga.entity
    )
    model_names = sorted({n for op in service.operations for n in (op.request, op.response) if n})
    if model_names:
        imports.add(f"{service.package}.schemas", *model_names)
    return RoutesView(
        imports=imports.lines(),
        prefix=f"/{system.api_version}",
        idempotency=idempotency,
        cache=cache,
        routes=routes,
        streams=streams,
    )


def status_stream_path(entity: m.Entity) -> str:
    return f"{entity.resource}/{{id}}/events"


def _status_stream_route(saga: m.Saga, entity: m.Entity, imports: Imports) -> StatusStreamView:
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
    final = sorted(plain(s) for s in (saga.status_completed, saga.status_failed) if s)
    return StatusStreamView(
        function=f"stream_{entity.snake}_events",
        path=py_string(status_stream_path(entity)),
        operation_id=py_string(f"stream{entity.name}Events"),
        summary=py_string(f"Follow {a(entity.name)} status as Server-Sent Events"),
        entity=entity.name,
        doc=py_docstring(
            f"Every status of the {entity.name} after Last-Event-ID, in order, until {' or '.join(final)}."
        ),
        final=repr(final),
    )


def _route(
    op: m.Operation, service: m.Service, system: m.System, imports: Imports, cached: dict[str, float]
) -> RouteView:
    params = [Param("session", "SessionDep"), *path_params(op, imports, route=True)]
    call_args = ["session", *(param_var(p) for p in op.path_params)]
    if op.action == m.Action.LIST:
        imports.add("msgen_runtime.pagination", "PageParams", "page_params")
        page = Dependency("PageParams", "page_params", (repr(op.page_size), repr(op.max_page_size)))
        params.append(Param("page", page))
        call_args.append("page")
    if op.request:
        params.append(Param("payload", op.request))
        call_args.append("payload")
    call = HandlerCall(op.handler_module, op.function, tuple(call_args), tuple(op.query_names))
    entity = op.entity
    cache_key = CacheKey(entity=entity.snake) if entity else None
    invalidate = entity is not None and entity.name in cached and op.action in (m.Action.UPDATE, m.Action.DELETE)
    if invalidate or (op.action == m.Action.GET and entity is not None and entity.name in cached) or _op_cached(op):
        params.append(Param("cache", "CacheDep"))
    returns = op.response or "None"
    response_model = response_class = cache_ttl = location = None
    settle: SettleView | None = None
    if op.is_async and entity is not None:
        location = f"/{system.api_version}{entity.resource}"
    if op.method == m.HttpMethod.GET:
        if op.action == m.Action.GET and entity is not None and entity.name in cached:
            helper, cache_ttl = "entity_cache", repr(cached[entity.name])
        elif _op_cached(op):
            imports.add("msgen_runtime.cache", "operation_key")
            # a path parameter named like a keyword ({from}) is passed as **{"from": from_}
            values = tuple(
                (py_string(p) if keyword.iskeyword(p) else p, param_var(p), keyword.iskeyword(p))
                for p in (*op.path_params, *op.query_names)
            )
            helper, cache_ttl = "operation_cache", repr(op.cache_ttl)
            cache_key = CacheKey(operation=py_string(op.op_id), values=values, page=op.action == m.Action.LIST)
        else:
            helper = "call"
    elif op.idempotent:
        helper = "idempotency"
        params.append(Param("idempotency", "IdempotencyDep"))
        imports.add("fastapi", "Response")
        if op.response and op.status != 204:
            response_model = op.response
        returns = "Response"
        saga = waiting_saga(system, service, op)
        if saga is not None and entity is not None:
            imports.add("fastapi", "Request", "Header")
            imports.add("typing", "Annotated")
            imports.add("msgen_runtime.messaging.saga", "settle")
            imports.add(f"{service.package}.models", entity.name, "StatusLog")
            imports.add(f"{service.package}.schemas", f"{entity.name}Read")
            params.insert(0, Param("request", "Request"))
            description = py_string(prefer_description(entity))
            params.append(
                Param(
                    "prefer",
                    Annotation(
                        "str | None",
                        "Header",
                        (
                            Keyword("alias", py_string("Prefer")),
                            Keyword("max_length", "1024"),
                            Keyword("description", description),
                        ),
                    ),
                    "None",
                )
            )
            final = sorted(plain(s) for s in (saga.status_completed, saga.status_failed) if s)
            settle = SettleView(entity=entity.name, read=f"{entity.name}Read", final=repr(final))
    else:
        imports.add("msgen_runtime.uow", "commit")
        if op.status == 204 or op.action == m.Action.DELETE:
            helper = "no_content"
            imports.add("fastapi", "Response")
            response_class = "Response"
            returns = "Response"
        elif op.is_async:
            helper = "accepted"
            imports.add("fastapi", "Response")
            params.append(Param("response", "Response"))
        else:
            helper = "commit"
    return RouteView(
        method=op.method.lower(),
        path=py_string(op.route),
        function=op.function,
        operation_id=py_string(op.op_id),
        summary=py_string(op.summary),
        status=op.status,
        scopes=tuple(py_string(s) for s in op.scopes) if op.scopes else None,
        response_model=response_model,
        response_class=response_class,
        params=tuple(params),
        query=query_params(op, imports, route=True),
        returns=returns,
        doc=py_docstring(plain(op.summary).rstrip(".") + "."),
        helper=helper,
        call=call,
        response=op.response,
        cache_key=cache_key,
        cache_ttl=cache_ttl,
        invalidate=invalidate,
        location=location,
        payload=bool(op.request),
        settle=settle,
    )
