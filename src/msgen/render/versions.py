"""Older API versions served beside the current one, from their frozen contracts.

When ``system.api_version`` goes up (v1 -> v2), ``contracts/openapi/<service>.v1.yaml``
is no longer rendered from the spec: it is the promise made to v1's clients, and
regen keeps it as it is (``frozen_contracts``). From it msgen generates, per service:

- ``schemas_v1.py``: v1's models, by datamodel-code-generator, as ``schemas.py``;
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
from typing import Any

import yaml

from msgen import model as m
from msgen.names import snake
from msgen.render.common import PUBLIC_CONTRACT
from msgen.render.escape import py_docstring
from msgen.render.schemas import allows_null, cached_models

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
            f"Generated from its frozen contract, contracts/openapi/{service.name}.{version}.yaml, "
            f'by datamodel-code-generator.\n"""'
        )
        files[f"{pkg_dir}/schemas_{version}.py"] = cached_models(doc, header)
        routes, adapters = _routes_and_adapters(system, service, version, doc, contract, current_ops)
        files[f"{pkg_dir}/api/routes_{version}.py"] = routes
        files[f"{pkg_dir}/adapters/{version}.py"] = adapters
    return files


def _routes_and_adapters(
    system: m.System,
    service: m.Service,
    version: str,
    doc: Any,
    contract: dict[str, Any],
    current_ops: Mapping[tuple[str, str], Any],
) -> tuple[str, str]:
    pkg = service.package
    now = system.api_version
    mod = f"schemas_{version}"
    route_lines: list[str] = []
    adapter_lines: list[str] = []
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
        params = ["request: Request"]
        for param in op.get("parameters", []):
            if param.get("in") == "path":
                is_uuid = (param.get("schema") or {}).get("format") == "uuid"
                uses_uuid |= is_uuid
                params.append(f"{param['name']}: {'UUID' if is_uuid else 'str'}")
        if request:
            params.append(f"payload: {mod}.{request}")
        target = f'f"{current_path}"' if "{" in current_path else repr(current_path)
        args = [target]
        if request:
            args += ["body=payload", f"adapt_request=adapt.{function}_request"]
            adapter_lines += _request_adapter(function, doc, request, contract, current)
        if response:
            args += [f"answer_model={mod}.{response}", f"adapt_answer=adapt.{function}_answer"]
            adapter_lines += _answer_adapter(function, doc, response, contract, current, success)
        decorator = [repr(path), f"status_code={success}", f"operation_id={op['operationId'] + version.upper()!r}"]
        if response:
            decorator.append(f"response_model={mod}.{response}")
        summary = str(op.get("summary", op["operationId"])).rstrip(".")
        note = "" if current else f" (the {now} API has no {method.upper()} {current_path}: answered as it answers)"
        route_lines += [
            "",
            "",
            f"@router.{method}({', '.join(decorator)})",
            f"async def {function}({', '.join(params)}) -> Response:",
            "    " + py_docstring(f"{summary} ({version}){note}."),
            f"    return await forward(request, {', '.join(args)})",
        ]
    routes = "\n".join(
        [
            f'"""The {version} API of the {service.name} service, served beside {now} (generated).',
            "",
            f"Each route takes {version}'s request (schemas_{version}.py, from its frozen contract), adapts it",
            f"({pkg}/adapters/{version}.py), lets the {now} route answer in process, and adapts the answer back.",
            '"""',
            "",
            *(["from uuid import UUID", ""] if uses_uuid else []),
            "from fastapi import APIRouter, Request, Response",
            "from msgen_runtime.versions import forward",
            "",
            f"from {pkg} import {mod}",
            f"from {pkg}.adapters import {version} as adapt",
            "",
            f'router = APIRouter(tags=["{version}"], deprecated=True)',
            *route_lines,
        ]
    )
    adapters = "\n".join(
        [
            f'"""Between the {version} API of the {service.name} service and the {now} API: yours to edit.',
            "",
            f"msgen generated this module once from contracts/openapi/{service.name}.{version}.yaml and",
            f"{service.name}.{now}.yaml; regen merges its changes into yours, as into a handler. Each",
            f"`<operation>_request` turns a {version} body into the {now} body, each `<operation>_answer` turns",
            f"the {now} answer into what {version} promised (fields {version} does not know are dropped for you).",
            '"""',
            "",
            "from typing import Any",
            *adapter_lines,
        ]
    )
    return routes + "\n", adapters + "\n"


def _request_adapter(function: str, doc: Any, name: str, contract: dict[str, Any], current: Any) -> list[str]:
    lines = ["", "", f"def {function}_request(body: dict[str, Any]) -> dict[str, Any]:"]
    lines.append(f'    """The {name} body a client sent, as the current version takes it."""')
    old_props, _ = _fields(doc, name)
    now_name = _ref_name((current or {}).get("requestBody"))
    now_props, now_required = _fields(contract, now_name)
    if now_name:
        schema = _resolve(contract, {"$ref": f"#/components/schemas/{now_name}"})
        example = schema.get("example") or {}
        for field in sorted(now_required - set(old_props)):
            value = example.get(field, _placeholder(contract, now_props[field]))
            lines.append(
                f"    # TODO: the current version requires {field!r}, which this version's clients do not send"
            )
            lines.append(f"    body.setdefault({field!r}, {value!r})")
        for field in sorted(set(old_props) - set(now_props)):
            lines.append(f"    # TODO: the current version dropped {field!r}: keep what it meant, if anything")
            lines.append(f"    body.pop({field!r}, None)")
    lines.append("    return body")
    return lines


def _answer_adapter(
    function: str, doc: Any, name: str, contract: dict[str, Any], current: Any, status: str
) -> list[str]:
    lines = ["", "", f"def {function}_answer(answer: dict[str, Any]) -> dict[str, Any]:"]
    lines.append(f'    """The current answer, as {name} of this version promised it."""')
    responses = (current or {}).get("responses") or {}
    now_name = _ref_name(responses.get(status) or responses.get(int(status)) if status.isdigit() else None)
    old_props, old_required = _fields(doc, name)
    now_props, _ = _fields(contract, now_name)
    target = "answer"
    items = old_props.get("items") if "items" in old_props and "total" in old_props else None
    if items is not None and now_name:  # a page: adapt each item
        item_name = (items.get("items") or {}).get("$ref", "").rsplit("/", 1)[-1]
        old_props, old_required = _fields(doc, item_name)
        now_item = (now_props.get("items") or {}).get("items", {}).get("$ref", "").rsplit("/", 1)[-1]
        now_props, _ = _fields(contract, now_item)
        lines.append('    for item in answer.get("items", []):')
        target = "item"
    missing = sorted(old_required - set(now_props)) if now_name else []
    indent = "        " if target == "item" else "    "
    for field in missing:
        value = _placeholder(doc, old_props[field])
        lines.append(f"{indent}# TODO: this version promised {field!r}, which the current version dropped: fill it in")
        lines.append(f"{indent}{target}.setdefault({field!r}, {value!r})")
    if target == "item" and not missing:
        lines.append(f"{indent}pass")
    lines.append("    return answer")
    return lines


def older_routes(older: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    """The gateway's routes of the older versions still served: each operation of each frozen contract."""
    routes: list[dict[str, Any]] = []
    for service, versions in sorted(older.items()):
        for _, text in sorted(versions.items()):
            for method, path, op in _ops(_load(text)):
                content = next(
                    (a.get("content") or {} for c, a in op.get("responses", {}).items() if str(c).startswith("2")), {}
                )
                routes.append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "upstream": service,
                        "scopes": tuple(op.get("x-scopes") or ()),
                        "timeout": None,
                        "idempotent_read": method == "get",
                        "sse": "text/event-stream" in content,
                    }
                )
    return routes
