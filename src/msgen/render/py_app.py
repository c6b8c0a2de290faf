"""The views of a service's main.py and settings.py."""

from __future__ import annotations

from dataclasses import dataclass

from msgen import model as m
from msgen.render.py_base import ImportLines, Imports
from msgen.render.py_clients import Downstream, downstreams


@dataclass(frozen=True)
class MainView:
    """main.py: its imports, the routers it serves, and which runtime parts the app is built with."""

    imports: ImportLines
    idempotency: bool
    has_clients: bool
    messaging: bool
    routers: tuple[str, ...]


@dataclass(frozen=True)
class SettingsView:
    """settings.py: the URL of each service it calls, and who may call it."""

    downstreams: tuple[Downstream, ...]
    callers: tuple[str, ...]


def main_view(service: m.Service, older_versions: tuple[str, ...] = ()) -> MainView:
    """`older_versions`: API versions served beside the current one, each by its own router."""
    imports = Imports()
    routers = ["router"]
    for version in older_versions:
        imports.add(f"{service.package}.api.routes_{version}", f"router as router_{version}")
        routers.append(f"router_{version}")
    messaging = bool(service.publishes or service.consumes)
    if messaging:
        imports.add(f"{service.package}.messaging", "MESSAGING")
    imports.add(f"{service.package}.api.routes", "router")
    imports.add(f"{service.package}.settings", "Settings")
    idempotency = any(op.idempotent for op in service.operations)
    if idempotency:
        imports.add(f"{service.package}.models", "IdempotencyKey")
    if service.calls:
        imports.add(f"{service.package}.clients", "configure_clients")
    return MainView(
        imports=imports.lines(),
        idempotency=idempotency,
        has_clients=bool(service.calls),
        messaging=messaging,
        routers=tuple(routers),
    )


def settings_view(system: m.System, service: m.Service) -> SettingsView:
    """The URL of each service it calls; who may call it: the gateway and the services calling it."""
    calling = sorted({other.name for other in system.services for call in other.calls if call.service == service.name})
    return SettingsView(downstreams=downstreams(service), callers=("gateway", *calling))
