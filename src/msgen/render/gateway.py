"""The generated gateway (`gateway/`): its route table, settings, tests and image, computed from the spec.

The gateway project stays thin: `msgen_runtime.gateway` does the work, and the
generated package holds only what the spec says (routes, scopes, timeouts,
limits, CORS, upstream addresses). The dev issuer's key pair is deliberately
not rendered: it is created on first use (see `msgen_runtime.gateway.devtokens`),
so rendering stays deterministic and no private key is ever generated into a
project, a baseline or a golden tree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen import runtime_dist
from msgen.names import snake
from msgen.render.common import PREFER_WAIT_MAX, waiting_saga
from msgen.render.common import GatewayRoute as GatewayRoute  # versions.py makes them too
from msgen.render.deploy import ImageView
from msgen.render.escape import py_comment, py_string
from msgen.render.k8s import APP_UID, HTTP_PORT, image_of
from msgen.render.python import status_stream_path
from msgen.render.yamltext import Renderer

GATEWAY_DIR = "gateway"
GATEWAY_PACKAGE = "gateway_app"
GATEWAY_MODULE = f"{GATEWAY_PACKAGE}.main:create_app"
DEV_ISSUER_CONFIG = "dev-issuer.json"  # msgen_runtime.gateway.devtokens.CONFIG_FILE
DEV_ISSUER_KEYS = "dev-issuer"  # msgen_runtime.gateway.devtokens.KEY_DIR
READ_METHODS = ("GET", "HEAD")
_EXAMPLE_ID = "00000000-0000-4000-8000-000000000001"


def dev_issuer(system: m.System) -> str:
    return f"urn:msgen:{system.name}:dev-issuer"


def audience(system: m.System) -> str:
    """The spec's audience; without `auth`, one the dev issuer and a later OIDC_ISSUER can share."""
    return system.gateway.audience or f"{system.name}-api"


def scopes(system: m.System) -> list[str]:
    """Every scope a public route asks for, sorted."""
    return sorted({scope for route in gateway_routes(system) for scope in route.scopes})


def gateway_routes(system: m.System, older: Mapping[str, Mapping[str, str]] | None = None) -> list[GatewayRoute]:
    """Every public route, in spec order: the services' operations, then the saga status streams.

    `older`: service -> {older API version: its frozen contract}; their routes come after (render/versions.py).
    """
    from msgen.render.versions import older_routes

    routes: list[GatewayRoute] = []
    for service in system.services:
        for op in service.operations:
            routes.append(
                GatewayRoute(
                    method=op.method,
                    path=op.path,
                    upstream=service.name,
                    scopes=tuple(op.scopes),
                    timeout=op.timeout,
                    idempotent_read=op.method in READ_METHODS,
                    sse=False,
                    rate_limit=op.rate_limit,
                    max_wait=PREFER_WAIT_MAX if waiting_saga(system, service, op) is not None else 0.0,
                )
            )
    for saga in system.sagas:
        orchestrator, entity = saga.orchestrator_service, saga.entity
        if entity is None or orchestrator is None:
            continue
        # Following an entity's status is reading it: the scopes of its get (or list) operation.
        readers = [
            op for op in orchestrator.operations if op.entity is entity and op.action in (m.Action.GET, m.Action.LIST)
        ]
        readers.sort(key=lambda op: op.action != m.Action.GET)
        routes.append(
            GatewayRoute(
                method="GET",
                path=f"/{system.api_version}{status_stream_path(entity)}",
                upstream=orchestrator.name,
                scopes=tuple(readers[0].scopes) if readers else (),
                timeout=None,
                idempotent_read=True,
                sse=True,
            )
        )
    return routes + older_routes(older or {}) + templated_routes(system)


TEMPLATED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def templated_routes(system: m.System) -> list[GatewayRoute]:
    """A template service's prefix, and everything under it, for each method: reads and writes have their scopes."""
    return [
        GatewayRoute(
            method=method,
            path=t.prefix,
            upstream=t.name,
            scopes=tuple(t.read_scopes if method in READ_METHODS else t.write_scopes),
            timeout=None,
            idempotent_read=method in READ_METHODS,
            sse=False,
            prefix=True,
        )
        for t in system.templated
        if t.prefix is not None
        for method in TEMPLATED_METHODS
    ]


@dataclass(frozen=True)
class RouteEntry:
    """A route of routes.py's table, every value a Python literal; routes.py.j2 writes `Route(...)`, naming
    only what differs from the defaults."""

    method: str
    path: str
    upstream: str
    scopes: str | None
    timeout: str | None
    idempotent_read: bool
    sse: bool
    prefix: bool
    rate_limit: tuple[str, str, str] | None  # RouteLimit's requests, period and by
    max_wait: str | None = None


def _route_entry(route: GatewayRoute) -> RouteEntry:
    limit = route.rate_limit
    return RouteEntry(
        method=py_string(route.method),
        path=py_string(route.path),
        upstream=py_string(route.upstream),
        scopes=repr(route.scopes) if route.scopes else None,
        timeout=repr(route.timeout) if route.timeout is not None else None,
        idempotent_read=route.idempotent_read,
        sse=route.sse,
        prefix=route.prefix,
        rate_limit=(repr(limit[0]), repr(limit[1]), repr(limit[2])) if limit else None,
        max_wait=repr(route.max_wait) if route.max_wait else None,
    )


@dataclass(frozen=True)
class Upstream:
    """A service behind the gateway: its settings field, environment variable and in-cluster address."""

    name: str
    setting: str
    env: str
    default: str


def upstreams_view(system: m.System, routes: list[GatewayRoute]) -> tuple[Upstream, ...]:
    used = {route.upstream for route in routes}
    services: list[m.Service | m.TemplateService] = [*system.services, *system.templated]
    return tuple(
        Upstream(
            name=service.name,
            setting=f"{snake(service.name)}_url",
            env=f"{service.name.upper()}_URL",
            default=f"http://{service.kebab}",
        )
        for service in services
        if service.name in used
    )


@dataclass(frozen=True)
class SettingField:
    """A Settings field the spec decides: `name: annotation = value` (a Python literal) after a comment."""

    name: str
    annotation: str
    value: str
    comment: str
    factory: bool  # a list: Field(default_factory=lambda: value)


def settings_view(system: m.System) -> tuple[SettingField, ...]:
    """The Settings fields the spec decides: (name, annotation, Python default, comment)."""
    gw = system.gateway

    def field(name: str, annotation: str, value: Any, comment: str) -> SettingField:
        return SettingField(name, annotation, repr(value), py_comment(comment), annotation.startswith("list"))

    return (
        field("realm", "str", system.name, "named in WWW-Authenticate"),
        field("trace_sample_ratio", "float", system.slos.sample_ratio, "observability.tracing.sample_ratio"),
        field("oidc_issuer", "str | None", gw.issuer, "gateway.auth.issuer; env OIDC_ISSUER"),
        field("oidc_audience", "str | None", audience(system), "gateway.auth.audience; env OIDC_AUDIENCE"),
        field("oidc_jwks_url", "str | None", gw.jwks_url, "gateway.auth.jwks_url (discovery when None)"),
        field("dev_issuer", "str", dev_issuer(system), "trusted only when DEV_ISSUER_ENABLED=true"),
        field("rate_limit_requests", "int", gw.rate_limit_requests, "gateway.rate_limit.requests"),
        field("rate_limit_period", "float", gw.rate_limit_period, "gateway.rate_limit.per, in seconds"),
        field("rate_limit_by", 'Literal["token", "ip"]', gw.rate_limit_by, "gateway.rate_limit.by"),
        field("rate_limit_namespace", "str | None", f"msgen:{system.name}:gateway", "prefix of the Redis keys"),
        field("timeout", "float", gw.timeout, "gateway.timeout: a route without its own"),
        field("max_body", "int", gw.max_body, "gateway.max_body, in bytes"),
        field("cors_origins", "list[str]", list(gw.cors_origins), "gateway.cors.origins"),
        field("cors_methods", "list[str]", list(gw.cors_methods), "gateway.cors.methods"),
        field("cors_headers", "list[str]", list(gw.cors_headers), "gateway.cors.headers"),
    )


@dataclass(frozen=True)
class GatewayTestsView:
    """Concrete requests for the gateway's suite, as Python literals; None where the spec has no such route."""

    secured_path: str | None
    secured_scopes: str
    secured_template: str | None
    secured_service: str | None
    write_path: str | None
    write_scopes: str
    stream_path: str | None
    stream_scopes: str
    origin: str | None


def tests_view(system: m.System, routes: list[GatewayRoute]) -> GatewayTestsView:
    """Concrete requests for the generated suite: a secured read, a secured write, a stream."""

    def concrete(route: GatewayRoute | None) -> str | None:
        if route is None:
            return None
        out = route.path
        while "{" in out:
            start, end = out.index("{"), out.index("}")
            out = out[:start] + _EXAMPLE_ID + out[end + 1 :]
        return py_string(out)

    def scopes_of(route: GatewayRoute | None) -> str:
        return repr(list(route.scopes) if route else [])

    routes = [r for r in routes if not r.prefix]  # a template service's answers are not msgen's to test
    secured = next((r for r in routes if r.method == "GET" and r.scopes and not r.sse), None)
    write = next((r for r in routes if r.method == "POST" and r.scopes), None)
    stream = next((r for r in routes if r.sse), None)
    origins = system.gateway.cors_origins
    return GatewayTestsView(
        secured_path=concrete(secured),
        secured_scopes=scopes_of(secured),
        secured_template=py_string(secured.path) if secured else None,
        secured_service=py_string(secured.upstream) if secured else None,
        write_path=concrete(write),
        write_scopes=scopes_of(write),
        stream_path=concrete(stream),
        stream_scopes=scopes_of(stream),
        origin=py_string(origins[0]) if origins else None,
    )


def dev_issuer_config(system: m.System) -> str:
    """gateway/dev-issuer.json: who the dev issuer is (no secret: the key pair is made on first use)."""
    return (
        json.dumps(
            {
                "description": (
                    "The dev issuer of local runs (msgen up, msgen token). Its key pair is created on first use in "
                    "dev-issuer/, ignored by git and docker; the gateway trusts it only with DEV_ISSUER_ENABLED=true, "
                    "which no Kubernetes overlay sets."
                ),
                "issuer": dev_issuer(system),
                "audience": audience(system),
                "algorithm": "ES256",
                "keys": DEV_ISSUER_KEYS,
                "scopes": scopes(system),  # what msgen token --scope accepts (and --list-scopes lists)
            },
            indent=2,
        )
        + "\n"
    )


@dataclass(frozen=True)
class GatewayView:
    """gateway/: its package, route table, upstreams, settings and tests."""

    package: str
    distribution: str
    routes: tuple[RouteEntry, ...]
    route_limits: bool
    route_rows: tuple[GatewayRoute, ...]  # the README's table
    upstreams: tuple[Upstream, ...]
    settings: tuple[SettingField, ...]
    tests: GatewayTestsView
    dev_issuer: str
    audience: str
    module: str
    system_name: str
    api_version: str


def gateway_view(system: m.System, older: Mapping[str, Mapping[str, str]] | None = None) -> GatewayView:
    routes = gateway_routes(system, older)
    return GatewayView(
        package=GATEWAY_PACKAGE,
        distribution=f"{system.name.replace('_', '-')}-gateway",
        routes=tuple(_route_entry(r) for r in routes),
        route_limits=any(r.rate_limit for r in routes),
        route_rows=tuple(routes),
        upstreams=upstreams_view(system, routes),
        settings=settings_view(system),
        tests=tests_view(system, routes),
        dev_issuer=dev_issuer(system),
        audience=audience(system),
        module=GATEWAY_MODULE,
        system_name=system.name,
        api_version=system.api_version,
    )


def render_gateway(system: m.System, older: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, str]:
    """Every file of gateway/ (Python files are formatted with the rest by render_system)."""
    r = Renderer()
    view = gateway_view(system, older)
    ctx: dict[str, Any] = {"view": view}
    root, pkg = GATEWAY_DIR, f"{GATEWAY_DIR}/{GATEWAY_PACKAGE}"
    image = ImageView(
        app="gateway",
        dir=GATEWAY_DIR,
        module=GATEWAY_MODULE,
        tag=image_of(system, "gateway"),
        files=(),
        layers=tuple(runtime_dist.install_layers(runtime_dist.GATEWAY_EXTRAS)),
    )
    return {
        f"{root}/pyproject.toml": r.render(
            "gateway/pyproject.toml.j2",
            runtime_requirement=runtime_dist.requirement(runtime_dist.GATEWAY_EXTRAS),
            runtime_test_requirement=runtime_dist.requirement((*runtime_dist.GATEWAY_EXTRAS, "testing")),
            **ctx,
        ),
        f"{root}/README.md": r.render("gateway/README.md.j2", **ctx),
        f"{root}/{DEV_ISSUER_CONFIG}": dev_issuer_config(system),
        f"{root}/Dockerfile": r.render(
            "service/Dockerfile.j2",
            image=image,
            base_image=system.deploy.base_image,
            http_port=HTTP_PORT,
            uid=APP_UID,
            **ctx,
        ),
        f"{pkg}/__init__.py": r.render("gateway/package/__init__.py.j2", **ctx),
        f"{pkg}/main.py": r.render("gateway/package/main.py.j2", **ctx),
        f"{pkg}/routes.py": r.render("gateway/package/routes.py.j2", **ctx),
        f"{pkg}/settings.py": r.render("gateway/package/settings.py.j2", **ctx),
        f"{root}/tests/__init__.py": "",
        f"{root}/tests/conftest.py": r.render("gateway/tests/conftest.py.j2", **ctx),
        f"{root}/tests/test_gateway.py": r.render("gateway/tests/test_gateway.py.j2", **ctx),
    }
