"""The client SDKs' own files (`sdk/`): packages around the calls generated from the public contract.

msgen renders the package files and its thin layer (tokens, correlation ids, retries, idempotency
keys, problem errors, following 202s) with the spec's tables; the generated calls come from
well-kept generators run by `msgen sdk` (msgen/sdk.py), outside this pure rendering.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen.render.common import PUBLIC_CONTRACT
from msgen.render.common import path_pattern as path_pattern  # still importable from here
from msgen.render.common import sdk_package as sdk_package  # still importable from here

PYTHON_SDK_DIR = "sdk/python"
TYPESCRIPT_SDK_DIR = "sdk/typescript"
TYPESCRIPT_SCHEMA = f"{TYPESCRIPT_SDK_DIR}/src/schema.ts"  # openapi-typescript's output (msgen sdk)
# The npm packages of the TypeScript SDK, pinned (the generator's with them: msgen/sdk.py).
NPM_VERSIONS = {
    "openapi_fetch": "0.17.0",
    "eventsource_parser": "3.1.1",  # 4.x needs Node 22
    "openapi_typescript": "7.13.0",
    "typescript": "5.9.3",
    "pact": "16.5.0",  # Pact JS: the SDK's consumer contract with the gateway (test/pact.test.mjs)
}
GENERATED = "generated"  # the generator's own folder inside the package


@dataclass(frozen=True)
class SdkView:
    """The SDK packages' names and tables; each language's template escapes the paths and statuses its way."""

    package: str
    distribution: str
    npm_name: str
    npm: Mapping[str, str]  # the TypeScript SDK's pinned npm packages
    contract: str
    idempotent: tuple[tuple[str, str], ...]  # (method, path pattern) of the operations taking an Idempotency-Key
    final: tuple[tuple[str, tuple[str, ...]], ...]  # (status_url prefix, the statuses ending the operation)
    status_fields: tuple[tuple[str, str], ...] = ()  # (status_url prefix, the entity's field holding the status)


def sdk_view(system: m.System) -> SdkView:
    idempotent = tuple(
        (op.method, path_pattern(op.path))
        for service in system.services
        for op in service.operations
        if op.idempotent and op.method not in ("GET", "HEAD")
    )
    final: list[tuple[str, tuple[str, ...]]] = []
    fields: list[tuple[str, str]] = []
    for saga in system.sagas:
        if not saga.entity:
            continue
        entity = saga.entity
        statuses = tuple(s for s in (saga.status_completed, saga.status_failed) if s)
        if statuses:
            final.append((f"/{system.api_version}{entity.resource}/", statuses))
            fields.append((f"/{system.api_version}{entity.resource}/", saga.status_field))
    return SdkView(
        package=sdk_package(system),
        distribution=f"{system.name.replace('_', '-')}-sdk",
        npm_name=f"{system.name.replace('_', '-')}-sdk",
        npm=NPM_VERSIONS,
        contract=f"{PUBLIC_CONTRACT}.{system.api_version}.yaml",
        idempotent=idempotent,
        final=tuple(final),
        status_fields=tuple(fields),
    )


def render_sdks(system: m.System) -> dict[str, str]:
    from msgen.render.sdk_pact import sdk_pact_view
    from msgen.render.templates import _render

    view = sdk_view(system)
    pact = sdk_pact_view(system)  # the SDKs' consumer contract with the gateway, None without a flow to record
    ctx: dict[str, Any] = {"system": system, "view": view, "pact": pact}
    root, pkg = PYTHON_SDK_DIR, f"{PYTHON_SDK_DIR}/{view.package}"
    files = {
        f"{root}/pyproject.toml": _render("sdk/python/pyproject.toml.j2", **ctx),
        f"{root}/README.md": _render("sdk/python/README.md.j2", **ctx),
        f"{pkg}/__init__.py": _render("sdk/python/package/__init__.py.j2", **ctx),
        f"{pkg}/py.typed": "",
        f"{pkg}/client.py": _render("sdk/python/package/client.py.j2", **ctx),
        f"{pkg}/resilience.py": _render("sdk/python/package/resilience.py.j2", **ctx),
        f"{TYPESCRIPT_SDK_DIR}/package.json": _render("sdk/typescript/package.json.j2", **ctx),
        f"{TYPESCRIPT_SDK_DIR}/tsconfig.json": _render("sdk/typescript/tsconfig.json.j2", **ctx),
        f"{TYPESCRIPT_SDK_DIR}/README.md": _render("sdk/typescript/README.md.j2", **ctx),
        f"{TYPESCRIPT_SDK_DIR}/src/index.ts": _render("sdk/typescript/src/index.ts.j2", **ctx),
    }
    if pact is not None:
        files[f"{root}/tests/__init__.py"] = ""
        files[f"{root}/tests/test_pact_consumer.py"] = _render("sdk/python/tests/test_pact_consumer.py.j2", **ctx)
        files[f"{TYPESCRIPT_SDK_DIR}/test/pact.test.mjs"] = _render("sdk/typescript/test/pact.test.mjs.j2", **ctx)
        files["gateway/pact_provider.py"] = _render("gateway/pact_provider.py.j2", **ctx)
    return files
