"""Fixtures: a fake upstream standing in for every service (and the OIDC issuer), and the gateway.

Both run under a real uvicorn on 127.0.0.1, so refused connections, timeouts
and streamed answers are real. Set TEST_REDIS_URL to keep the rate-limit
counters in Redis (under a key prefix of their own, deleted afterwards).
"""

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from msgen_runtime.callers import InternalAuth
from msgen_runtime.gateway.devtokens import DevIssuer
from msgen_runtime.gateway.testing import FakeUpstream, GatewayFactory, TestIssuer
from msgen_runtime.testing import serve_app
from redis import Redis

from gateway_app.main import create_app
from gateway_app.routes import ROUTES
from gateway_app.settings import Settings

# The key the gateway shares with the services, made for this run.
INTERNAL_AUTH_SECRET = secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def internal_auth() -> Callable[[str], InternalAuth]:
    """What service `name` does with the gateway's credential: verify it with the shared key, for itself alone."""
    return lambda name: InternalAuth(INTERNAL_AUTH_SECRET, issuer=name)


@pytest.fixture(scope="session")
def idp() -> TestIssuer:
    """An OIDC issuer (RSA keys, as most use); the fake upstream serves its JWKS."""
    return TestIssuer("https://idp.example.test/", Settings().oidc_audience)


@pytest.fixture(scope="session")
def dev_issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    """The dev issuer, with a key pair of its own for this run."""
    defaults = Settings()
    return DevIssuer.open(
        tmp_path_factory.mktemp("dev") / "dev-issuer",
        issuer=defaults.dev_issuer,
        audience=defaults.oidc_audience or "",
    )


@pytest.fixture
def upstream(idp: TestIssuer) -> Iterator[FakeUpstream]:
    fake = FakeUpstream(idp.jwks())
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def start_gateway(upstream: FakeUpstream, idp: TestIssuer, dev_issuer: DevIssuer) -> Iterator[GatewayFactory]:
    """Starts a gateway in front of the fake upstream; keyword arguments override its settings."""
    redis_url = os.environ.get("TEST_REDIS_URL")
    namespaces: list[str] = []

    @contextmanager
    def start(**overrides: Any) -> Iterator[str]:
        namespace = f"test-gateway-{uuid.uuid4().hex[:12]}"
        namespaces.append(namespace)
        values: dict[str, Any] = {
            **{f"{name}_url": upstream.url for name in {route.upstream for route in ROUTES}},
            "oidc_issuer": idp.issuer,
            "oidc_jwks_url": f"{upstream.url}/.well-known/jwks.json",
            "dev_mode": True,  # the dev issuer is trusted in dev mode only
            "oidc_allow_http": True,  # the fake issuer serves its keys over plain http
            "dev_issuer_enabled": True,
            "dev_issuer_dir": str(dev_issuer.directory),
            "redis_url": redis_url,
            "rate_limit_namespace": namespace,
            "rate_limit_requests": 10_000,
            "breaker_recovery_seconds": 0.5,
            "ready_cache_seconds": 0,
            "internal_auth_secret": INTERNAL_AUTH_SECRET,
            **overrides,
        }
        with serve_app(create_app(Settings(**values))) as url:
            yield url

    yield start
    if redis_url:
        client = Redis.from_url(redis_url)
        for namespace in namespaces:
            for key in client.scan_iter(f"{namespace}*"):
                client.delete(key)
        client.close()


@pytest.fixture
def gateway(start_gateway: GatewayFactory) -> Iterator[str]:
    with start_gateway() as url:
        yield url


@pytest.fixture
def client(gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, timeout=10) as http:
        yield http
