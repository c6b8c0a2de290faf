"""Render a resolved system into memory: ``{relative path: file text}``.

Rendering is pure: the same system and msgen version give byte-identical
output. Python files are formatted with ruff in one batch at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from msgen import __version__, runtime_dist
from msgen import model as m
from msgen.caches import cache_folder
from msgen.modeline import SPEC_SCHEMA, project_spec_text
from msgen.render.avro import avro_schema
from msgen.render.deploy import render_deploy
from msgen.render.docs import project_view, service_doc_view
from msgen.render.events import (
    event_handlers_view,
    events_view,
    messaging_tests_view,
    messaging_view,
    orchestrated,
    uses_messaging,
)
from msgen.render.formatting import format_python
from msgen.render.migrations import initial_migration
from msgen.render.openapi import openapi_document, to_yaml
from msgen.render.pact import consumer_tests_view, provider_tests_view, render_pacts
from msgen.render.python import (
    clients_view,
    conftest_view,
    contract_test_view,
    handlers_view,
    main_view,
    models_view,
    routes_view,
    settings_view,
    tests_view,
)
from msgen.render.schemas import service_models
from msgen.render.templates import _render, environment, templates_dir
from msgen.schema import spec_json_schema_text

Files = dict[str, str]

__all__ = ["Files", "environment", "render_service", "render_system", "templates_dir"]


def render_system(system: m.System, spec_text: str, frozen: Mapping[str, str] | None = None) -> Files:
    """Every file of the generated project, formatted.

    `frozen`: the files of an earlier rendering (regen's baseline), where the contracts of older API
    versions still served are kept (render/versions.py).
    """
    from msgen.render.versions import frozen_contracts, frozen_public_contracts

    older = frozen_contracts(frozen or {}, system)
    from msgen.render.public import public_document, public_path

    files: Files = {}
    contracts: dict[str, dict[str, Any]] = {}
    for service in system.services:
        contracts[service.name] = openapi_document(system, service)
        files.update(render_service(system, service, older.get(service.name, {}), contracts[service.name]))
    files[public_path(system)] = to_yaml(public_document(system, contracts))
    files.update(frozen_public_contracts(frozen or {}, system))  # the older versions' clients keep theirs
    for event in system.events:
        files[f"contracts/avro/{event.schema_file}"] = json.dumps(avro_schema(event), indent=2) + "\n"
    project = project_view(system)
    files["README.md"] = _render("project/README.md.j2", view=project)
    files[".gitignore"] = _render("project/gitignore.j2")
    files["pyproject.toml"] = _render("project/pyproject.toml.j2", view=project)
    files["msgen.yaml"] = project_spec_text(spec_text)
    files[SPEC_SCHEMA] = _spec_schema_text()  # what msgen.yaml's $schema names: inside the project
    files.update(render_pacts(system))  # pacts/: what each consumer expects of its providers
    files.update(render_deploy(system))  # Dockerfiles, compose, CI, deploy/k8s, observability
    from msgen.render.gateway import render_gateway

    files.update(render_gateway(system, older))  # gateway/: routes, settings, tests, Dockerfile
    from msgen.render.sdk import render_sdks

    files.update(render_sdks(system))  # sdk/: the client SDKs' packages (their generated calls: msgen sdk)
    return format_python(files)


def _spec_schema_text() -> str:
    """The spec's JSON Schema, kept in msgen's cache folder: pydantic takes a tenth of a shop's rendering to build it.

    The entry is named by a digest of what the schema is made from: msgen's spec modules,
    msgen's, pydantic's and Python's versions.
    """
    folder = cache_folder("schema")
    if folder is None:
        return spec_json_schema_text()
    import pydantic

    from msgen import patterns, schema, spec

    key = hashlib.sha256(repr((__version__, pydantic.VERSION, sys.version)).encode())
    for module in (spec, schema, patterns):
        key.update(Path(str(module.__file__)).read_bytes())
    entry = folder / f"{key.hexdigest()}.json"
    try:
        kept = entry.read_text(encoding="utf-8")
        json.loads(kept)  # a damaged entry is made again
        return kept
    except (OSError, ValueError):
        pass
    text = spec_json_schema_text()
    with contextlib.suppress(OSError):
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=entry.name, suffix=".tmp")
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, entry)
        finally:
            Path(temporary).unlink(missing_ok=True)
    return text


def render_service(
    system: m.System,
    service: m.Service,
    older: Mapping[str, str] | None = None,
    contract: dict[str, Any] | None = None,
) -> Files:
    root = f"services/{service.name}"
    pkg = f"{root}/{service.package}"
    ctx: dict[str, Any] = {"system": system, "service": service}
    contract = openapi_document(system, service) if contract is None else contract
    doc = service_doc_view(system, service)
    files: Files = {
        f"{root}/pyproject.toml": _render(
            "service/pyproject.toml.j2",
            view=doc,
            runtime_requirement=runtime_dist.requirement(runtime_dist.service_extras(system, service)),
            runtime_test_requirement=runtime_dist.requirement(
                (*runtime_dist.service_extras(system, service), "redis", "testing")
            ),
        ),
        f"{root}/alembic.ini": _render("service/alembic.ini.j2", view=doc),
        f"{root}/README.md": _render("service/README.md.j2", view=doc),
        f"{pkg}/__init__.py": _render("service/package/__init__.py.j2", **ctx),
        f"{pkg}/settings.py": _render("service/package/settings.py.j2", view=settings_view(system, service), **ctx),
        f"{pkg}/main.py": _render(
            "service/package/main.py.j2", view=main_view(service, tuple(sorted(older or {}))), **ctx
        ),
        f"{pkg}/models.py": _render("service/package/models.py.j2", view=models_view(service, system.sagas), **ctx),
        # from the model, as the contract below is (render/schemas.py)
        f"{pkg}/schemas.py": service_models(system, service),
        f"{pkg}/api/__init__.py": _render("service/package/api/__init__.py.j2", **ctx),
        f"{pkg}/api/routes.py": _render("service/package/api/routes.py.j2", view=routes_view(service, system), **ctx),
        f"{pkg}/handlers/__init__.py": _render(
            "service/package/handlers/__init__.py.j2", modules=handler_modules(system, service), **ctx
        ),
        f"{pkg}/migrations/env.py": _render("service/package/migrations/env.py.j2", **ctx),
        f"{pkg}/migrations/script.py.mako": (templates_dir() / "service/package/migrations/script.py.mako").read_text(),
        f"{pkg}/migrations/versions/0001_initial.py": _render(
            "service/package/migrations/versions/migration.py.j2", view=initial_migration(service, system.sagas), **ctx
        ),
        f"{root}/tests/__init__.py": "",
        f"{root}/tests/conftest.py": _render(
            "service/tests/conftest.py.j2",
            view=conftest_view(service, system, messaging=uses_messaging(service)),
            **ctx,
        ),
        f"{root}/tests/test_api.py": _render("service/tests/test_api.py.j2", view=tests_view(service, system), **ctx),
        f"{root}/tests/test_contract.py": _render(
            "service/tests/test_contract.py.j2",
            view=contract_test_view(service, system, messaging=uses_messaging(service)),
            **ctx,
        ),
        f"contracts/openapi/{service.name}.{system.api_version}.yaml": to_yaml(contract),
    }
    if older:  # older API versions served beside this one, from their frozen contracts
        from msgen.render.versions import render_older_versions

        files.update(render_older_versions(system, service, contract, older))
    consumer_view = consumer_tests_view(system, service)
    if consumer_view is not None:
        files[f"{root}/tests/test_pact_consumer.py"] = _render(
            "service/tests/test_pact_consumer.py.j2", view=consumer_view, **ctx
        )
    provider_view = provider_tests_view(system, service)
    if provider_view is not None:
        files[f"{root}/tests/test_pact_provider.py"] = _render(
            "service/tests/test_pact_provider.py.j2", view=provider_view, **ctx
        )
    if service.calls:
        view = clients_view(system, service)
        files[f"{pkg}/clients/__init__.py"] = _render("service/package/clients/__init__.py.j2", view=view, **ctx)
        for client in view.clients:
            files[f"{pkg}/clients/{client.module}.py"] = _render(
                "service/package/clients/client.py.j2", client=client, **ctx
            )
    start_events = {
        saga.entity.name: saga.start_event for saga in orchestrated(system, service) if saga.entity and saga.start_event
    }
    for module in service.handler_modules():
        entity = next(op.entity for op in service.operations if op.handler_module == module)
        title = "Custom operations" if module == "operations" or entity is None else f"{entity.name} operations"
        files[f"{pkg}/handlers/{module}.py"] = _render(
            "service/package/handlers/module.py.j2",
            view=handlers_view(service, module, start_events),
            title=title,
            **ctx,
        )
    if uses_messaging(service):
        files[f"{pkg}/events.py"] = _render("service/package/events.py.j2", view=events_view(system, service), **ctx)
        files[f"{pkg}/messaging.py"] = _render(
            "service/package/messaging.py.j2", view=messaging_view(system, service), **ctx
        )
        files[f"{root}/tests/test_messaging.py"] = _render(
            "service/tests/test_messaging.py.j2", view=messaging_tests_view(system, service), **ctx
        )
        handlers = event_handlers_view(system, service)
        if handlers.handlers:
            files[f"{pkg}/handlers/events.py"] = _render("service/package/handlers/events.py.j2", view=handlers, **ctx)
    return files


def handler_modules(system: m.System, service: m.Service) -> tuple[str, ...]:
    modules = set(service.handler_modules())
    if uses_messaging(service) and event_handlers_view(system, service).handlers:
        modules.add("events")
    return tuple(sorted(modules))
