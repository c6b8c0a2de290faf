"""Shipping the system: images, compose, CI, Kubernetes, observability and Argo CD.

``render_deploy`` is the one entry point ``render_system`` calls; it gathers
the Dockerfiles and compose files laid out here, the Kubernetes manifests of
``k8s.py`` and the rules and dashboards of ``observability.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen import runtime_dist
from msgen.names import kebab
from msgen.render.k8s import (
    APP_UID,
    HTTP_PORT,
    POSTGRES_IMAGE,
    BrokerView,
    broker_view,
    image_of,
    render_k8s,
    workloads,
)
from msgen.render.observability import render_observability
from msgen.render.yamltext import Renderer, number

# Images of the local stack (deploy/compose.yaml), pinned.
COMPOSE_IMAGES = {
    "postgres": "postgres:18.4-alpine",
    "kafka": "apache/kafka:4.3.0",
    "rabbitmq": "rabbitmq:4.2.3-management-alpine",
    "nats": "nats:2.14.5-alpine",
    "redis": "redis:8.10.0-alpine",
    "jaeger": "jaegertracing/jaeger:2.13.0",  # Jaeger v2, built on the OpenTelemetry Collector
    "prometheus": "prom/prometheus:v3.13.2",
    "grafana": "grafana/grafana:13.1.2",
}
# What goes into a service image besides its installed package.
_IMAGE_FILES = ("alembic.ini",)


@dataclass(frozen=True)
class ImageView:
    """What a Python app's Dockerfile builds: the app, its folder, its ASGI factory, its tag, the files beside
    its package, the requirements installed one layer at a time."""

    app: str
    dir: str
    module: str
    tag: str
    files: tuple[str, ...]
    layers: tuple[str, ...]


@dataclass(frozen=True)
class TemplatedImageView:
    """msgen's Dockerfile for a template service: its folder installed with pip, its ASGI app run by uvicorn."""

    app: str
    name: str
    dir: str
    module: str
    tag: str
    port: int
    health: str


def image_view(system: m.System, service: m.Service) -> ImageView:
    return ImageView(
        app=service.kebab,
        dir=f"services/{service.name}",
        module=f"{service.package}.main:create_app",
        tag=image_of(system, service.kebab),
        files=_IMAGE_FILES,
        layers=tuple(runtime_dist.install_layers(runtime_dist.service_extras(system, service))),
    )


def templated_image_view(system: m.System, service: m.TemplateService) -> TemplatedImageView:
    """msgen's Dockerfile for a template service: its folder installed with pip, its ASGI app run by uvicorn."""
    return TemplatedImageView(
        app=service.kebab,
        name=service.name,
        dir=f"services/{service.name}",
        module=service.app,
        tag=image_of(system, service.kebab),
        port=service.port,
        health=service.health_path,
    )


def _gh(expression: str) -> str:
    """A GitHub Actions expression, written where Jinja would read braces."""
    return "${{ " + expression + " }}"


@dataclass(frozen=True)
class ComposeService:
    """A service in deploy/compose.yaml, with its own PostgreSQL."""

    name: str
    db: str
    image: str
    dockerfile: str
    database_url: str
    password_var: str
    environment: tuple[tuple[str, str], ...]  # sorted by name
    host_port: int
    depends_on: tuple[str, ...]
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class ComposeGateway:
    image: str
    environment: tuple[tuple[str, str], ...]
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class ComposeView:
    """deploy/compose.yaml: the services, the gateway, the broker and the images of a developer's machine."""

    services: tuple[ComposeService, ...]
    gateway: ComposeGateway
    secrets: tuple[str, ...]  # Compose secrets from the developer's environment, mounted in /run/secrets
    broker: BrokerView
    images: Mapping[str, str]
    postgres_image: str


def compose_view(system: m.System) -> ComposeView:
    broker = broker_view(system)
    broker_url = {
        "kafka": "kafka://kafka:9092",
        "rabbitmq": f"amqp://{system.name}:${{RABBITMQ_PASSWORD:-{system.name}}}@rabbitmq:5672/",
        "nats": "nats://nats:4222",
    }[broker.kind]
    broker_host = {"kafka": "kafka", "rabbitmq": "rabbitmq", "nats": "nats"}[broker.kind]
    common = {
        "LOG_LEVEL": "INFO",
        "REDIS_URL": "redis://redis:6379/0",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318",
        "TRACE_SAMPLE_RATIO": number(system.slos.sample_ratio),
        # A developer's machine: direct calls and /docs allowed, unless INTERNAL_AUTH_SECRET is exported
        # (then the gateway and the services check it as in production).
        "MSGEN_DEV_MODE": "1",
    }
    services = []
    secrets = {"INTERNAL_AUTH_SECRET"}
    for index, service in enumerate(system.services):
        name = service.name
        db = f"{kebab(name)}-db"
        password_var = f"{name.upper()}_DB_PASSWORD"
        # CloudNativePG's default database and owner, "app", here too (and never a reserved word such as user)
        database_url = f"postgresql://app:${{{password_var}:-app}}@{db}:5432/app"
        env = {**common, "DATABASE_URL": database_url}
        depends = ["redis"]
        if service.publishes or service.consumes:
            env["BROKER_URL"] = broker_url
            depends.append(broker_host)
        for callee in sorted({c.service for c in service.calls}):
            env[f"{callee.upper()}_URL"] = f"http://{callee}:{HTTP_PORT}"
        # secret files in /run/secrets; /admin stays closed unless you export ADMIN_TOKEN
        own_secrets = ["INTERNAL_AUTH_SECRET", *(["ADMIN_TOKEN"] if service.publishes or service.consumes else [])]
        secrets.update(own_secrets)
        services.append(
            ComposeService(
                name=name,
                db=db,
                image=image_of(system, service.kebab),
                dockerfile=f"services/{name}/Dockerfile",
                database_url=database_url,
                password_var=password_var,
                environment=tuple(sorted(env.items())),
                host_port=8001 + index,
                depends_on=tuple(sorted(depends)),
                secrets=tuple(own_secrets),
            )
        )
    gateway_env = {**common, **{f"{s.name.upper()}_URL": f"http://{s.name}:{HTTP_PORT}" for s in system.services}}
    return ComposeView(
        services=tuple(services),
        gateway=ComposeGateway(
            image=image_of(system, "gateway"),
            environment=tuple(sorted(gateway_env.items())),
            secrets=("INTERNAL_AUTH_SECRET",),
        ),
        # Compose secrets from the developer's environment (empty: dev mode stays open), mounted as
        # /run/secrets/<NAME> where msgen_runtime reads them.
        secrets=tuple(sorted(secrets)),
        broker=broker,
        images=COMPOSE_IMAGES,
        postgres_image=COMPOSE_IMAGES["postgres"],
    )


@dataclass(frozen=True)
class CiService:
    """A service in the CI workflow's matrices: its tests' package and its image's name (without a tag)."""

    name: str
    package: str
    image_name: str


def render_deploy(system: m.System) -> dict[str, str]:
    from msgen.render.sdk import sdk_package

    """Every deployment-related file of the generated project."""
    r = Renderer()
    deploy = system.deploy
    ctx: dict[str, Any] = {"system_name": system.name, "deploy": deploy, "http_port": HTTP_PORT, "uid": APP_UID}
    files: dict[str, str] = {
        ".dockerignore": r.render("project/dockerignore.j2", **ctx),
        "wheels/README.md": r.render("project/wheels-README.md.j2", **ctx),
    }
    for service in system.services:
        files[f"services/{service.name}/Dockerfile"] = r.render(
            "service/Dockerfile.j2", image=image_view(system, service), base_image=deploy.base_image, **ctx
        )
    for templated in system.templated:
        if not templated.own_dockerfile:
            files[f"services/{templated.name}/Dockerfile"] = r.render(
                "service/Dockerfile-templated.j2",
                image=templated_image_view(system, templated),
                base_image=deploy.base_image,
                **ctx,
            )
    compose = compose_view(system)
    files["deploy/compose.yaml"] = r.render("deploy/compose/compose.yaml.j2", compose=compose, **ctx)
    files["deploy/prometheus/prometheus.yml"] = r.render(
        "deploy/compose/prometheus.yml.j2", services=system.services, **ctx
    )
    files["deploy/grafana/provisioning/datasources/datasources.yaml"] = r.render(
        "deploy/compose/grafana-datasources.yaml.j2", **ctx
    )
    files["deploy/grafana/provisioning/dashboards/dashboards.yaml"] = r.render(
        "deploy/compose/grafana-dashboards.yaml.j2", **ctx
    )
    images = {w.app: w.image.rsplit(":", 1)[0] for w in workloads(system)}
    files[".github/workflows/ci.yaml"] = r.render(
        "deploy/ci/ci.yaml.j2",
        services=tuple(CiService(s.name, s.package, images[s.kebab]) for s in system.services),
        postgres_image=COMPOSE_IMAGES["postgres"],
        registry_host=deploy.registry.split("/", 1)[0],
        sdk_package=sdk_package(system),
        gh=_gh,
        **ctx,
    )
    files["deploy/argocd/application.yaml"] = r.render("deploy/argocd-application.yaml.j2", **ctx)
    files.update(render_k8s(system, r))
    files.update(render_observability(system, r))
    return files


__all__ = ["POSTGRES_IMAGE", "render_deploy"]
