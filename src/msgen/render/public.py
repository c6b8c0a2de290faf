"""The gateway's public contract: every route it serves, from the services' documents, with its security.

`contracts/openapi/public.<api_version>.yaml` is what a client of the system sees: the
operations of every service the gateway forwards (and the saga status streams), their
schemas merged into one set of components, the bearer-token scheme and each
operation's scopes, and the answers the gateway itself gives (401, 403, 429, 503).
The SDKs of `sdk/` are generated from it (msgen/sdk.py).
"""

from __future__ import annotations

import copy
from typing import Any

from msgen import model as m
from msgen.render.common import PUBLIC_CONTRACT as PUBLIC_CONTRACT  # its old home: still importable from here

SECURITY_SCHEME = "bearerAuth"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def public_path(system: m.System) -> str:
    return f"contracts/openapi/{PUBLIC_CONTRACT}.{system.api_version}.yaml"


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if headers:
        out["headers"] = copy.deepcopy(headers)
    out["content"] = {"application/problem+json": {"schema": dict(_PROBLEM)}}
    return out


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}
_CORRELATION = {
    "X-Correlation-ID": {
        "description": "The request's correlation id: the client's own, or one the gateway made.",
        "schema": {"type": "string"},
    }
}


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                name = value.rsplit("/", 1)[-1]
                out[key] = f"#/components/schemas/{renames.get(name, name)}"
            else:
                out[key] = _rename_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def public_document(system: m.System, contracts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The public document, from `contracts` (service name -> its current OpenAPI document)."""
    from msgen.render.gateway import gateway_routes

    served = {
        (route.upstream, route.method.lower(), route.path): route
        for route in gateway_routes(system)
        if not route.prefix
    }
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    operation_ids: set[str] = set()
    all_scopes: dict[str, None] = {}
    for service in system.services:
        doc = contracts[service.name]
        own = doc.get("components", {}).get("schemas", {})
        # A schema of the same name and shape is shared; another shape gets the service's prefix.
        renames = {
            name: f"{service.title}{name}"
            for name, schema in own.items()
            if name in schemas and schemas[name] != schema
        }
        for name, schema in own.items():
            schemas.setdefault(renames.get(name, name), _rename_refs(schema, renames))
        for path, item in doc.get("paths", {}).items():
            for method in _METHODS:
                route = served.get((service.name, method, path))
                if route is None or method not in item:
                    continue
                operation = _rename_refs(item[method], renames)  # a new tree of dicts and lists: the contract's stays
                operation.pop("x-scopes", None)
                op_id = str(operation["operationId"])
                if op_id in operation_ids:
                    operation["operationId"] = (
                        f"{service.title[:1].lower()}{service.title[1:]}{op_id[:1].upper()}{op_id[1:]}"
                    )
                operation_ids.add(operation["operationId"])
                operation["x-msgen-service"] = service.name
                responses = operation["responses"]
                scopes = list(route.scopes)
                if scopes:
                    operation["security"] = [{SECURITY_SCHEME: scopes}]
                    responses["401"] = _problem("No token, or a token that is not valid.")
                    responses["403"] = _problem("The token lacks a scope of the operation.")
                    all_scopes.update(dict.fromkeys(scopes))
                else:
                    operation["security"] = []
                responses["429"] = _problem("Too many requests: wait Retry-After seconds.", _RETRY_AFTER)
                responses["503"] = _problem("Unavailable for now: wait Retry-After seconds.", _RETRY_AFTER)
                for status, response in responses.items():
                    if str(status).startswith("2"):
                        response["headers"] = {**response.get("headers", {}), **copy.deepcopy(_CORRELATION)}
                paths.setdefault(path, {})[method] = operation
    described = ", ".join(f"`{scope}`" for scope in all_scopes) or "none"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{system.name} public API",
            "version": system.api_version,
            "description": system.description,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": (
                        "An access token of the system's OpenID Connect issuer, for its audience; an operation's "
                        f"security lists the scopes its token needs (in all: {described})."
                    ),
                }
            },
        },
    }


__all__ = ["PUBLIC_CONTRACT", "public_document", "public_path"]
