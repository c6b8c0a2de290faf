"""The shop's images, built by `msgen build` with podman and run as containers: an order placed through the
containerized gateway is CONFIRMED, and each image stays within its size budget.

No registry can be reached here, so a Debian-built stand-in replaces the official python base image
the Dockerfiles name (deploy.base_image): Debian bookworm with its Python 3.11, made by debootstrap
once per machine (tests/container_support.py; a few minutes the first time, then podman keeps it).
The engine flags this machine needs reach `msgen build` through MSGEN_ENGINE_FLAGS and
MSGEN_BUILD_FLAGS. The containers share the host's network with a nats-server from its wheel; each
service keeps its SQLite database in a mounted temporary folder. Every container this test starts and
every image it tags is removed at the end; the base image stays, and so do the layers of the images'
build stages in the engine's cache (`podman image prune` removes them), so that a later run rebuilds
only what changed.
"""

from __future__ import annotations

import io
import os
import shlex
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from msgen import build as images
from msgen.generate import generate
from msgen.localrun import Options, ProcessSpec, plan
from msgen.up import _demo, demo_plan
from msgen.writer import write_project
from msgen_runtime.gateway.devtokens import mint
from tests import deploy_tools
from tests.container_support import (
    BASE_IMAGE,
    BUILD_FLAGS,
    ENGINE_FLAGS,
    LIMITS,
    ensure_base_image,
    podman,
    podman_available,
)
from tests.processes import run, started, tail, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
MB = 1_000_000
VENV_BUDGET_MB = 120  # a service's /opt/venv, in du's megabytes (MiB), as it was measured at 444 (docs/performance.md)
IMAGE_BUDGET_MB = 130  # what an image adds to its base, in the engine's megabytes (10^6 bytes)
READY_DEADLINE = 180.0  # seconds: containers on a loaded two-core machine


@dataclass
class Built:
    project: Path
    registry: str
    tags: dict[str, str]  # app -> tag
    workdir: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    if not podman_available():
        deploy_tools.missing("podman", "apt-get install podman buildah runc debootstrap")
    ensure_base_image()
    tmp = tmp_path_factory.mktemp("images")
    registry = f"localhost/msgen-test-{uuid.uuid4().hex[:8]}"
    spec = (ROOT / "examples" / "shop.yaml").read_text()
    spec = spec.replace("base_image: python:3.12.12-slim-bookworm", f"base_image: {BASE_IMAGE}")
    spec = spec.replace("registry: ghcr.io/example/shop", f"registry: {registry}")
    assert BASE_IMAGE in spec and registry in spec
    (tmp / "shop.yaml").write_text(spec)
    generated = generate(tmp / "shop.yaml")
    project = tmp / "shop"
    write_project(project, generated.files, generated.system.spec_hash)
    env = {
        **os.environ,
        images.ENGINE_FLAGS_ENV: shlex.join(ENGINE_FLAGS),
        images.BUILD_FLAGS_ENV: shlex.join(BUILD_FLAGS),
    }
    try:
        done = run(
            [sys.executable, "-m", "msgen", "build", project, "--engine", "podman", "--jobs", "3"],
            env=env,
            timeout=1500,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        tags = {i.app: i.tag for i in images.images(generated.system)}
        for tag in tags.values():
            assert f"built {tag}" in done.stderr  # the progress names every image
        workdir = tmp / "run"
        workdir.mkdir()
        workdir.chmod(0o777)  # the containers run as uid 10001
        yield Built(project, registry, tags, workdir)
    finally:
        # The images it tagged go; the layers of their build stages stay in the engine's cache, as the
        # base image and pip's cache mount do, so that the next run builds only what changed.
        made = [i.tag for i in images.images(generated.system)]
        podman("rmi", "--force", *made, check=False)
        left = [tag for tag in made if podman("image", "exists", tag, check=False).returncode == 0]
        assert not left, left


def _image_size(ref: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())


def test_each_image_stays_within_its_budget(built: Built) -> None:
    base = _image_size(BASE_IMAGE)
    for app, tag in built.tags.items():
        added = (_image_size(tag) - base) / MB
        venv = podman("run", "--rm", *LIMITS, "--entrypoint", "du", tag, "-s", "-k", "/opt/venv")
        venv_mb = int(venv.stdout.split()[0]) / 1024
        assert venv_mb <= VENV_BUDGET_MB, f"{app}: /opt/venv is {venv_mb:.0f} MB"
        assert added <= IMAGE_BUDGET_MB, f"{app}: the image adds {added:.0f} MB to its base"
        # the generator never ships in a service's image, nor the test-only dependencies
        leaked = podman(
            "run",
            "--rm",
            *LIMITS,
            tag,
            "python",
            "-c",
            "import importlib.util as u; print([m for m in ('msgen', 'pact', 'pytest', 'kubernetes_validate') if u.find_spec(m)])",
        )
        assert leaked.stdout.strip() == "[]", f"{app}: {leaked.stdout}"


def _start(built: Built, spec: ProcessSpec, name: str) -> None:
    tag = built.tags["gateway" if spec.name == "gateway" else f"{spec.name}-service"]
    env = [arg for key, value in spec.env.items() for arg in ("-e", f"{key}={value}")]
    mounts = ["-v", f"{built.workdir}:{built.workdir}"]
    if spec.name == "gateway":
        keys = Path(spec.env["DEV_ISSUER_DIR"])
        keys.chmod(0o755)  # the public keys only: the private key stays readable by root alone
        mounts += ["-v", f"{keys}:{keys}:ro"]
        command = f"exec uvicorn gateway_app.main:create_app --factory --host 127.0.0.1 --port {spec.port}"
    else:
        app = f"{spec.name}_service.main:create_app"
        command = f"alembic upgrade head && exec uvicorn {app} --factory --host 127.0.0.1 --port {spec.port}"
    podman("run", "-d", "--name", name, *LIMITS, *mounts, *env, tag, "sh", "-c", command)


def _wait_ready(spec: ProcessSpec, name: str) -> None:
    """Until the container answers ready; the test fails with its logs if it stops or the deadline passes.

    The containers share the host's network, and tests running beside this one pick free ports
    too: a process of theirs could take a port between the plan and the container's bind, and
    answer ready in its place. So ready counts only once the container's own uvicorn says it
    listens on the port (a bind that fails stops the container, which fails the test by name).
    """
    url = spec.ready_url
    assert url is not None
    listening = f"Uvicorn running on http://127.0.0.1:{spec.port}"
    ready = False

    def settled() -> bool:  # ready, or stopped
        nonlocal ready
        logs = podman("logs", name, check=False)
        try:
            ready = listening in logs.stdout + logs.stderr and httpx.get(url, timeout=5).status_code == 200
        except httpx.HTTPError:
            ready = False
        if ready:
            return True
        return podman("inspect", "--format", "{{.State.Running}}", name, check=False).stdout.strip() == "false"

    try:
        wait_for(settled, timeout=READY_DEADLINE, what=f"{name} never became ready", interval=0.5)
    except pytest.fail.Exception as late:
        reason = str(late)
    else:
        if ready:
            return
        reason = f"{name} stopped before it was ready"
    logs = podman("logs", name, check=False)
    pytest.fail(f"{reason}:\n{tail(logs.stdout + logs.stderr, 3000)}", pytrace=False)


def test_an_order_through_the_containerized_gateway_is_confirmed(built: Built) -> None:
    system = generate(built.project / "msgen.yaml").system
    # planned now, just before the containers start: the ports are free for as short a time as can be
    specs = plan(built.project, Options(workdir=built.workdir, log_level="WARNING"), system)
    nats_spec = next(s for s in specs if s.name == "nats")
    containers: list[str] = []
    with started(nats_spec.args, cwd=nats_spec.cwd, grace=30):  # the whole group ended with the test
        try:
            mint(built.project, scopes=["orders:read"], sub="u-1", ttl="1m")  # makes the dev issuer's keys
            services = [s for s in specs if s.name != "nats"]
            for spec in services:
                name = f"msgen-test-{uuid.uuid4().hex[:8]}-{spec.name}"
                containers.append(name)
                _start(built, spec, name)
            for spec, name in zip(services, containers, strict=True):
                _wait_ready(spec, name)
            scenario = demo_plan(system)
            console = Console(file=io.StringIO(), width=200)
            status = _demo(
                specs,
                console,
                lambda scopes: mint(built.project, scopes=scopes, sub="u-1", ttl="10m"),
                {},
                scenario,
            )
            assert status == scenario.completed == "CONFIRMED"
        finally:
            for name in containers:
                podman("rm", "--force", "--time", "5", name, check=False)
