"""Run a generated service on this machine: migrations, then uvicorn."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from msgen.errors import MsgenError
from msgen.writer import not_a_project


@dataclass(frozen=True)
class LocalService:
    name: str
    package: str
    root: Path  # services/<name>

    def default_database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.root / (self.name + '.db')}"


def find_service(project: Path, name: str) -> LocalService:
    """The generated service `name` of the project at `project`, or one clear error."""
    why = not_a_project(project)
    if why:
        raise MsgenError(why)
    services = sorted(p.name for p in (project / "services").iterdir() if p.is_dir())
    if name not in services:
        raise MsgenError(f"no service '{name}' in {project}: choose one of {', '.join(services)}")
    root = (project / "services" / name).resolve()
    return LocalService(name=name, package=f"{name}_service", root=root)


def serve(service: LocalService, *, host: str, port: int, database_url: str | None) -> None:
    """Apply the service's migrations, then serve it until interrupted."""
    import uvicorn

    from msgen_runtime.migrations import upgrade

    url = database_url or os.environ.get("DATABASE_URL") or service.default_database_url()
    os.environ["DATABASE_URL"] = url
    # A developer's machine, as under msgen up: direct calls and /docs allowed (unless
    # INTERNAL_AUTH_SECRET is set), /admin behind the project's local admin token.
    os.environ.setdefault("MSGEN_DEV_MODE", "1")
    if not os.environ.get("ADMIN_TOKEN"):
        from msgen.localrun import local_admin_token

        os.environ["ADMIN_TOKEN"] = local_admin_token(service.root.parents[1])
    sys.path.insert(0, str(service.root))
    upgrade(service.package, url)
    uvicorn.run(f"{service.package}.main:create_app", factory=True, host=host, port=port, log_level="info")
