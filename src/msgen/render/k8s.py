"""Kubernetes: a kustomize base plus `dev` and `prod` overlays under deploy/k8s/.

Every name, label, port and environment variable is decided here; the
templates under templates/deploy/k8s/ only lay the resources out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from msgen import model as m
from msgen.names import kebab
from msgen.render.yamltext import Renderer, number

HTTP_PORT = 8000  # every generated service and the gateway listen here in containers
APP_UID = 10001  # the non-root user of the images (see templates/service/Dockerfile.j2)
POSTGRES_IMAGE = "ghcr.io/cloudnative-pg/postgresql:18.4-minimal-trixie"
REDIS_IMAGE = "redis:8.10.0-alpine"
NATS_IMAGE = "nats:2.14.5-alpine"
KAFKA_VERSION = "4.3.0"
OTEL_COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib:0.155.0"
ROLLOUTS_API = "argoproj.io/v1alpha1"
ENTRY_GATEWAY = "api"  # the Gateway msgen writes in front of the gateway Service (deploy.ingress.kind httproute)
# GEP-1762: the label Gateway API implementations put on the pods they run for a Gateway
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
SECRETS_DIR = "/run/secrets"  # msgen_runtime reads a setting from the file of its name there (settings.py)

# The pods each piece of the data and messaging layer runs as, for NetworkPolicies.
_BROKER = {
    "kafka": {"port": 9092, "operator_namespace": "strimzi"},
    "nats": {"port": 4222, "operator_namespace": ""},
    "rabbitmq": {"port": 5672, "operator_namespace": "rabbitmq-system"},
}


@dataclass(frozen=True)
class Workload:
    """A Deployment with its Service, ServiceAccount, ConfigMap, HPA and PDB."""

    name: str  # order (or gateway)
    app: str  # order-service: the Deployment, Service, ServiceAccount, ConfigMap name
    component: str  # service or gateway
    image: str  # registry/app:tag
    replicas_min: int
    replicas_max: int
    cpu_target: int
    requests: dict[str, str]
    limits: dict[str, str]
    config: dict[str, str]  # ConfigMap data (never secrets)
    secret_env: tuple[tuple[str, str, str], ...]  # (variable, Secret, key)
    migrate: bool  # run Alembic in an init container
    canary: bool  # rolled out by an Argo Rollouts canary
    keda: bool  # scaled by a KEDA ScaledObject instead of an HPA
    consumer_lag_query: str | None = None
    ingress_from: tuple[dict[str, Any], ...] = ()  # NetworkPolicy peers allowed in on HTTP_PORT
    egress_to: tuple[dict[str, Any], ...] = ()  # NetworkPolicy egress rules
    annotations: dict[str, str] = field(default_factory=dict)
    port: int = HTTP_PORT  # the container's port (a template service chooses its own)
    live_path: str = "/health/live"  # startup and liveness probes
    ready_path: str = "/health/ready"
    # (variable, Secret, key) of the app container only (not the migrations): who may call it
    auth_secret_env: tuple[tuple[str, str, str], ...] = ()

    @property
    def migrate_secret_env(self) -> tuple[tuple[str, str, str], ...]:
        """What the migrations read: the database URL only."""
        return tuple(entry for entry in self.secret_env if entry[0] == "DATABASE_URL")

    @staticmethod
    def secret_files(entries: tuple[tuple[str, str, str], ...]) -> list[tuple[str, list[tuple[str, str]]]]:
        """(Secret, [(file, key), ...]) in first-seen order: the sources of a projected volume."""
        grouped: dict[str, list[tuple[str, str]]] = {}
        for variable, secret, key in entries:
            grouped.setdefault(secret, []).append((variable, key))
        return list(grouped.items())

    @property
    def selector(self) -> dict[str, str]:
        return {"app.kubernetes.io/name": self.app}

    @property
    def scale_target(self) -> dict[str, str]:
        if self.canary:
            return {"apiVersion": ROLLOUTS_API, "kind": "Rollout", "name": self.app}
        return {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.app}


def pod(app: str) -> dict[str, Any]:
    """A NetworkPolicy peer: the pods of `app` in the same namespace."""
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/name": app}}}


def namespace_peer(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def egress(peers: list[dict[str, Any]], *ports: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"ports": [{"protocol": "TCP", "port": p} for p in ports]}
    if peers:
        rule["to"] = peers
    return rule


def image_of(system: m.System, app: str) -> str:
    return f"{system.deploy.registry}/{app}:{IMAGE_TAG}"


IMAGE_TAG = "0.1.0"  # the version of every generated service's distribution


@dataclass(frozen=True)
class BrokerTopic:
    """A KafkaTopic: its resource name (a DNS label) and the topic it makes."""

    name: str
    topic: str


@dataclass(frozen=True)
class BrokerView:
    """Where the broker runs and how services reach it; the fields after `operator_namespace` are one kind's."""

    kind: str
    cluster: str
    url: str
    selector: Mapping[str, str]  # the labels of the broker's pods
    port: int
    operator_namespace: str  # "" when no operator runs it
    version: str | None = None  # kafka: its version
    topics: tuple[BrokerTopic, ...] = ()  # kafka: a KafkaTopic per event and dead-letter topic
    secret: str | None = None  # rabbitmq: the operator's Secret holding the user and password
    image: str | None = None  # nats: its image


def broker_view(system: m.System) -> BrokerView:
    """Where the broker runs and how services reach it."""
    name = kebab(system.name)
    kind = system.broker
    if kind == "kafka":
        cluster = f"{name}-kafka"
        return BrokerView(
            kind=kind,
            cluster=cluster,
            url=f"kafka://{cluster}-kafka-bootstrap:9092",
            selector={"strimzi.io/cluster": cluster},
            port=9092,
            operator_namespace="strimzi",
            version=KAFKA_VERSION,
            topics=tuple(
                BrokerTopic(topic.replace(".", "-").replace("_", "-"), topic)
                for event in system.events
                for topic in (event.topic, f"{event.topic}.dlq")
            ),
        )
    if kind == "rabbitmq":
        cluster = f"{name}-rabbitmq"
        return BrokerView(
            kind=kind,
            cluster=cluster,
            # the user and password come as files of the operator's Secret (BROKER_USERNAME, BROKER_PASSWORD)
            url=f"amqp://{cluster}:5672/",
            selector={"app.kubernetes.io/name": cluster},
            port=5672,
            operator_namespace="rabbitmq-system",
            secret=f"{cluster}-default-user",
        )
    return BrokerView(
        kind="nats",
        cluster="nats",
        url="nats://nats:4222",
        selector={"app.kubernetes.io/name": "nats"},
        port=4222,
        operator_namespace="",
        image=NATS_IMAGE,
    )


def workloads(system: m.System) -> list[Workload]:
    """The services and the gateway, as Kubernetes workloads."""
    deploy = system.deploy
    broker = broker_view(system)
    callers: dict[str, set[str]] = {s.name: set() for s in system.services}
    for service in system.services:
        for call in service.calls:
            callers[call.service].add(service.kebab)
    common_config: dict[str, str] = {"LOG_LEVEL": "INFO", "REDIS_URL": "redis://redis:6379/0"}
    if deploy.otel_collector:
        # The collector samples by tail (every error, a share of the rest), so services send every span.
        common_config["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://otel-collector:4318"
        common_config["TRACE_SAMPLE_RATIO"] = "1.0"
    else:
        common_config["TRACE_SAMPLE_RATIO"] = number(system.slos.sample_ratio)
    monitoring = namespace_peer(deploy.monitoring_namespace)
    shared_egress = [egress([pod("redis")], 6379)]
    if deploy.otel_collector:
        shared_egress.append(egress([pod("otel-collector")], 4317, 4318))
    # The key the gateway and the services share (docs/gateway.md#who-may-call-what): a Secret you create.
    internal_auth = ("INTERNAL_AUTH_SECRET", internal_auth_secret(system), "secret")
    out: list[Workload] = []
    for service in system.services:
        messaging = bool(service.publishes or service.consumes)
        config = dict(common_config)
        secret_env: list[tuple[str, str, str]] = [("DATABASE_URL", f"{kebab(service.name)}-db-app", "uri")]
        if messaging:
            config["BROKER_URL"] = broker.url
            if broker.kind == "rabbitmq" and broker.secret is not None:
                secret_env += [
                    ("BROKER_USERNAME", broker.secret, "username"),
                    ("BROKER_PASSWORD", broker.secret, "password"),
                ]
        callees = sorted({call.service for call in service.calls})
        for callee in callees:
            config[f"{callee.upper()}_URL"] = f"http://{kebab(callee)}-service"
        rules = [egress([{"podSelector": {"matchLabels": {"cnpg.io/cluster": f"{kebab(service.name)}-db"}}}], 5432)]
        if messaging:
            rules.append(egress([{"podSelector": {"matchLabels": dict(broker.selector)}}], broker.port))
        rules += shared_egress
        if callees:
            rules.append(egress([pod(f"{kebab(c)}-service") for c in callees], HTTP_PORT))
        keda = deploy.keda and bool(service.consumes)
        out.append(
            Workload(
                name=service.name,
                app=service.kebab,
                component="service",
                image=image_of(system, service.kebab),
                replicas_min=service.ops.replicas_min,
                replicas_max=service.ops.replicas_max,
                cpu_target=service.ops.cpu_target,
                requests=dict(service.ops.requests),
                limits=dict(service.ops.limits),
                config=dict(sorted(config.items())),
                secret_env=tuple(secret_env),
                # the token of /admin/dead-letters (closed without it): the pod waits for its Secret
                auth_secret_env=(
                    internal_auth,
                    *((("ADMIN_TOKEN", f"{service.kebab}-admin", "token"),) if messaging else ()),
                ),
                migrate=True,
                canary=service.name in deploy.canary,
                keda=keda,
                consumer_lag_query=f'sum(msgen_consumer_lag_messages{{service="{service.name}"}})' if keda else None,
                ingress_from=(pod("gateway"), *(pod(c) for c in sorted(callers[service.name])), monitoring),
                egress_to=tuple(rules),
            )
        )
    out += [templated_workload(system, t, common_config, shared_egress) for t in system.templated]
    gateway_config = dict(common_config)
    for service in system.services:
        gateway_config[f"{service.name.upper()}_URL"] = f"http://{service.kebab}"
    for t in system.templated:
        if t.prefix is not None:
            gateway_config[f"{t.name.upper()}_URL"] = f"http://{t.kebab}"
    to_templated = [egress([pod(t.kebab)], t.port) for t in system.templated if t.prefix is not None]
    out.append(
        Workload(
            name="gateway",
            app="gateway",
            component="gateway",
            image=image_of(system, "gateway"),
            replicas_min=3,
            replicas_max=15,
            cpu_target=60,
            requests={"cpu": "100m", "memory": "128Mi"},
            limits={"cpu": "500m", "memory": "256Mi"},
            config=dict(sorted(gateway_config.items())),
            secret_env=(),
            auth_secret_env=(internal_auth,),
            migrate=False,
            canary=False,
            keda=False,
            ingress_from=(*entry_peers(deploy), monitoring),
            egress_to=(*shared_egress, egress([pod(s.kebab) for s in system.services], HTTP_PORT), *to_templated),
        )
    )
    return out


def writes_gateway(deploy: m.Deploy) -> bool:
    """msgen writes the Gateway itself (an HTTPRoute not attached to a shared one)."""
    return deploy.ingress_kind == m.IngressKind.HTTPROUTE and deploy.gateway_namespace is None


def entry_peers(deploy: m.Deploy) -> list[dict[str, Any]]:
    """NetworkPolicy peers of the pods that forward the outside's requests to the gateway."""
    peers = [namespace_peer(deploy.controller_namespace)] if deploy.controller_namespace else []
    if writes_gateway(deploy):
        peers.insert(0, {"podSelector": {"matchLabels": {GATEWAY_NAME_LABEL: ENTRY_GATEWAY}}})
    return peers


def internal_auth_secret(system: m.System) -> str:
    """The Secret holding the key the gateway and the services share (key `secret`)."""
    return f"{kebab(system.name)}-internal-auth"


def templated_workload(
    system: m.System, t: m.TemplateService, common_config: dict[str, str], shared_egress: list[dict[str, Any]]
) -> Workload:
    """A service made from a template: the same Deployment, probes, HPA, PDB and policies, without a database."""
    deploy = system.deploy
    ingress = [namespace_peer(deploy.monitoring_namespace)]
    if t.prefix is not None:
        ingress.insert(0, pod("gateway"))
    return Workload(
        name=t.name,
        app=t.kebab,
        component="service",
        image=image_of(system, t.kebab),
        replicas_min=t.ops.replicas_min,
        replicas_max=t.ops.replicas_max,
        cpu_target=t.ops.cpu_target,
        requests=dict(t.ops.requests),
        limits=dict(t.ops.limits),
        config=dict(sorted({**common_config, **dict(t.env)}.items())),
        secret_env=(),
        migrate=False,
        canary=t.name in deploy.canary,
        keda=False,
        ingress_from=tuple(ingress),
        egress_to=tuple(shared_egress),
        port=t.port,
        live_path=t.health_path,
        ready_path=t.ready_path,
    )


def routes(system: m.System) -> list[str]:
    """The path prefixes the gateway serves: the first segment of every operation, under the API version."""
    prefixes = {
        f"/{system.api_version}/{op.route.strip('/').split('/')[0]}" for s in system.services for op in s.operations
    }
    prefixes |= {t.prefix for t in system.templated if t.prefix is not None}
    return sorted(prefixes)


# A piece of a Kubernetes manifest (a NetworkPolicy peer or rule), written as YAML as it is.
Manifest = dict[str, Any]


@dataclass(frozen=True)
class NetworkDatabase:
    """A service's PostgreSQL cluster and the only app that may reach it."""

    name: str
    client: str


@dataclass(frozen=True)
class NetworkView:
    """network-policies.yaml: default deny, then exactly the flows the system needs."""

    workloads: tuple[Workload, ...]
    services: tuple[Workload, ...]
    databases: tuple[NetworkDatabase, ...]
    broker: BrokerView
    broker_clients: tuple[Manifest, ...]
    monitoring: Manifest
    mesh_egress: tuple[Manifest, ...]
    mesh_ingress_ports: tuple[int, ...]
    otel: bool
    all_apps: tuple[Manifest, ...]


def network_view(system: m.System, items: list[Workload]) -> NetworkView:
    """Default deny, then exactly the flows the system needs."""
    deploy = system.deploy
    broker = broker_view(system)
    monitoring = namespace_peer(deploy.monitoring_namespace)
    services = tuple(w for w in items if w.component == "service")
    messaging = [s.kebab for s in system.services if s.publishes or s.consumes]
    databases = tuple(NetworkDatabase(f"{kebab(s.name)}-db", s.kebab) for s in system.services)
    mesh_egress: tuple[Manifest, ...] = ()
    mesh_ingress_ports: tuple[int, ...] = ()
    if deploy.mesh == m.Mesh.ISTIO:
        mesh_egress = (egress([namespace_peer("istio-system")], 15012, 15017),)
    elif deploy.mesh == m.Mesh.LINKERD:
        mesh_egress = (egress([namespace_peer("linkerd")], 8080, 8086, 8090),)
        mesh_ingress_ports = (4143,)  # the linkerd proxy's inbound port, between meshed pods
    return NetworkView(
        workloads=tuple(items),
        services=services,
        databases=databases,
        broker=broker,
        broker_clients=tuple(pod(app) for app in messaging),
        monitoring=monitoring,
        mesh_egress=mesh_egress,
        mesh_ingress_ports=mesh_ingress_ports,
        otel=deploy.otel_collector,
        all_apps=tuple(pod(w.app) for w in items),
    )


def render_k8s(system: m.System, r: Renderer) -> dict[str, str]:
    """deploy/k8s/base and its overlays."""
    deploy = system.deploy
    items = workloads(system)
    broker = broker_view(system)
    base = "deploy/k8s/base"
    ctx: dict[str, Any] = {
        "system": system,
        "deploy": deploy,
        "http_port": HTTP_PORT,
        "uid": APP_UID,
        "broker": broker,
        "routes": routes(system),
        "gateway_timeout": duration(system.gateway.timeout),
        "secrets_dir": SECRETS_DIR,
        "entry_gateway": ENTRY_GATEWAY if writes_gateway(deploy) else None,
        "gateway_name_label": GATEWAY_NAME_LABEL,
    }
    files: dict[str, str] = {}
    resources: list[str] = []
    for w in items:
        path = f"workloads/{w.app}.yaml"
        files[f"{base}/{path}"] = r.render("deploy/k8s/workload.yaml.j2", w=w, **ctx)
        resources.append(path)
    files[f"{base}/gateway-route.yaml"] = r.render("deploy/k8s/gateway-route.yaml.j2", **ctx)
    resources.append("gateway-route.yaml")
    files[f"{base}/databases.yaml"] = r.render(
        "deploy/k8s/databases.yaml.j2", databases=database_view(system), postgres_image=POSTGRES_IMAGE, **ctx
    )
    resources.append("databases.yaml")
    files[f"{base}/broker.yaml"] = r.render("deploy/k8s/broker-" + broker.kind + ".yaml.j2", **ctx)
    resources.append("broker.yaml")
    files[f"{base}/redis.yaml"] = r.render("deploy/k8s/redis.yaml.j2", redis_image=REDIS_IMAGE, **ctx)
    resources.append("redis.yaml")
    files[f"{base}/network-policies.yaml"] = r.render(
        "deploy/k8s/network-policies.yaml.j2", net=network_view(system, items), **ctx
    )
    resources.append("network-policies.yaml")
    if deploy.otel_collector:
        files[f"{base}/otel-collector.yaml"] = r.render(
            "deploy/k8s/otel-collector.yaml.j2",
            image=OTEL_COLLECTOR_IMAGE,
            sampling_percentage=number(system.slos.sample_ratio * 100),
            **ctx,
        )
        resources.append("otel-collector.yaml")
    if deploy.mesh == m.Mesh.ISTIO:
        files[f"{base}/mesh.yaml"] = r.render("deploy/k8s/mesh-istio.yaml.j2", **ctx)
        resources.append("mesh.yaml")
    canaries = [w for w in items if w.canary]
    if canaries:
        files[f"{base}/canary.yaml"] = r.render(
            "deploy/k8s/canary.yaml.j2", canaries=canaries, max_error_ratio=number(system.slos.error_rate), **ctx
        )
        resources.append("canary.yaml")
    scaled = [w for w in items if w.keda]
    if scaled:
        files[f"{base}/keda.yaml"] = r.render(
            "deploy/k8s/keda.yaml.j2", scaled=scaled, lag_per_replica=max(1, system.slos.consumer_lag // 10), **ctx
        )
        resources.append("keda.yaml")
    resources.append("monitoring.yaml")  # rendered by observability.py
    files[f"{base}/kustomization.yaml"] = r.render("deploy/k8s/base-kustomization.yaml.j2", resources=resources, **ctx)
    files["deploy/k8s/README.md"] = r.render("deploy/k8s/README.md.j2", readme=readme_view(system), **ctx)
    for overlay in ("dev", "prod"):
        namespace = deploy.namespace if overlay == "prod" else f"{deploy.namespace}-dev"
        root = f"deploy/k8s/overlays/{overlay}"
        octx = {**ctx, "overlay": overlay, "namespace": namespace, "workloads": items}
        files[f"{root}/namespace.yaml"] = r.render("deploy/k8s/namespace.yaml.j2", **octx)
        extra: list[str] = []
        if overlay == "dev" and deploy.chaos:
            target = chaos_target(system)
            files[f"{root}/chaos.yaml"] = r.render("deploy/k8s/chaos.yaml.j2", target=target, **octx)
            extra.append("chaos.yaml")
        files[f"{root}/kustomization.yaml"] = r.render("deploy/k8s/overlay-kustomization.yaml.j2", extra=extra, **octx)
    return files


@dataclass(frozen=True)
class ReadmeView:
    """deploy/k8s/README.md: what the broker's manifest holds, the operators, the optional files, the secrets."""

    broker_title: str
    operators: tuple[str, ...]
    optional: tuple[tuple[str, str], ...]  # (file, what it holds)
    internal_auth_secret: str
    admin_secrets: tuple[str, ...]


def readme_view(system: m.System) -> ReadmeView:
    """The operators the manifests need and the optional files, for deploy/k8s/README.md."""
    deploy = system.deploy
    broker = {
        "kafka": ("Kafka in KRaft mode (Strimzi) and a KafkaTopic per event and dead-letter topic", "Strimzi"),
        "rabbitmq": ("a RabbitmqCluster", "the RabbitMQ Cluster Operator"),
        "nats": ("NATS with JetStream, a StatefulSet", None),
    }[system.broker]
    operators = [
        "CloudNativePG (PostgreSQL) and its Barman Cloud plugin (backups and WAL archiving, with cert-manager)",
        *([broker[1]] if broker[1] else []),
        "the Prometheus Operator",
    ]
    optional: list[tuple[str, str]] = []
    if deploy.otel_collector:
        operators.append("the OpenTelemetry Operator")
        optional.append(("otel-collector.yaml", "the OpenTelemetry Collector, tail sampling"))
    if deploy.mesh == m.Mesh.ISTIO:
        operators.append("Istio (with its CNI plugin: the namespace enforces the baseline Pod Security level)")
        optional.append(("mesh.yaml", "mTLS STRICT (PeerAuthentication)"))
    elif deploy.mesh == m.Mesh.LINKERD:
        operators.append("Linkerd")
    if deploy.canary:
        operators.append("Argo Rollouts")
        optional.append(("canary.yaml", "Rollouts and their error-ratio AnalysisTemplates"))
    if deploy.keda and any(s.consumes for s in system.services):
        operators.append("KEDA")
        optional.append(("keda.yaml", "ScaledObjects on consumer lag"))
    if deploy.chaos:
        operators.append("Litmus (dev overlay only) and its pod-delete ChaosExperiment")
    if writes_gateway(deploy):
        operators.append(f"a Gateway API implementation with the GatewayClass '{deploy.ingress_class}'")
    elif deploy.ingress_kind == m.IngressKind.HTTPROUTE:
        operators.append(f"the Gateway '{deploy.ingress_class}' in namespace '{deploy.gateway_namespace}'")
    else:
        operators.append(f"an ingress controller of class '{deploy.ingress_class}'")
    admin = [f"{s.kebab}-admin" for s in system.services if s.publishes or s.consumes]
    return ReadmeView(
        broker_title=broker[0],
        operators=tuple(operators),
        optional=tuple(optional),
        internal_auth_secret=internal_auth_secret(system),
        admin_secrets=tuple(admin),
    )


@dataclass(frozen=True)
class DatabaseView:
    """A service's PostgreSQL cluster (CloudNativePG): its size, storage, backup schedule and retention."""

    name: str
    service: str
    client: str
    instances: int
    storage: str
    schedule: str
    retention: str
    database: str = "app"  # CloudNativePG's default database and owner; the cluster is the service's alone


def database_view(system: m.System) -> tuple[DatabaseView, ...]:
    out = []
    for s in system.services:
        schedule = s.ops.db_backup_schedule
        # CloudNativePG schedules have a leading seconds field.
        cnpg_schedule = schedule if len(schedule.split()) == 6 else f"0 {schedule}"
        out.append(
            DatabaseView(
                name=f"{kebab(s.name)}-db",
                service=s.name,
                client=s.kebab,
                instances=s.ops.db_instances,
                storage=s.ops.db_storage,
                schedule=cnpg_schedule,
                retention=s.ops.db_backup_retention,
            )
        )
    return tuple(out)


def chaos_target(system: m.System) -> Workload:
    """The service whose pods the pod-delete experiment kills: a saga's orchestrator, else the first service."""
    name = system.sagas[0].orchestrator if system.sagas else system.services[0].name
    return next(w for w in workloads(system) if w.name == name)


def duration(seconds: float) -> str:
    """A Gateway API duration: 5.0 -> '5s', 0.25 -> '250ms'."""
    return f"{round(seconds)}s" if seconds >= 1 and seconds == round(seconds) else f"{round(seconds * 1000)}ms"
