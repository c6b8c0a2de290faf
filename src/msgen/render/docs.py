"""The views of the project's and each service's README, pyproject.toml and alembic.ini: what those
templates print, taken out of the model, so that no template walks the `System` or a `Service` itself."""

from __future__ import annotations

from dataclasses import dataclass

from msgen import model as m
from msgen.text import SpecText


@dataclass(frozen=True)
class ServiceRow:
    """A service in the project's README and tool settings."""

    name: str
    package: str
    description: SpecText


@dataclass(frozen=True)
class EventRow:
    """An event in the project's README: who publishes it, who consumes it."""

    name: str
    version: int
    publisher: str
    consumers: tuple[str, ...]


@dataclass(frozen=True)
class ProjectView:
    """The project's README.md and pyproject.toml (the tools' settings every service shares)."""

    name: str
    description: SpecText
    api_version: str
    services: tuple[ServiceRow, ...]
    events: tuple[EventRow, ...]


def project_view(system: m.System) -> ProjectView:
    return ProjectView(
        name=system.name,
        description=SpecText(system.description),
        api_version=system.api_version,
        services=tuple(ServiceRow(s.name, s.package, SpecText(s.description)) for s in system.services),
        events=tuple(EventRow(e.name, e.version, e.publisher, e.consumers) for e in system.events),
    )


@dataclass(frozen=True)
class OperationRow:
    """An operation in a service's README: where its handler is."""

    op_id: str
    method: str
    path: str
    handler_module: str
    function: str


@dataclass(frozen=True)
class ServiceDocView:
    """A service's README.md, pyproject.toml and alembic.ini."""

    system: str
    api_version: str
    name: str
    kebab: str
    package: str
    description: SpecText
    publishes: tuple[str, ...]
    consumes: tuple[str, ...]
    operations: tuple[OperationRow, ...]


def service_doc_view(system: m.System, service: m.Service) -> ServiceDocView:
    return ServiceDocView(
        system=system.name,
        api_version=system.api_version,
        name=service.name,
        kebab=service.kebab,
        package=service.package,
        description=SpecText(service.description),
        publishes=service.publish_names,
        consumes=service.consume_names,
        operations=tuple(
            OperationRow(op.op_id, op.method, op.path, op.handler_module, op.function) for op in service.operations
        ),
    )
