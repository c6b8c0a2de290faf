"""The gateway runtime on real sockets: JWKS over HTTP, key rotation, refused algorithms, rate limits, failures."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Header

from msgen.generate import Generated
from msgen.render.gateway import dev_issuer_config, gateway_routes
from msgen_runtime.callers import InternalAuth
from msgen_runtime.gateway import GatewaySettings, Route, RouteTable, create_gateway_app
from msgen_runtime.gateway.auth import (
    AuthError,
    LocalJwks,
    RemoteJwks,
    TokenVerifier,
    VerificationKey,
    allowed_algorithms,
    parse_jwks,
    token_scopes,
)
from msgen_runtime.gateway.devtokens import JWKS_FILE, DevIssuer, ensure_keys, mint, parse_ttl
from msgen_runtime.gateway.ratelimit import LIMITER_ERRORS, THROTTLED, GatewayRateLimiter, rate_limit_item
from msgen_runtime.gateway.testing import FakeUpstream, TestIssuer, claims_for, hmac_token, relabel, unsigned_token
from msgen_runtime.prefer import preferred_wait
from msgen_runtime.problems import Problem
from msgen_runtime.testing import serve_app

ISSUER = "https://issuer.example.test/"
AUDIENCE = "test-api"
ROUTES = (
    Route("GET", "/v1/orders", "order", scopes=("orders:read",), idempotent_read=True),
    Route("GET", "/v1/orders/{id}", "order", scopes=("orders:read",), idempotent_read=True),
    Route("POST", "/v1/orders", "order", scopes=("orders:create",)),
    Route("GET", "/v1/orders/{id}/events", "order", scopes=("orders:read",), idempotent_read=True, sse=True),
    Route("GET", "/v1/products", "product", idempotent_read=True),
    Route("GET", "/v1/slow", "product", timeout=0.3, idempotent_read=True),
    Route("POST", "/v1/slow", "product", timeout=0.3, max_wait=60.0),  # a create that may wait for its saga
)


class Settings(GatewaySettings):
    order_url: str = "http://order-service"
    product_url: str = "http://product-service"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def idp() -> TestIssuer:
    return TestIssuer(ISSUER, AUDIENCE)


@pytest.fixture
def upstream(idp: TestIssuer) -> Iterator[FakeUpstream]:
    """The services and the issuer's JWKS, on one real uvicorn."""
    fake = FakeUpstream(idp.jwks())
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def dev(tmp_path: Path) -> DevIssuer:
    return DevIssuer.open(tmp_path / "dev-issuer", issuer="urn:msgen:test:dev-issuer", audience=AUDIENCE)


@pytest.fixture
def start(upstream: FakeUpstream, dev: DevIssuer) -> Callable[..., AbstractContextManager[httpx.Client]]:
    """A gateway in front of `upstream`, as an httpx client; keyword arguments override its settings."""

    @contextmanager
    def run(clock: Callable[[], float] = time.monotonic, **overrides: Any) -> Iterator[httpx.Client]:
        values: dict[str, Any] = {
            "order_url": upstream.url,
            "product_url": upstream.url,
            "oidc_issuer": ISSUER,
            "oidc_audience": AUDIENCE,
            "oidc_jwks_url": f"{upstream.url}/.well-known/jwks.json",
            "dev_mode": True,  # the dev issuer is trusted in dev mode only
            "oidc_allow_http": True,
            "dev_issuer_enabled": True,
            "dev_issuer": dev.issuer,
            "dev_issuer_dir": str(dev.directory),
            "breaker_failure_threshold": 3,
            "breaker_recovery_seconds": 0.5,
            "ready_cache_seconds": 0,
            "ready_timeout": 30,  # the upstreams' readiness is what is asked, not how fast a loaded machine answers
            "realm": "test",
            "internal_auth_secret": "gateway-runtime-test-secret-0123456789abcdef",
            **overrides,
        }
        app = create_gateway_app(Settings(**values), ROUTES, clock=clock)
        # a timeout far from the gateway's answers (httpx's default of 5 s could be reached on a loaded machine)
        with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as http:
            yield http

    return run


class HandClock:
    """A clock moved by hand, standing in for `time` where a runtime part reads it: tests then depend on no
    machine's speed. It serves as time.time and time.monotonic alike."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def verifier_for(url: str | None, *, issuer: str = ISSUER, **options: Any) -> TokenVerifier:
    return TokenVerifier({issuer: RemoteJwks(url, issuer=issuer, **options)}, audience=AUDIENCE, leeway=5)


# Tokens and keys


@pytest.mark.anyio
async def test_tokens_are_checked_against_the_jwks_fetched_over_http_and_cached(
    idp: TestIssuer, upstream: FakeUpstream
) -> None:
    verifier = verifier_for(f"{upstream.url}/.well-known/jwks.json")
    for sub in ("u-1", "u-2", "u-3"):
        principal = await verifier.verify(idp.token(["orders:read", "orders:create"], sub=sub))
        assert principal.subject == sub and principal.issuer == ISSUER
        assert principal.scopes == {"orders:read", "orders:create"}
    assert upstream.jwks_fetches == 1
    await verifier.aclose()


@pytest.mark.anyio
async def test_oidc_discovery_finds_the_jwks_when_no_url_is_given(idp: TestIssuer, upstream: FakeUpstream) -> None:
    verifier = TokenVerifier({ISSUER: RemoteJwks(None, issuer=upstream.url)}, audience=AUDIENCE)
    assert (await verifier.verify(idp.token())).subject == "test-user"
    assert upstream.jwks_fetches == 1
    await verifier.aclose()


@pytest.mark.anyio
async def test_a_rotated_key_is_fetched_once_when_its_kid_first_appears(
    idp: TestIssuer, upstream: FakeUpstream
) -> None:
    verifier = verifier_for(f"{upstream.url}/.well-known/jwks.json", min_refresh_seconds=0)
    await verifier.verify(idp.token())
    rotated = TestIssuer(ISSUER, AUDIENCE, kid="test-key-2")
    upstream.jwks = {"keys": [idp.jwk(), rotated.jwk()]}  # the issuer publishes the new key, then signs with it
    for _ in range(3):
        assert (await verifier.verify(rotated.token(sub="after-rotation"))).subject == "after-rotation"
    await verifier.verify(idp.token())  # the old key still works while it is published
    assert upstream.jwks_fetches == 2
    await verifier.aclose()


@pytest.mark.anyio
async def test_a_remembered_token_is_refused_once_its_key_is_withdrawn(idp: TestIssuer, upstream: FakeUpstream) -> None:
    # verified tokens are remembered, but only while their issuer still serves the key that signed them
    verifier = verifier_for(f"{upstream.url}/.well-known/jwks.json", cache_seconds=0, min_refresh_seconds=0)
    token = idp.token(["orders:read"], sub="remembered")
    for _ in range(3):
        principal = await verifier.verify(token)
        assert principal.subject == "remembered" and principal.scopes == {"orders:read"}
    upstream.jwks = {"keys": [TestIssuer(ISSUER, AUDIENCE, kid="test-key-2").jwk()]}  # the old key withdrawn
    with pytest.raises(AuthError) as refused:
        await verifier.verify(token)
    assert refused.value.status == 401
    await verifier.aclose()


@pytest.mark.anyio
async def test_unknown_key_ids_refetch_the_jwks_at_most_once_per_interval(
    idp: TestIssuer, upstream: FakeUpstream
) -> None:
    now = [1000.0]  # the verifier's clock, moved by hand: the test does not depend on the machine's speed
    verifier = verifier_for(f"{upstream.url}/.well-known/jwks.json", min_refresh_seconds=10, clock=lambda: now[0])
    await verifier.verify(idp.token())
    stranger = TestIssuer(ISSUER, AUDIENCE, kid="forged")
    for _ in range(5):  # a flood of forged kids right after a fetch: no fetch at all
        now[0] += 1.9
        with pytest.raises(AuthError) as refused:
            await verifier.verify(relabel(stranger.token(), kid=uuid.uuid4().hex))
        assert refused.value.status == 401
    assert upstream.jwks_fetches == 1
    now[0] += 0.6  # 10.1 s after the fetch
    for _ in range(5):  # after the interval: one fetch for the whole flood
        with pytest.raises(AuthError):
            await verifier.verify(relabel(stranger.token(), kid=uuid.uuid4().hex))
    assert upstream.jwks_fetches == 2
    await verifier.aclose()


def _es256_with_rsa_kid(idp: TestIssuer) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims_for(ISSUER, AUDIENCE), key, algorithm="ES256", headers={"kid": idp.kid})


REFUSED: dict[str, Callable[[TestIssuer], str]] = {
    "alg none": lambda idp: unsigned_token({"alg": "none", "typ": "JWT", "kid": idp.kid}, claims_for(ISSUER, AUDIENCE)),
    "alg None": lambda idp: unsigned_token({"alg": "None", "kid": idp.kid}, claims_for(ISSUER, AUDIENCE)),
    "HS256 keyed with the RSA public key": lambda idp: hmac_token(
        idp.public_pem(), {"alg": "HS256", "typ": "JWT", "kid": idp.kid}, claims_for(ISSUER, AUDIENCE)
    ),
    "HS256 with the JWKS's shared secret": lambda idp: hmac_token(
        b"shared-secret", {"alg": "HS256", "kid": "shared"}, claims_for(ISSUER, AUDIENCE)
    ),
    "PS256 on a key declared RS256": lambda idp: jwt.encode(
        claims_for(ISSUER, AUDIENCE), idp.key, algorithm="PS256", headers={"kid": idp.kid}
    ),
    "ES256 under the RSA key's id": _es256_with_rsa_kid,
    "another key under the right kid": lambda idp: relabel(TestIssuer(ISSUER, AUDIENCE).token(), kid=idp.kid),
    "a tampered payload": lambda idp: ".".join(
        (
            idp.token().split(".")[0],
            unsigned_token({}, claims_for(ISSUER, AUDIENCE, ["admin"])).split(".")[1],
            idp.token().split(".")[2],
        )
    ),
    "expired": lambda idp: idp.token(exp=int(time.time()) - 600),
    "not valid yet": lambda idp: idp.token(nbf=int(time.time()) + 600),
    "another audience": lambda idp: idp.token(aud="another-api"),
    "no expiry": lambda idp: jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x"}, idp.key, algorithm="RS256", headers={"kid": idp.kid}
    ),
    "an untrusted issuer": lambda idp: TestIssuer("https://evil.example/", AUDIENCE, kid=idp.kid).token(),
    "no subject": lambda idp: idp.token(sub=""),
    "not a JWT": lambda idp: "not-a-jwt",
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", sorted(REFUSED))
async def test_refused_tokens_are_401(case: str, idp: TestIssuer, upstream: FakeUpstream) -> None:
    shared = {"kty": "oct", "k": "c2hhcmVkLXNlY3JldA", "kid": "shared", "alg": "HS256"}
    upstream.jwks = {"keys": [idp.jwk(), shared]}
    verifier = verifier_for(f"{upstream.url}/.well-known/jwks.json")
    with pytest.raises(AuthError) as refused:
        await verifier.verify(REFUSED[case](idp))
    assert refused.value.status == 401 and refused.value.error == "invalid_token"
    await verifier.aclose()


@pytest.mark.anyio
async def test_an_unreachable_issuer_is_503_then_its_keys_are_used_once_it_answers(
    idp: TestIssuer, upstream: FakeUpstream
) -> None:
    url = f"{upstream.url}/.well-known/jwks.json"
    upstream.stop()
    clock = HandClock()
    # a timeout far from the milliseconds a local fetch takes: a loaded machine must not turn the answer into a 503
    verifier = verifier_for(url, min_refresh_seconds=10, timeout=30, clock=clock)
    with pytest.raises(AuthError) as unavailable:
        await verifier.verify(idp.token())
    assert unavailable.value.status == 503
    upstream.start()
    clock.advance(10)  # the interval between two fetches has passed
    assert (await verifier.verify(idp.token())).subject == "test-user"
    await verifier.aclose()


def test_keys_allow_only_their_own_asymmetric_algorithms(idp: TestIssuer) -> None:
    rsa_jwk = {k: v for k, v in idp.jwk().items() if k != "alg"}
    assert allowed_algorithms(rsa_jwk) == {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    assert allowed_algorithms(idp.jwk()) == {"RS256"}
    assert allowed_algorithms({**rsa_jwk, "alg": "HS256"}) == set()
    assert allowed_algorithms({"kty": "oct", "k": "c2VjcmV0"}) == set()
    assert allowed_algorithms({"kty": "EC", "crv": "P-256"}) == {"ES256"}
    assert allowed_algorithms({"kty": "OKP", "crv": "Ed25519"}) == {"EdDSA"}


def test_a_jwks_that_leaks_a_private_key_only_ever_verifies(idp: TestIssuer) -> None:
    private = jwt.algorithms.RSAAlgorithm.to_jwk(idp.key, as_dict=True)
    keys = parse_jwks({"keys": [{**private, "kid": "leaky", "alg": "RS256"}]})
    assert not hasattr(keys["leaky"].key, "sign")


def test_scopes_come_from_scope_or_scp() -> None:
    assert token_scopes({"scope": "a:read b:write"}) == {"a:read", "b:write"}
    assert token_scopes({"scp": ["a:read"], "scope": "b:write"}) == {"a:read", "b:write"}
    assert token_scopes({}) == frozenset()


# Dev tokens


def test_mint_signs_for_the_dev_issuer_of_a_generated_project(shop: Generated, tmp_path: Path) -> None:
    (tmp_path / "gateway").mkdir()
    (tmp_path / "gateway" / "dev-issuer.json").write_text(shop.files["gateway/dev-issuer.json"])
    token = mint(tmp_path, ["orders:create"], sub="u-1", ttl="1h")
    keys = tmp_path / "gateway" / "dev-issuer"
    assert (keys / "private.pem").stat().st_mode & 0o777 == 0o600
    assert (keys / ".gitignore").read_text().splitlines()[-1] == "*"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == "urn:msgen:shop:dev-issuer" and claims["aud"] == "shop-api"
    assert claims["sub"] == "u-1" and claims["scope"] == "orders:create"
    assert claims["exp"] - claims["iat"] == 3600
    again = mint(tmp_path / "gateway", ["orders:read"])  # the same key pair, from the gateway folder too
    assert jwt.get_unverified_header(again)["kid"] == jwt.get_unverified_header(token)["kid"]
    assert json.loads(dev_issuer_config(shop.system))["issuer"] == claims["iss"]


@pytest.mark.anyio
async def test_the_gateway_trusts_minted_tokens_through_the_dev_jwks(dev: DevIssuer) -> None:
    verifier = TokenVerifier({dev.issuer: LocalJwks(dev.directory / JWKS_FILE)}, audience=AUDIENCE)
    principal = await verifier.verify(mint(dev, ["orders:create"], sub="u-9", ttl=60))
    assert principal.subject == "u-9" and principal.scopes == {"orders:create"}
    with pytest.raises(AuthError):
        await verifier.verify(dev.mint(["orders:create"], ttl=1, now=time.time() - 120))


def test_racing_processes_end_up_with_one_dev_key(tmp_path: Path) -> None:
    directory = tmp_path / "dev-issuer"
    kids: list[str] = []

    def open_issuer() -> None:
        kids.append(DevIssuer.open(directory, issuer="i", audience="a").kid)

    threads = [threading.Thread(target=open_issuer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kids) == 8 and len(set(kids)) == 1
    assert sorted(p.name for p in directory.iterdir()) == [".gitignore", "jwks.json", "private.pem"]
    assert [p for p in tmp_path.iterdir() if p.name != "dev-issuer"] == []  # no staging left behind
    ensure_keys(directory)  # present: untouched
    assert DevIssuer.open(directory, issuer="i", audience="a").kid == kids[0]


def test_token_lifetimes_read_like_durations() -> None:
    assert parse_ttl("1h") == 3600 and parse_ttl("15m") == 900 and parse_ttl("90") == 90
    assert parse_ttl(30.5) == 30.5
    with pytest.raises(ValueError):
        parse_ttl("soon")
    with pytest.raises(ValueError):
        parse_ttl(0)


# Rate limits


@pytest.mark.anyio
async def test_the_rate_limit_counts_per_key_in_memory() -> None:
    limiter = GatewayRateLimiter(3, 60, namespace=f"test-{uuid.uuid4().hex}")
    decisions = [await limiter.check("sub:alice") for _ in range(4)]
    assert [d.allowed for d in decisions if d] == [True, True, True, False]
    refused = decisions[-1]
    assert refused is not None and 55 <= refused.reset_after <= 60
    assert refused.headers()["Retry-After"] == refused.headers()["RateLimit-Reset"]
    assert refused.headers()["RateLimit-Remaining"] == "0"
    bob = await limiter.check("sub:bob")
    assert bob is not None and bob.allowed and bob.remaining == 2
    await limiter.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window", "sliding-window-counter"])
async def test_the_in_memory_rate_limit_sweeps_at_most_once_a_second(
    strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """limits' memory storage started a sweep of expired entries (a thread per key) on every hit: the
    gateway's asks for one once a SWEEP_INTERVAL, and its counts still hold (entries that left the window
    free their places, swept or not)."""
    import limits.aio.storage.memory
    import limits.aio.strategies
    from limits.aio.storage.memory import MemoryStorage

    from msgen_runtime.gateway import ratelimit

    sweeps = 0
    real = MemoryStorage._MemoryStorage__schedule_expiry  # type: ignore[attr-defined]

    async def counting(self: MemoryStorage) -> None:
        nonlocal sweeps
        sweeps += 1
        await real(self)

    monkeypatch.setattr(MemoryStorage, "_MemoryStorage__schedule_expiry", counting)
    # limits and the sweep read the time module: a hand-moved one keeps the 40 hits within one window and one
    # sweep interval however slow the machine
    clock = HandClock()
    for module in (limits.aio.storage.memory, limits.aio.strategies, ratelimit):
        monkeypatch.setattr(module, "time", clock)
    limiter = GatewayRateLimiter(5, 1, strategy=strategy, namespace=f"test-{uuid.uuid4().hex}")
    decisions = [await limiter.check("sub:alice") for _ in range(40)]
    assert [d.allowed for d in decisions if d].count(True) == 5
    assert sweeps == 1  # limits alone: one per hit, 40
    clock.advance(2.1)  # the window has passed (twice the period for a sliding counter), and the sweep interval
    again = await limiter.check("sub:alice")
    assert again is not None and again.allowed
    assert sweeps == 2
    await limiter.aclose()


def test_rate_limit_periods_become_whole_seconds() -> None:
    assert (rate_limit_item(100, 1).amount, rate_limit_item(100, 1).multiples) == (100, 1)
    assert (rate_limit_item(10, 0.5).amount, rate_limit_item(10, 0.5).multiples) == (20, 1)
    assert (rate_limit_item(5, 60).amount, rate_limit_item(5, 60).multiples) == (5, 60)


@pytest.mark.anyio
@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window", "sliding-window-counter"])
async def test_replicas_share_the_rate_limit_through_redis(redis_url: str, strategy: str) -> None:
    from redis.asyncio import Redis

    namespace = f"msgen-test-gateway-{uuid.uuid4().hex[:12]}"
    replicas = [GatewayRateLimiter(4, 60, strategy=strategy, redis_url=redis_url, namespace=namespace) for _ in "ab"]
    redis = Redis.from_url(redis_url)
    try:
        allowed = []
        for i in range(6):
            decision = await replicas[i % 2].check("sub:shared")
            assert decision is not None
            allowed.append(decision.allowed)
        assert allowed == [True, True, True, True, False, False]
        assert [key async for key in redis.scan_iter(f"{namespace}*")]  # counted in Redis, under the prefix
    finally:
        async for key in redis.scan_iter(f"{namespace}*"):
            await redis.delete(key)
        await redis.aclose()
        for replica in replicas:
            await replica.aclose()


@pytest.mark.anyio
async def test_an_unreachable_redis_lets_requests_through_quickly() -> None:
    limiter = GatewayRateLimiter(1, 60, redis_url="redis://127.0.0.1:9/0", namespace="unreachable")
    before = LIMITER_ERRORS._value.get()
    started = time.monotonic()
    assert await limiter.check("ip:127.0.0.1") is None
    # let through at once (a refused connection, else the limiter's 0.25 s timeouts) rather than held for the
    # request's deadline: a bound far from both, which a loaded machine cannot reach
    assert time.monotonic() - started < 10
    assert LIMITER_ERRORS._value.get() == before + 1
    await limiter.aclose()


# Routing


def test_routes_prefer_literal_segments_and_refuse_dot_segments() -> None:
    table = RouteTable(
        [
            Route("GET", "/v1/orders/{id}", "order"),
            Route("GET", "/v1/orders/search", "search"),
            Route("DELETE", "/v1/orders/{id}", "order"),
        ]
    )
    found, _ = table.match("GET", "/v1/orders/search")
    assert found is not None and found.route.upstream == "search"
    found, _ = table.match("GET", "/v1/orders/42")
    assert found is not None and found.params == {"id": "42"}
    assert table.match("PUT", "/v1/orders/42") == (None, ("DELETE", "GET"))
    assert table.match("GET", "/v1/orders/..") == (None, ())
    assert table.match("GET", "/v1/nothing") == (None, ())


def test_the_generated_route_table_covers_every_operation_and_the_status_stream(shop: Generated) -> None:
    routes = gateway_routes(shop.system)
    operations = {(op.method, op.path) for s in shop.system.services for op in s.operations}
    assert {(r.method, r.path) for r in routes if not r.sse} == operations
    [stream] = [r for r in routes if r.sse]
    assert stream.path == "/v1/orders/{id}/events" and stream.scopes == ("orders:read",)
    assert all(r.idempotent_read == (r.method == "GET") for r in routes)


# The whole gateway


def test_a_down_upstream_is_a_fast_503_the_breaker_opens_then_it_recovers(
    start: Callable[..., AbstractContextManager[httpx.Client]],
    upstream: FakeUpstream,
    dev: DevIssuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import circuitbreaker

    # The breaker's clock, moved by hand: on a loaded machine the failures could otherwise outlast the 0.5 s
    # recovery time, and the request meant to find the circuit open would be its trial.
    clock = HandClock()
    monkeypatch.setattr(circuitbreaker, "monotonic", clock)
    token = bearer(dev.mint(["orders:read"]))
    # "Fast" is against a hang until the route's timeout: 60 s here, so that the 10 s bound below is far from
    # both the milliseconds a refused connection takes and the hang (which would be a 504, not a 503).
    with start(timeout=60) as http:
        assert http.get("/v1/orders", headers=token).status_code == 200
        upstream.stop()
        for _ in range(3):  # refused connections, retried (a read), then given up: 503, quickly
            started = time.monotonic()
            answer = http.get("/v1/orders", headers=token)
            assert answer.status_code == 503 and time.monotonic() - started < 10
            assert answer.headers["content-type"] == "application/problem+json"
        open_circuit = http.get("/v1/orders", headers=token)
        assert open_circuit.status_code == 503
        assert "circuit open" in open_circuit.json()["detail"] and int(open_circuit.headers["retry-after"]) >= 1
        upstream.start()
        clock.advance(0.6)  # the recovery time: one trial request goes through and closes the circuit
        assert http.get("/v1/orders", headers=token).status_code == 200
        assert http.get("/v1/orders", headers=token).status_code == 200


def test_a_hanging_upstream_is_a_504_within_the_routes_timeout(
    start: Callable[..., AbstractContextManager[httpx.Client]], upstream: FakeUpstream
) -> None:
    upstream.delay = 10
    with start() as http:
        started = time.monotonic()
        answer = http.get("/v1/slow")
        assert answer.status_code == 504
        # answered at the route's 0.3 s deadline, long before the upstream's 10 s (a bound far from both)
        assert 0.25 < time.monotonic() - started < 8
        # one deadline for the attempts together: no retry once it has passed (a deadline per attempt: 3)
        assert len(upstream.seen) <= 1


def test_prefer_wait_is_passed_on_and_lengthens_the_routes_timeout_by_its_max_wait_at_most(
    start: Callable[..., AbstractContextManager[httpx.Client]], upstream: FakeUpstream
) -> None:
    upstream.delay = 2  # past the route's 0.3 s, far within 0.3 + 30 s
    with start() as http:
        assert http.post("/v1/slow", json={}).status_code == 504  # no preference: the route's own timeout
        assert http.post("/v1/slow", json={}, headers={"Prefer": "wait=abc"}).status_code == 504
        upstream.seen.clear()
        answer = http.post("/v1/slow", json={}, headers={"Prefer": "respond-async, wait=30"})
        assert answer.status_code == 200, answer.text
        sent = upstream.seen[-1]["headers"]
        assert sent["prefer"] == "respond-async, wait=30"
        # the service is told it has the route's timeout plus the wait (less what the sending took)
        assert 25_000 < int(sent["x-request-timeout-ms"]) <= 30_300
        upstream.seen.clear()
        http.post("/v1/slow", json={}, headers={"Prefer": "wait=3600"})  # no more than max_wait
        assert 55_000 < int(upstream.seen[-1]["headers"]["x-request-timeout-ms"]) <= 60_300
        # a route without max_wait does not wait longer for anyone
        upstream.delay = 0
        upstream.seen.clear()
        http.get("/v1/products", headers={"Prefer": "wait=30"})
        assert int(upstream.seen[-1]["headers"]["x-request-timeout-ms"]) <= 5_000


def test_a_cookie_an_upstream_sets_for_one_caller_never_goes_upstream_with_anothers_request(
    start: Callable[..., AbstractContextManager[httpx.Client]], upstream: FakeUpstream, dev: DevIssuer
) -> None:
    upstream.answer_headers = {"set-cookie": "session=alice-secret; Path=/"}
    alice, bob = bearer(dev.mint(["orders:read"], sub="alice")), bearer(dev.mint(["orders:read"], sub="bob"))
    with start() as http:
        first = http.get("/v1/orders", headers=alice)
        assert first.status_code == 200
        assert "alice-secret" in first.headers["set-cookie"]  # the answer's header reaches its own caller
        http.cookies.clear()  # Bob's client has never seen it
        upstream.answer_headers = {}
        upstream.seen.clear()
        assert http.get("/v1/orders", headers=bob).status_code == 200
        (seen,) = upstream.seen
        assert "alice-secret" not in seen["headers"].get("cookie", "")


def test_only_idempotent_reads_are_retried_and_the_upstreams_answer_passes_through(
    start: Callable[..., AbstractContextManager[httpx.Client]], upstream: FakeUpstream, dev: DevIssuer
) -> None:
    upstream.status = 503
    token = bearer(dev.mint(["orders:read", "orders:create"]))
    with start(breaker_failure_threshold=100) as http:
        read = http.get("/v1/orders?limit=5", headers=token)
        assert read.status_code == 503 and read.json() == {"method": "GET", "path": "/v1/orders"}
        assert [(s["method"], s["query"]) for s in upstream.seen] == [("GET", "limit=5")] * 3
        upstream.seen.clear()
        assert http.post("/v1/orders", json={}, headers=token).status_code == 503
        assert len(upstream.seen) == 1


def test_server_sent_events_are_relayed_as_they_come(
    start: Callable[..., AbstractContextManager[httpx.Client]], upstream: FakeUpstream, dev: DevIssuer
) -> None:
    # The upstream sends its second event only once the first has reached the client: buffered, the first would
    # never come alone (both would, at the end, once the upstream gives up waiting).
    upstream.events_released = threading.Event()
    token = bearer(dev.mint(["orders:read"]))
    with start() as http, http.stream("GET", "/v1/orders/7/events", headers=token) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        chunks = answer.iter_raw()
        first = next(chunks)
        upstream.events_released.set()
        rest = b"".join(chunks)
    assert b"PENDING" in first and b"CONFIRMED" not in first
    assert (first + rest).count(b"event: status") == 2


def test_refusals_are_problems_with_www_authenticate_and_rate_limit_headers(
    start: Callable[..., AbstractContextManager[httpx.Client]], upstream: FakeUpstream, dev: DevIssuer, idp: TestIssuer
) -> None:
    with start(rate_limit_requests=4, rate_limit_period=60, rate_limit_namespace=uuid.uuid4().hex) as http:
        missing = http.get("/v1/orders")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Bearer realm="test"'
        basic = http.get("/v1/orders", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 401 and 'error="invalid_request"' in basic.headers["www-authenticate"]
        scope = http.post("/v1/orders", headers=bearer(idp.token(["orders:read"])))
        assert scope.status_code == 403
        assert scope.headers["www-authenticate"] == (
            'Bearer realm="test", error="insufficient_scope", '
            'error_description="the token lacks orders:create", scope="orders:create"'
        )
        assert scope.headers["ratelimit-limit"] == "4"
        assert upstream.seen == []
        before = THROTTLED.labels("/v1/products")._value.get()
        # Anonymous requests count per IP, the two 401s above included; the 403 counted for its token's subject.
        statuses = [http.get("/v1/products").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert THROTTLED.labels("/v1/products")._value.get() == before + 1
        assert 'gateway_rate_limited_total{route="/v1/products"}' in http.get("/metrics").text
        # A valid token has its own budget.
        assert http.get("/v1/orders", headers=bearer(dev.mint(["orders:read"], sub="fresh"))).status_code == 200


def test_a_gateway_without_issuers_in_dev_mode_lets_every_route_through(
    start: Callable[..., AbstractContextManager[httpx.Client]],
) -> None:
    with start(oidc_issuer=None, dev_issuer_enabled=False, dev_mode=True) as http:
        assert http.get("/v1/orders").status_code == 200


def test_an_issuer_whose_keys_cannot_be_fetched_is_a_503_on_secured_routes(
    start: Callable[..., AbstractContextManager[httpx.Client]], idp: TestIssuer
) -> None:
    with start(oidc_jwks_url="http://127.0.0.1:9/jwks.json", jwks_fetch_timeout=0.5) as http:
        answer = http.get("/v1/orders", headers=bearer(idp.token(["orders:read"])))
        assert answer.status_code == 503 and answer.headers["retry-after"]
        assert http.get("/v1/products", headers=bearer(idp.token())).status_code == 200  # public: not checked


def test_bodies_over_the_limit_are_413_with_or_without_content_length(
    start: Callable[..., AbstractContextManager[httpx.Client]], upstream: FakeUpstream, dev: DevIssuer
) -> None:
    token = bearer(dev.mint(["orders:create"]))
    with start(max_body=100) as http:
        assert http.post("/v1/orders", content=b"x" * 100, headers=token).status_code == 200
        assert http.post("/v1/orders", content=b"x" * 101, headers=token).status_code == 413
        assert http.post("/v1/orders", content=iter([b"y" * 60, b"y" * 60]), headers=token).status_code == 413
        assert [s["size"] for s in upstream.seen] == [100]


def test_readiness_follows_the_upstreams_through_a_short_cache(
    start: Callable[..., AbstractContextManager[httpx.Client]], upstream: FakeUpstream
) -> None:
    clock = HandClock()  # the cache's clock: "still cached" holds however slow the machine
    with start(ready_cache_seconds=0.3, clock=clock) as http:
        ready = http.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["checks"] == {"order": "ok", "product": "ok"}
        upstream.ready = False
        assert http.get("/health/ready").status_code == 200  # cached
        clock.advance(0.35)
        assert http.get("/health/ready").status_code == 503
        assert http.get("/health/live").status_code == 200


def test_the_internal_token_names_its_upstream_and_template_services_get_none(
    upstream: FakeUpstream, dev: DevIssuer
) -> None:
    secret = "gateway-runtime-test-secret-0123456789abcdef"
    routes = (
        Route("GET", "/v1/products", "product", idempotent_read=True),
        Route("GET", "/v1/orders", "order", idempotent_read=True, prefix=True),  # a service made from a template
    )
    settings = Settings(
        order_url=upstream.url,
        product_url=upstream.url,
        dev_mode=True,
        dev_issuer_enabled=True,
        dev_issuer=dev.issuer,
        dev_issuer_dir=str(dev.directory),
        oidc_audience=AUDIENCE,
        internal_auth_secret=secret,
    )
    with serve_app(create_gateway_app(settings, routes)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/v1/products").status_code == 200
        assert http.get("/v1/orders/x", headers={"X-Internal-Token": "forged"}).status_code == 200
    to_product, to_template = upstream.seen[-2]["headers"], upstream.seen[-1]["headers"]
    caller = InternalAuth(secret, issuer="product").verify(to_product["x-internal-token"])
    assert (caller.issuer, caller.subject) == ("gateway", "anonymous")
    with pytest.raises(Problem):  # meant for product only
        InternalAuth(secret, issuer="order").verify(to_product["x-internal-token"])
    assert "x-internal-token" not in to_template
    # A user named like a service never looks like it: the forwarded subject says which it is.
    with serve_app(create_gateway_app(settings, routes)) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/v1/products", headers=bearer(dev.mint([], sub="order"))).status_code == 200
    forwarded = InternalAuth(secret, issuer="product").verify(upstream.seen[-1]["headers"]["x-internal-token"])
    assert forwarded.subject == "user:order" and forwarded.subject != "service:order"


class _SlowRotatingKeys:
    """A key source that yields to the loop before answering: its key can be swapped meanwhile."""

    def __init__(self, keys: dict[str | None, VerificationKey]) -> None:
        self.keys = keys

    async def key(self, kid: str | None) -> VerificationKey | None:
        await asyncio.sleep(0)
        return self.keys.get(kid)

    async def aclose(self) -> None:
        return None


@pytest.mark.anyio
async def test_two_requests_with_a_token_whose_key_was_withdrawn_both_get_401_not_500(idp: TestIssuer) -> None:
    source = _SlowRotatingKeys(parse_jwks(idp.jwks()))
    verifier = TokenVerifier({ISSUER: source}, audience=AUDIENCE, leeway=5)
    token = idp.token()
    await verifier.verify(token)  # remembered
    source.keys = parse_jwks({"keys": [TestIssuer(ISSUER, AUDIENCE, kid="test-key-2").jwk()]})  # withdrawn
    outcomes = await asyncio.gather(verifier.verify(token), verifier.verify(token), return_exceptions=True)
    assert all(isinstance(o, AuthError) and o.status == 401 for o in outcomes), outcomes


def _status_service(database: Path) -> Any:
    """A service with one entity's status log, streamed as the generated saga route streams it."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
    from sqlalchemy.orm import DeclarativeBase

    from msgen_runtime.messaging.saga import StatusLogMixin, status_stream

    class Base(DeclarativeBase):
        pass

    class StatusLog(Base, StatusLogMixin):
        __tablename__ = "status_log"

    at = datetime(2026, 1, 1, tzinfo=UTC)
    with sa.create_engine(f"sqlite:///{database}").begin() as connection:
        StatusLog.metadata.create_all(connection)
        for entity, status in [("7", "PENDING"), ("8", "PENDING"), ("7", "RESERVED"), ("7", "CONFIRMED")]:
            connection.execute(
                sa.insert(StatusLog.__table__).values(entity_id=entity, status=status, cause="test", at=at)
            )
    engine = create_async_engine(f"sqlite+aiosqlite:///{database}")
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()  # no pooled connection (and its aiosqlite thread) outlives the server

    app = FastAPI(lifespan=lifespan)

    @app.get("/v1/orders/{id}/events")
    async def events(id: str, last_event_id: Annotated[str | None, Header()] = None) -> Any:
        final = frozenset({"CONFIRMED", "CANCELLED"})
        return await status_stream(sessions, StatusLog, id, final=final, last_event_id=last_event_id)

    return app


def test_a_reconnecting_event_stream_gets_only_the_events_after_its_last_event_id(
    start: Callable[..., AbstractContextManager[httpx.Client]], dev: DevIssuer, tmp_path: Path
) -> None:
    """Through the gateway to a real service: Last-Event-ID passes, and only later statuses come back."""
    token = bearer(dev.mint(["orders:read"]))

    def ids(http: httpx.Client, last: str | None) -> tuple[int, list[str]]:
        headers = {**token, **({"Last-Event-ID": last} if last is not None else {})}
        answer = http.get("/v1/orders/7/events", headers=headers, timeout=30)
        return answer.status_code, re.findall(r"^id: (\d+)\r?$", answer.text, re.MULTILINE)

    with (
        serve_app(_status_service(tmp_path / "statuses.db")) as service,
        start(order_url=service, cors_origins=["https://shop.example"]) as http,
    ):
        assert ids(http, None) == (200, ["1", "3", "4"])  # entity 8's status (id 2) is not 7's
        assert ids(http, "1") == (200, ["3", "4"])
        assert ids(http, "3") == (200, ["4"])
        assert ids(http, "4") == (204, [])  # already saw the final status: an EventSource stops reconnecting
        assert ids(http, "not-an-id") == (200, ["1", "3", "4"])
        preflight = http.options(
            "/v1/orders/7/events",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, last-event-id",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert "last-event-id" in preflight.headers["access-control-allow-headers"].lower()


def _streams_of(entity: str) -> int:
    from msgen_runtime.messaging.saga import _watchers

    return len(_watchers.get(entity, ()))


def _wait_for(condition: Callable[[], bool], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within}s ({_streams_of('8')} streams of entity 8)")
        time.sleep(0.02)


def _messages(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The Server-Sent Events messages (an event or a comment, its blank line included) in a stream's chunks."""
    buffered = b""
    for chunk in chunks:
        buffered += chunk
        while b"\r\n\r\n" in buffered:
            message, buffered = buffered.split(b"\r\n\r\n", 1)
            yield message + b"\r\n\r\n"
    if buffered:
        yield buffered


def test_a_status_stream_waits_for_the_next_status_sends_sse_starlettes_bytes_and_ends_at_the_final_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from sse_starlette import ServerSentEvent

    from msgen_runtime import sse

    monkeypatch.setattr(sse, "HEARTBEAT", 0.3)  # a comment line after 0.3 s without a status
    database = tmp_path / "statuses.db"
    with serve_app(_status_service(database)) as service, httpx.Client(base_url=service, timeout=30) as http:
        with http.stream("GET", "/v1/orders/8/events") as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert answer.headers["cache-control"] == "no-store" and answer.headers["x-accel-buffering"] == "no"
            assert "content-length" not in answer.headers
            # read message by message, not chunk by chunk: a loaded machine may read the event and the heartbeat
            # sent 0.3 s later in one chunk
            chunks = _messages(answer.iter_raw())
            first = next(chunks)
            assert first.startswith(b"id: 2\r\nevent: status\r\ndata: {") and first.endswith(b"}\r\n\r\n")
            data = json.loads(first.split(b"data: ")[1])
            assert data["status"] == "PENDING"
            assert first == ServerSentEvent(id="2", event="status", data=json.dumps(data)).encode()
            assert next(chunks).startswith(b": ping - ")  # the heartbeat while nothing happens
            with sqlite3.connect(database) as connection:  # another replica's commit: seen at the next poll
                connection.execute(
                    "INSERT INTO status_log (entity_id, status, cause, at) VALUES ('8', 'CANCELLED', 'test', ?)",
                    ("2026-01-01 00:00:01.000000",),
                )
            rest = b"".join(chunks)  # ends by itself after the final status
        assert b"id: 5\r\nevent: status\r\n" in rest and b"CANCELLED" in rest
        assert _streams_of("8") == 0
        assert sse.event("status", "9", "a\nb") == ServerSentEvent(id="9", event="status", data="a\nb").encode()


def test_a_client_leaving_a_status_stream_ends_it_and_the_gateway_closes_its_upstream_connection(
    start: Callable[..., AbstractContextManager[httpx.Client]], dev: DevIssuer, tmp_path: Path
) -> None:
    """Entity 8 never reaches a final status: only the client's disconnect can end its streams."""
    token = bearer(dev.mint(["orders:read"]))
    with serve_app(_status_service(tmp_path / "statuses.db")) as service:
        # The chunk iterators are kept: httpcore closes the connection when an abandoned one is collected.
        with httpx.Client(base_url=service, timeout=30) as http, http.stream("GET", "/v1/orders/8/events") as answer:
            chunks = answer.iter_raw()
            assert b"PENDING" in next(chunks)
            _wait_for(lambda: _streams_of("8") == 1, "the service's stream open")
        _wait_for(lambda: _streams_of("8") == 0, "the service's stream ended after its client left")
        with start(order_url=service) as http:
            for _ in range(3):  # the gateway's connection to the service must not be kept for a stream left
                with http.stream("GET", "/v1/orders/8/events", headers=token) as answer:
                    chunks = answer.iter_raw()
                    assert answer.status_code == 200 and b"PENDING" in next(chunks)
                    _wait_for(lambda: _streams_of("8") == 1, "the service's stream open behind the gateway")
                _wait_for(lambda: _streams_of("8") == 0, "the gateway closed the service's stream")
            assert http.get("/v1/orders/7/events", headers=token).text.count("event: status") == 3


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("wait=5", 5.0),
        ("respond-async, wait=10", 10.0),
        ("return=representation; x=1, WAIT = 3", 3.0),
        ('wait="7"', 7.0),
        ("wait=0", 0.0),
        (None, None),
        ("", None),
        ("respond-async", None),
        ("wait=-1", None),
        ("wait=1.5", None),
        ("wait=9999999999", None),
        ("wait=٣", None),  # an Arabic-Indic digit: str.isdigit() says yes, RFC 7240's delta-seconds no
        ("x" * 2000 + ", wait=5", None),
    ],
)
def test_the_wait_preference_is_read_as_rfc_7240_writes_it(header: str | None, seconds: float | None) -> None:
    assert preferred_wait(header) == seconds
