"""Services made from a Copier or Cookiecutter template: only what msgen deploys and routes."""

from __future__ import annotations

import re
from typing import Any

from msgen import model as m
from msgen.loader import Path_
from msgen.names import kebab, pascal
from msgen.resolving.report import Reporter
from msgen.spec import ServiceSpec, duration_seconds


class TemplatedServices(Reporter):
    """A service made from a template, and what it may not take part in."""

    def templated(self, name: str, svc: ServiceSpec) -> m.TemplateService:
        """A service whose code comes from a Copier or Cookiecutter template: only what msgen deploys and routes."""
        template = svc.template
        assert template is not None
        base: Path_ = ("services", name)
        if svc.slo is not None:
            self.error(
                (*base, "slo"),
                f"service '{name}' is made from a template: msgen knows only whether it is up, not its requests",
                key=True,
            )
        for key in ("entities", "value_objects", "api", "calls", "emails"):
            if key in svc.model_fields_set and getattr(svc, key):
                self.error(
                    (*base, key),
                    f"service '{name}' is made from a template: its code is the template's, so it declares no {key}",
                    key=True,
                )
        where: Path_ = (*base, "template")
        for key in ("health", "ready", "metrics"):
            value = getattr(template, key)
            if value is not None and _bad_http_path(value):
                self.error((*where, key), f"path '{value}' has an empty, '.' or '..' segment")
        prefix: str | None = None
        read: tuple[str, ...] = ()
        write: tuple[str, ...] = ()
        if template.api is not None:
            prefix = (template.api.prefix or f"/{self.spec.system.api_version}/{kebab(name)}").rstrip("/")
            if not prefix or _bad_http_path(prefix):
                self.error(
                    (*where, "api", "prefix"),
                    f"prefix '{template.api.prefix}' must name at least one segment, none empty, '.' or '..'",
                )
            self.check_scopes(template.api.scopes.read, (*where, "api", "scopes", "read"))
            self.check_scopes(template.api.scopes.write, (*where, "api", "scopes", "write"))
            scopes = template.api.scopes
            read = tuple(scopes.read)
            # Writes need the read scopes too unless the spec says otherwise: a prefix covers unknown routes.
            write = tuple(scopes.write) if "write" in scopes.model_fields_set else read
        for variable in template.env:
            if not re.match(r"^[A-Z_][A-Z0-9_]*\Z", variable):
                self.error(
                    (*where, "env", variable),
                    f"'{variable}' is not an environment variable name: use A-Z, 0-9 and _",
                    key=True,
                )
        return m.TemplateService(
            name=name,
            package=f"{name}_service",
            kebab=f"{kebab(name)}-service",
            title=pascal(name),
            description=svc.description or f"The {name} service.",  # answers to the template, which renders them
            source=template.source,
            engine=m.TemplateEngine(template.engine) if template.engine else None,
            data=tuple(sorted(template.data.items())),
            trust=template.trust,
            port=template.port,
            health_path=template.health,
            ready_path=template.ready,
            metrics_path=template.metrics,
            prefix=prefix,
            read_scopes=read,
            write_scopes=write,
            app=template.app or f"{name}_service.main:app",
            own_dockerfile=template.dockerfile == "template",
            env=tuple(sorted(template.env.items())),
            ops=ops_settings(svc.ops, database=False),  # no database: the template brings its own storage, if any
        )

    def check_templated(self, services: list[m.Service], templated: list[m.TemplateService]) -> None:
        """A template service takes no part in events and sagas, and its prefix is its own."""
        if not templated:
            return
        names = {t.name for t in templated}
        if not services:
            self.error(("services",), "every service is made from a template: msgen needs one it generates", key=True)
        for event_name, event in self.spec.events.items():
            publishers = [event.publisher] if isinstance(event.publisher, str) else event.publisher
            places: list[tuple[Path_, str]] = [
                (("events", event_name, "publisher"), p) for p in publishers if len(publishers) == 1
            ]
            places += [(("events", event_name, "consumers", i), c) for i, c in enumerate(event.consumers)]
            for where, service in places:
                if service in names:
                    self.error(
                        where, f"service '{service}' is made from a template: it cannot publish or consume events"
                    )
        for saga_name, saga in self.spec.sagas.items():
            places = [(("sagas", saga_name, "orchestrator"), saga.orchestrator)]
            places += [(("sagas", saga_name, "steps", i, "service"), s.service) for i, s in enumerate(saga.steps)]
            for where, service in places:
                if service in names:
                    self.error(where, f"service '{service}' is made from a template: it cannot take part in a saga")
        owners: list[tuple[str, str]] = [(op.path, s.name) for s in services for op in s.operations]
        for t in templated:
            if t.prefix is None:
                continue
            for path, owner in owners:
                if _may_be_under(path, t.prefix):
                    self.error(
                        ("services", t.name, "template", "api", "prefix"),
                        f"prefix '{t.prefix}' of '{t.name}' covers '{path}' of service '{owner}': choose another prefix",
                    )
                    break
            for other in templated:
                if other.name != t.name and other.prefix is not None and _under(t.prefix, other.prefix):
                    self.error(
                        ("services", t.name, "template", "api", "prefix"),
                        f"prefix '{t.prefix}' of '{t.name}' is under the prefix of '{other.name}': choose another prefix",
                    )


def _bad_http_path(path: str) -> bool:
    """A path with an empty, '.' or '..' segment (the one '/' alone excepted)."""
    return path != "/" and any(segment in ("", ".", "..") for segment in path[1:].split("/"))


def _under(path: str, prefix: str) -> bool:
    """/v1/search/items is under /v1/search; /v1/searches is not."""
    return path == prefix or path.startswith(prefix + "/")


def _may_be_under(path: str, prefix: str) -> bool:
    """Whether some request to the operation `path` falls under `prefix`: /v1/as/{id} may, for /v1/as/x."""
    segments, wanted = path.strip("/").split("/"), prefix.strip("/").split("/")
    return len(segments) >= len(wanted) and all(
        s == w or s.startswith("{") for s, w in zip(segments, wanted, strict=False)
    )


def ops_settings(ops: Any, *, database: bool) -> m.Ops:
    """A service's operational settings; without a database, none of its settings."""
    return m.Ops(
        replicas_min=ops.replicas.min,
        replicas_max=ops.replicas.max,
        cpu_target=ops.cpu_target,
        requests=ops.resources.requests.model_dump(),
        limits=ops.resources.limits.model_dump(),
        cache_default_ttl=duration_seconds(ops.cache.default_ttl),
        db_instances=ops.database.instances if database else 0,
        db_storage=ops.database.storage if database else "",
        db_backup_schedule=ops.database.backup_schedule if database else "",
        db_backup_retention=ops.database.backup_retention if database else "",
    )
