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
from typing import Any

from msgen import model as m
from msgen import runtime_dist
from msgen.names import snake
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
    return sorted({scope for route in gateway_routes(system) for scope in route["scopes"]})


def gateway_routes(system: m.System, older: Mapping[str, Mapping[str, str]] | None = None) -> list[dict[str, Any]]:
    """Every public route, in spec order: the services' operations, then the saga status streams.

    `older`: service -> {older API version: its frozen contract}; their routes come after (render/versions.py).
    """
    from msgen.render.versions import older_routes

    routes: list[dict[str, Any]] = []
    for service in system.services:
        for op in service.operations:
            routes.append(
                {
                    "method": op.method,
                    "path": op.path,
                    "upstream": service.name,
                    "scopes": op.scopes,
                    "timeout": op.timeout,
                    "idempotent_read": op.method in READ_METHODS,
                    "sse": False,
                    "rate_limit": op.rate_limit,
                }
            )
    for saga in system.sagas:
        if not saga.entity:
            continue
        service = system.service(saga.orchestrator)
        entity = service.entity(saga.entity)
        # Following an entity's status is reading it: the scopes of its get (or list) operation.
        readers = [op for op in service.operations if op.entity == entity.name and op.action in ("get", "list")]
        readers.sort(key=lambda op: op.action != "get")
        routes.append(
            {
                "method": "GET",
                "path": f"/{system.api_version}{status_stream_path(entity)}",
                "upstream": service.name,
                "scopes": readers[0].scopes if readers else (),
                "timeout": None,
                "idempotent_read": True,
                "sse": True,
            }
        )
    return routes + older_routes(older or {}) + templated_routes(system)


TEMPLATED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def templated_routes(system: m.System) -> list[dict[str, Any]]:
    """A template service's prefix, and everything under it, for each method: reads and writes have their scopes."""
    return [
        {
            "method": method,
            "path": t.prefix,
            "upstream": t.name,
            "scopes": t.read_scopes if method in READ_METHODS else t.write_scopes,
            "timeout": None,
            "idempotent_read": method in READ_METHODS,
            "sse": False,
            "prefix": True,
        }
        for t in system.templated
        if t.prefix is not None
        for method in TEMPLATED_METHODS
    ]


def _route_expression(route: dict[str, Any]) -> str:
    """`Route("GET", "/v1/orders/{id}", "order", scopes=(...), ...)`, naming only what differs from the defaults."""
    args = [repr(route["method"]), repr(route["path"]), repr(route["upstream"])]
    if route["scopes"]:
        args.append(f"scopes={tuple(route['scopes'])!r}")
    if route["timeout"] is not None:
        args.append(f"timeout={route['timeout']!r}")
    if route["idempotent_read"]:
        args.append("idempotent_read=True")
    if route["sse"]:
        args.append("sse=True")
    if route.get("prefix"):
        args.append("prefix=True")
    if route.get("rate_limit"):
        requests, period, by = route["rate_limit"]
        args.append(f"rate_limit=RouteLimit({requests!r}, {period!r}, {by!r})")
    return f"Route({', '.join(args)})"


def upstreams_view(system: m.System, routes: list[dict[str, Any]]) -> list[dict[str, str]]:
    used = {route["upstream"] for route in routes}
    services: list[m.Service | m.TemplateService] = [*system.services, *system.templated]
    return [
        {
            "name": service.name,
            "setting": f"{snake(service.name)}_url",
            "env": f"{service.name.upper()}_URL",
            "default": f"http://{service.kebab}",
        }
        for service in services
        if service.name in used
    ]


def settings_view(system: m.System) -> list[dict[str, str]]:
    """The Settings fields the spec decides: (name, annotation, Python default, comment)."""
    gw = system.gateway

    def field(name: str, annotation: str, value: Any, comment: str) -> dict[str, str]:
        return {"name": name, "annotation": annotation, "value": repr(value), "comment": comment}

    return [
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
    ]


def tests_view(system: m.System, routes: list[dict[str, Any]]) -> dict[str, Any]:
    """Concrete requests for the generated suite: a secured read, a secured write, a stream, a public read."""

    def concrete(path: str) -> str:
        out = path
        while "{" in out:
            start, end = out.index("{"), out.index("}")
            out = out[:start] + _EXAMPLE_ID + out[end + 1 :]
        return out

    routes = [r for r in routes if not r.get("prefix")]  # a template service's answers are not msgen's to test
    secured = next((r for r in routes if r["method"] == "GET" and r["scopes"] and not r["sse"]), None)
    write = next((r for r in routes if r["method"] == "POST" and r["scopes"]), None)
    stream = next((r for r in routes if r["sse"]), None)
    public = next((r for r in routes if r["method"] == "GET" and not r["scopes"]), None)
    return {
        "secured_path": concrete(secured["path"]) if secured else None,
        "secured_scopes": list(secured["scopes"]) if secured else [],
        "secured_template": secured["path"] if secured else None,
        "secured_service": secured["upstream"] if secured else None,
        "write_path": concrete(write["path"]) if write else None,
        "write_scopes": list(write["scopes"]) if write else [],
        "stream_path": concrete(stream["path"]) if stream else None,
        "stream_scopes": list(stream["scopes"]) if stream else [],
        "public_path": concrete(public["path"]) if public else None,
        "origin": system.gateway.cors_origins[0] if system.gateway.cors_origins else None,
    }


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


def gateway_view(system: m.System, older: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    routes = gateway_routes(system, older)
    return {
        "package": GATEWAY_PACKAGE,
        "distribution": f"{system.name.replace('_', '-')}-gateway",
        "routes": [_route_expression(r) for r in routes],
        "route_limits": any(r.get("rate_limit") for r in routes),
        "route_rows": routes,
        "upstreams": upstreams_view(system, routes),
        "settings": settings_view(system),
        "tests": tests_view(system, routes),
        "dev_issuer": dev_issuer(system),
        "audience": audience(system),
        "module": GATEWAY_MODULE,
    }


def render_gateway(system: m.System, older: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, str]:
    """Every file of gateway/ (Python files are formatted with the rest by render_system)."""
    r = Renderer()
    view = gateway_view(system, older)
    ctx: dict[str, Any] = {"system": system, "view": view}
    root, pkg = GATEWAY_DIR, f"{GATEWAY_DIR}/{GATEWAY_PACKAGE}"
    image = {
        "app": "gateway",
        "dir": GATEWAY_DIR,
        "module": GATEWAY_MODULE,
        "tag": image_of(system, "gateway"),
        "files": (),
        "layers": runtime_dist.install_layers(runtime_dist.GATEWAY_EXTRAS),
    }
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
