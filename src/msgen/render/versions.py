"""Older API versions served beside the current one, from their frozen contracts.

When ``system.api_version`` goes up (v1 -> v2), ``contracts/openapi/<service>.v1.yaml``
is no longer rendered from the spec: it is the promise made to v1's clients, and
regen keeps it as it is (``frozen_contracts``). From it msgen generates, per service:

- ``schemas_v1.py``: v1's models, read from its frozen contract by msgen's model generator (render/schemas.py);
- ``api/routes_v1.py``: v1's routes, each answered by the current route in process
  (``msgen_runtime.versions.forward``), with a ``Deprecation`` header;
- ``adapters/v1.py``: yours (regen merges into it, as into a handler): request v1 ->
  current body, current answer -> v1 answer. Where that cannot be automatic (a field
  v1 needs and the current version dropped, one the current version requires and v1
  lacks) it holds a clear default and a TODO.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

from msgen import model as m
from msgen.names import snake
from msgen.render.common import PREFER_WAIT_MAX, PUBLIC_CONTRACT, GatewayRoute
from msgen.render.escape import py_docstring, py_string
from msgen.render.schemas import allows_null, contract_models
from msgen.render.templates import _render

OPENAPI_FILE = re.compile(r"^contracts/openapi/(?P<service>[^/]+)\.(?P<version>v\d+)\.yaml$")
_METHODS = ("get", "put", "post", "delete", "patch")


def frozen_contracts(files: Mapping[str, str], system: m.System) -> dict[str, dict[str, str]]:
    """service -> {older version: contract text} among `files` (a baseline) that the spec still serves."""
    current = int(system.api_version[1:])
    wanted = system.served_versions
    out: dict[str, dict[str, str]] = {}
    for path, text in files.items():
        match = OPENAPI_FILE.match(path)
        if match is None or match["service"] == PUBLIC_CONTRACT or int(match["version"][1:]) >= current:
            continue
        if wanted is not None and match["version"] not in wanted:
            continue
        out.setdefault(match["service"], {})[match["version"]] = text
    return out


def frozen_public_contracts(files: Mapping[str, str], system: m.System) -> dict[str, str]:
    """The gateway's public contracts of the older versions still served, byte for byte (their SDKs' source)."""
    current = int(system.api_version[1:])
    wanted = system.served_versions
    out = {}
    for path, text in files.items():
        match = OPENAPI_FILE.match(path)
        if match is None or match["service"] != PUBLIC_CONTRACT or int(match["version"][1:]) >= current:
            continue
        if wanted is None or match["version"] in wanted:
            out[path] = text
    return out


def _load(text: str) -> Any:
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _resolve(doc: Any, schema: Any) -> dict[str, Any]:
    for _ in range(10):
        if isinstance(schema, dict) and "$ref" in schema:
            schema = doc["components"]["schemas"].get(schema["$ref"].rsplit("/", 1)[-1], {})
        else:
            break
    return schema if isinstance(schema, dict) else {}


def _ref_name(part: Any) -> str | None:
    schema = ((part or {}).get("content") or {}).get("application/json", {}).get("schema") or {}
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _placeholder(doc: Any, schema: Any) -> Any:
    """A value that passes `schema` and says 'unknown': what a v1 client gets for a field v2 dropped."""
    if allows_null(schema):
        return None
    schema = _resolve(doc, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    fmt = schema.get("format")
    if fmt == "uuid":
        return "00000000-0000-0000-0000-000000000000"
    if fmt == "date-time":
        return "1970-01-01T00:00:00Z"
    if fmt == "date":
        return "1970-01-01"
    if fmt == "decimal":
        return "0"
    return {"string": "", "integer": schema.get("minimum", 0), "boolean": False, "array": []}.get(str(kind))


def _fields(doc: Any, name: str | None) -> tuple[dict[str, Any], set[str]]:
    schema = _resolve(doc, {"$ref": f"#/components/schemas/{name}"}) if name else {}
    return schema.get("properties") or {}, set(schema.get("required") or [])


def _ops(doc: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in (doc.get("paths") or {}).items()
        for method, op in item.items()
        if method in _METHODS
    ]


def render_older_versions(
    system: m.System, service: m.Service, contract: dict[str, Any], frozen: Mapping[str, str]
) -> dict[str, str]:
    """The files of each older version `frozen` holds for `service`."""
    pkg_dir = f"services/{service.name}/{service.package}"
    files: dict[str, str] = {}
    current_ops = {(method, path): op for method, path, op in _ops(contract)}
    if frozen:
        files[f"{pkg_dir}/adapters/__init__.py"] = '"""Adapters between older API versions and the current one."""\n'
    for version, text in sorted(frozen.items()):
        doc = _load(text)
        files[f"contracts/openapi/{service.name}.{version}.yaml"] = text  # kept byte for byte
        header = (
            f'"""The {version} models of the {service.name} service.\n\n'
            f"Generated by msgen from its frozen contract, contracts/openapi/{service.name}.{version}.yaml."
            '\n"""'
        )
        source = f"contracts/openapi/{service.name}.{version}.yaml"
        files[f"{pkg_dir}/schemas_{version}.py"] = contract_models(doc, header, source)
        view = older_version_view(system, service, version, doc, contract, current_ops)
        files[f"{pkg_dir}/api/routes_{version}.py"] = _render(
            "service/package/api/routes_version.py.j2", service=service, view=view.routes
        )
        files[f"{pkg_dir}/adapters/{version}.py"] = _render(
            "service/package/adapters/version.py.j2", service=service, view=view.adapters
        )
    return files


@dataclass(frozen=True)
class OlderRoute:
    """One route of an older version: answered by the current route in process (`forward`).

    `path`, `operation_id` and `target` are Python literals (`target` an f-string's body when `fstring`),
    `request` and `response` the older version's model names, `params` the path parameters' names and
    annotations, `doc` the docstring with its quotes."""

    method: str
    path: str
    status: str
    operation_id: str
    function: str
    params: tuple[tuple[str, str], ...]
    request: str | None
    response: str | None
    doc: str
    target: str
    fstring: bool


@dataclass(frozen=True)
class OlderRoutesView:
    """api/routes_<version>.py: the older version's routes, its models' module and its adapters'."""

    version: str
    now: str
    package: str
    module: str
    uses_uuid: bool
    routes: tuple[OlderRoute, ...]


@dataclass(frozen=True)
class RequestAdapter:
    """`<function>_request`: a body of the older version as the current one takes it. `required` holds the
    fields the current version requires and the older lacks, with a value (both Python literals), `dropped`
    the fields the current version dropped (literals)."""

    kind: ClassVar[str] = "request"
    function: str
    name: str
    required: tuple[tuple[str, str], ...]
    dropped: tuple[str, ...]


@dataclass(frozen=True)
class AnswerAdapter:
    """`<function>_answer`: the current answer as the older version promised it. `missing` holds the fields
    it promised and the current version dropped, with a placeholder (both Python literals); `page`: the
    answer is a page whose items are adapted."""

    kind: ClassVar[str] = "answer"
    function: str
    name: str
    page: bool
    missing: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class AdaptersView:
    """adapters/<version>.py: the request and answer adapters of each route, in the routes' order."""

    version: str
    now: str
    adapters: tuple[RequestAdapter | AnswerAdapter, ...]


@dataclass(frozen=True)
class OlderVersionView:
    """The two files an older version gets from its frozen contract beside its models."""

    routes: OlderRoutesView
    adapters: AdaptersView


def older_version_view(
    system: m.System,
    service: m.Service,
    version: str,
    doc: Any,
    contract: dict[str, Any],
    current_ops: Mapping[tuple[str, str], Any],
) -> OlderVersionView:
    now = system.api_version
    routes: list[OlderRoute] = []
    adapters: list[RequestAdapter | AnswerAdapter] = []
    uses_uuid = False
    for method, path, op in _ops(doc):
        success = next((str(c) for c in op.get("responses", {}) if str(c).startswith("2")), "200")
        answer = op["responses"].get(success) or op["responses"].get(int(success)) or {}
        content = (answer.get("content") or {}) if isinstance(answer, dict) else {}
        if content and "application/json" not in content:
            continue  # a stream (Server-Sent Events) is not adapted: its clients follow the current version
        current_path = f"/{now}" + path.removeprefix(f"/{version}")
        current = current_ops.get((method, current_path))
        function = snake(op["operationId"])
        request = _ref_name(op.get("requestBody"))
        response = _ref_name(answer)
        params = []
        for param in op.get("parameters", []):
            if param.get("in") == "path":
                is_uuid = (param.get("schema") or {}).get("format") == "uuid"
                uses_uuid |= is_uuid
                params.append((str(param["name"]), "UUID" if is_uuid else "str"))
        if request:
            adapters.append(_request_adapter(function, doc, request, contract, current))
        if response:
            adapters.append(_answer_adapter(function, doc, response, contract, current, success))
        summary = str(op.get("summary", op["operationId"])).rstrip(".")
        note = "" if current else f" (the {now} API has no {method.upper()} {current_path}: answered as it answers)"
        routes.append(
            OlderRoute(
                method=method,
                path=py_string(path),
                status=success,
                operation_id=py_string(op["operationId"] + version.upper()),
                function=function,
                params=tuple(params),
                request=request,
                response=response,
                doc=py_docstring(f"{summary} ({version}){note}."),
                target=py_string(current_path),
                fstring="{" in current_path,
            )
        )
    return OlderVersionView(
        OlderRoutesView(version, now, service.package, f"schemas_{version}", uses_uuid, tuple(routes)),
        AdaptersView(version, now, tuple(adapters)),
    )


def _request_adapter(function: str, doc: Any, name: str, contract: dict[str, Any], current: Any) -> RequestAdapter:
    old_props, _ = _fields(doc, name)
    now_name = _ref_name((current or {}).get("requestBody"))
    now_props, now_required = _fields(contract, now_name)
    required: list[tuple[str, str]] = []
    dropped: list[str] = []
    if now_name:
        schema = _resolve(contract, {"$ref": f"#/components/schemas/{now_name}"})
        example = schema.get("example") or {}
        for field in sorted(now_required - set(old_props)):
            value = example.get(field, _placeholder(contract, now_props[field]))
            required.append((repr(field), repr(value)))
        dropped = [repr(field) for field in sorted(set(old_props) - set(now_props))]
    return RequestAdapter(function, name, tuple(required), tuple(dropped))


def _answer_adapter(
    function: str, doc: Any, name: str, contract: dict[str, Any], current: Any, status: str
) -> AnswerAdapter:
    responses = (current or {}).get("responses") or {}
    now_name = _ref_name(responses.get(status) or responses.get(int(status)) if status.isdigit() else None)
    old_props, old_required = _fields(doc, name)
    now_props, _ = _fields(contract, now_name)
    items = old_props.get("items") if "items" in old_props and "total" in old_props else None
    page = items is not None and bool(now_name)
    if items is not None and now_name:  # a page: adapt each item
        item_name = (items.get("items") or {}).get("$ref", "").rsplit("/", 1)[-1]
        old_props, old_required = _fields(doc, item_name)
        now_item = (now_props.get("items") or {}).get("items", {}).get("$ref", "").rsplit("/", 1)[-1]
        now_props, _ = _fields(contract, now_item)
    missing = sorted(old_required - set(now_props)) if now_name else []
    placeholders = tuple((repr(field), repr(_placeholder(doc, old_props[field]))) for field in missing)
    return AnswerAdapter(function, name, page, placeholders)


def older_routes(older: Mapping[str, Mapping[str, str]]) -> list[GatewayRoute]:
    """The gateway's routes of the older versions still served: each operation of each frozen contract."""
    routes: list[GatewayRoute] = []
    for service, versions in sorted(older.items()):
        for _, text in sorted(versions.items()):
            for method, path, op in _ops(_load(text)):
                content = next(
                    (a.get("content") or {} for c, a in op.get("responses", {}).items() if str(c).startswith("2")), {}
                )
                routes.append(
                    GatewayRoute(
                        method=method.upper(),
                        path=path,
                        upstream=service,
                        scopes=tuple(op.get("x-scopes") or ()),
                        timeout=None,
                        idempotent_read=method == "get",
                        sse="text/event-stream" in content,
                        max_wait=PREFER_WAIT_MAX
                        if any(p.get("name") == "Prefer" for p in op.get("parameters") or ())
                        else 0.0,
                    )
                )
    return routes
