"""The view of a service's clients/: typed clients of the services it calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from msgen import model as m
from msgen.names import kebab, param_var, pascal
from msgen.render.escape import plain, py_docstring, py_string
from msgen.render.py_base import ImportLines, Imports, Param, path_params, query_params

if TYPE_CHECKING:
    from msgen.render.schemas import ModelClass


@dataclass(frozen=True)
class Downstream:
    """A service this one calls: its client class and the setting holding its URL."""

    service: str
    kebab: str
    setting: str
    env: str
    client_class: str


def downstreams(service: m.Service) -> tuple[Downstream, ...]:
    """The services this one calls, once each, with their URL setting."""
    seen: dict[str, Downstream] = {}
    for call in service.calls:
        seen.setdefault(
            call.service,
            Downstream(
                service=call.service,
                kebab=f"{kebab(call.service)}-service",
                setting=f"{call.service}_url",
                env=f"{call.service.upper()}_URL",
                client_class=f"{pascal(call.service)}Client",
            ),
        )
    return tuple(seen.values())


@dataclass(frozen=True)
class ClientMethodView:
    """One call of a client; client.py.j2 writes the statement.

    `helper` is the ServiceClient method that makes it: `cached_call`, `call` (an answer to parse) or
    `request` (none). `method`, `target` (the URL, an f-string when it has parameters) and `query` keys
    are Python literals already.
    """

    name: str
    params: tuple[Param, ...]
    query: tuple[Param, ...]  # keyword-only
    query_keys: tuple[tuple[str, str], ...]  # (literal key, variable) sent as `params=`
    returns: str
    doc: str
    helper: str
    method: str
    target: str
    fstring: bool  # the target is an f-string, filled from the path parameters (and the page)
    response: str | None
    timeout: str
    cache_ttl: str | None
    payload: bool
    partial: bool  # a partial update sends only the fields set: null would clear them, or be refused


@dataclass(frozen=True)
class ClientView:
    module: str
    class_name: str
    service: str
    kebab: str
    setting: str
    timeout: float
    retries: int
    cached: bool
    imports: ImportLines
    models: tuple[ModelClass, ...]  # the callee's classes, written by templates/macros/models.py.j2
    methods: tuple[ClientMethodView, ...]


@dataclass(frozen=True)
class ClientsView:
    clients: tuple[ClientView, ...]
    cached: bool


def clients_view(system: m.System, service: m.Service) -> ClientsView:
    """Typed clients for the services `service` calls, with models generated from the callees' contracts."""
    from msgen.render.schemas import client_models, imports_of

    clients = []
    for downstream in downstreams(service):
        mine = [c for c in service.calls if c.service == downstream.service]
        callee = mine[0].callee
        assert callee is not None  # resolved with the system
        calls = {c.operation: c for c in mine}
        ops = [op for op in callee.operations if op.op_id in calls]
        # The callee's own classes (those of its schemas.py) that the calls need, on ClientModel.
        roots = {n for op in ops for n in (op.request, op.response) if n}
        models = client_models(callee, roots)
        imports = Imports()
        imports.add("msgen_runtime.http", "ServiceClient")
        imports.add("msgen_runtime.schemas", "ClientModel")
        for module, name in imports_of(models):
            imports.add(module, name)
        methods = []
        for op in ops:
            params = list(path_params(op, imports))
            if op.action == m.Action.LIST:
                params += [Param("limit", "int", str(op.page_size)), Param("offset", "int", "0")]
            if op.request:
                params.append(Param("payload", op.request))
            path = op.path
            for param in op.path_params:
                path = path.replace("{" + param + "}", "{" + param_var(param) + "}")
            if op.action == m.Action.LIST:
                path += "?limit={limit}&offset={offset}"
            ttl = calls[op.op_id].cache_ttl
            helper = "request" if not op.response else "call" if ttl is None else "cached_call"
            methods.append(
                ClientMethodView(
                    name=op.function,
                    params=tuple(params),
                    query=query_params(op, imports, route=False),
                    query_keys=tuple((py_string(q), q) for q in op.query_names),
                    returns=op.response or "None",
                    doc=py_docstring(plain(op.summary).rstrip(".") + f" ({callee.kebab}, {op.method} {op.path})."),
                    helper=helper,
                    method=py_string(op.method),
                    target=py_string(path),
                    fstring=bool(op.path_params) or op.action == m.Action.LIST,
                    response=op.response,
                    timeout=repr(calls[op.op_id].timeout),
                    cache_ttl=repr(ttl) if ttl is not None else None,
                    payload=bool(op.request),
                    partial=op.action == m.Action.UPDATE,
                )
            )
        clients.append(
            ClientView(
                module=callee.name,
                class_name=downstream.client_class,
                service=callee.name,
                kebab=callee.kebab,
                setting=downstream.setting,
                timeout=max(c.timeout for c in calls.values()),
                retries=max(c.retries for c in calls.values()),
                cached=any(c.cache_ttl is not None for c in calls.values()),
                imports=imports.lines(),
                models=tuple(models),
                methods=tuple(methods),
            )
        )
    return ClientsView(clients=tuple(clients), cached=any(c.cached for c in clients))
