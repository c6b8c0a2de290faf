"""The gateway in front of real sockets: tokens, scopes, rate limits, failures, streams, CORS and sizes."""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from msgen_runtime.callers import InternalAuth
from msgen_runtime.gateway.devtokens import DevIssuer
from msgen_runtime.gateway.testing import (
    FakeUpstream,
    GatewayFactory,
    TestIssuer,
    claims_for,
    hmac_token,
    relabel,
    unsigned_token,
)
from msgen_runtime.problems import Problem

from gateway_app.routes import ROUTES

PROBLEM = "application/problem+json"
SECURED_PATH = "/v1/customers"  # GET
SECURED_ROUTE = "/v1/customers"
SECURED_SCOPES = ["customers:read"]
SECURED_SERVICE = "customer"
WRITE_PATH = "/v1/customers"  # POST
WRITE_SCOPES = ["customers:write"]
STREAM_PATH = "/v1/deliveries/00000000-0000-4000-8000-000000000001/events"  # Server-Sent Events
STREAM_SCOPES = ["deliveries:read"]
ORIGIN = "https://courier.example"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_route_is_unique_and_served_by_a_service() -> None:
    assert ROUTES
    assert len({(r.method, r.path) for r in ROUTES}) == len(ROUTES)
    assert all(r.path.startswith("/v1/") and r.upstream for r in ROUTES)


def test_health_and_metrics(client: httpx.Client, upstream: FakeUpstream) -> None:
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    upstream.ready = False
    assert client.get("/health/ready").status_code == 503
    upstream.ready = True
    assert client.get("/health/ready").status_code == 200
    assert "http_requests_total" in client.get("/metrics").text


def test_an_unknown_route_is_a_404_problem(client: httpx.Client) -> None:
    answer = client.get("/v1/no-such-thing")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["correlation_id"] == answer.headers["x-correlation-id"]


def test_a_missing_token_is_a_401_problem_with_www_authenticate(
    client: httpx.Client, upstream: FakeUpstream
) -> None:
    answer = client.get(SECURED_PATH)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["www-authenticate"].startswith("Bearer realm=")
    assert upstream.seen == []


def test_a_dev_token_with_the_scope_reaches_the_service(
    client: httpx.Client,
    upstream: FakeUpstream,
    dev_issuer: DevIssuer,
    internal_auth: Callable[[str], InternalAuth],
) -> None:
    token = dev_issuer.mint(SECURED_SCOPES, sub="u-1")
    forged = {"X-Internal-Token": "forged-by-the-client"}
    answer = client.get(
        SECURED_PATH, headers={**bearer(token), **forged, "X-Correlation-ID": "gateway-test-1"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"method": "GET", "path": SECURED_PATH}
    assert answer.headers["x-correlation-id"] == "gateway-test-1"
    assert "ratelimit-remaining" in answer.headers
    forwarded = upstream.seen[-1]["headers"]
    assert forwarded["x-correlation-id"] == "gateway-test-1"
    assert forwarded["x-forwarded-for"] == "127.0.0.1"
    # The service's proof that the call came through the gateway, for this user (the client's is dropped).
    assert internal_auth(SECURED_SERVICE).verify(forwarded["x-internal-token"]).subject == "user:u-1"
    with pytest.raises(Problem):  # meant for that service alone
        internal_auth("another-service").verify(forwarded["x-internal-token"])


def test_a_correlation_id_is_created_and_forwarded(
    client: httpx.Client, upstream: FakeUpstream, dev_issuer: DevIssuer
) -> None:
    answer = client.get(SECURED_PATH, headers=bearer(dev_issuer.mint(SECURED_SCOPES)))
    created = answer.headers["x-correlation-id"]
    assert uuid.UUID(created)
    assert upstream.seen[-1]["headers"]["x-correlation-id"] == created


def test_a_token_from_the_oidc_issuer_is_checked_against_its_jwks(
    client: httpx.Client, idp: TestIssuer
) -> None:
    assert client.get(SECURED_PATH, headers=bearer(idp.token(SECURED_SCOPES))).status_code == 200
    wrong_audience = idp.token(SECURED_SCOPES, aud="another-api")
    assert client.get(SECURED_PATH, headers=bearer(wrong_audience)).status_code == 401


def test_a_token_without_the_scope_is_a_403_problem(client: httpx.Client, dev_issuer: DevIssuer) -> None:
    answer = client.get(SECURED_PATH, headers=bearer(dev_issuer.mint(["unrelated:scope"])))
    assert answer.status_code == 403
    assert answer.headers["content-type"] == PROBLEM
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]


def test_an_expired_token_is_401(client: httpx.Client, dev_issuer: DevIssuer) -> None:
    expired = dev_issuer.mint(SECURED_SCOPES, claims={"exp": int(time.time()) - 600})
    answer = client.get(SECURED_PATH, headers=bearer(expired))
    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]


def test_a_token_signed_by_another_key_is_401(
    client: httpx.Client, dev_issuer: DevIssuer, tmp_path: Path
) -> None:
    other = DevIssuer.open(tmp_path / "other", issuer=dev_issuer.issuer, audience=dev_issuer.audience)
    assert client.get(SECURED_PATH, headers=bearer(other.mint(SECURED_SCOPES))).status_code == 401
    # The trusted key's id on a signature by another key.
    forged = relabel(other.mint(SECURED_SCOPES), kid=dev_issuer.kid)
    assert client.get(SECURED_PATH, headers=bearer(forged)).status_code == 401


def test_an_alg_none_token_is_401(client: httpx.Client, dev_issuer: DevIssuer) -> None:
    claims = claims_for(dev_issuer.issuer, dev_issuer.audience, SECURED_SCOPES)
    token = unsigned_token({"alg": "none", "typ": "JWT", "kid": dev_issuer.kid}, claims)
    assert client.get(SECURED_PATH, headers=bearer(token)).status_code == 401


def test_hmac_signed_with_the_issuers_public_key_is_401(client: httpx.Client, idp: TestIssuer) -> None:
    claims = claims_for(idp.issuer, idp.audience, SECURED_SCOPES)
    token = hmac_token(idp.public_pem(), {"alg": "HS256", "typ": "JWT", "kid": idp.kid}, claims)
    assert client.get(SECURED_PATH, headers=bearer(token)).status_code == 401


def test_the_rate_limit_answers_429_with_retry_after(
    start_gateway: GatewayFactory, dev_issuer: DevIssuer
) -> None:
    with (
        start_gateway(rate_limit_requests=3, rate_limit_period=60) as url,
        httpx.Client(base_url=url) as http,
    ):
        token = dev_issuer.mint(SECURED_SCOPES, sub=f"busy-{uuid.uuid4().hex[:8]}")
        remaining = [
            http.get(SECURED_PATH, headers=bearer(token)).headers["ratelimit-remaining"] for _ in range(3)
        ]
        assert remaining == ["2", "1", "0"]
        refused = http.get(SECURED_PATH, headers=bearer(token))
        assert refused.status_code == 429
        assert refused.headers["content-type"] == PROBLEM
        assert 0 < int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-limit"] == "3"
        # Per token: another subject has its own budget.
        assert (
            http.get(SECURED_PATH, headers=bearer(dev_issuer.mint(SECURED_SCOPES, sub="calm"))).status_code
            == 200
        )
        metrics = http.get("/metrics").text
        assert f'gateway_rate_limited_total{{route="{SECURED_ROUTE}"}}' in metrics


def test_a_service_that_is_down_is_a_fast_503_then_recovers(
    start_gateway: GatewayFactory, upstream: FakeUpstream, dev_issuer: DevIssuer
) -> None:
    token = dev_issuer.mint(SECURED_SCOPES)
    # "Fast" is against a hang until the gateway's timeout, 60 s here: the 10 s bound below is far from both
    # the milliseconds a refused connection takes (a busy machine cannot reach it) and the hang.
    with start_gateway(timeout=60) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get(SECURED_PATH, headers=bearer(token)).status_code == 200
        upstream.stop()
        answers = []
        for _ in range(6):
            started = time.monotonic()
            answers.append(client.get(SECURED_PATH, headers=bearer(token)))
            assert time.monotonic() - started < 10
        assert {a.status_code for a in answers} == {503}
        assert answers[-1].headers["content-type"] == PROBLEM
        assert "retry-after" in answers[-1].headers  # the breaker is open: failing fast
        upstream.start()
        deadline = time.monotonic() + 60
        while client.get(SECURED_PATH, headers=bearer(token)).status_code != 200:
            assert time.monotonic() < deadline, "the gateway did not recover"
            time.sleep(0.1)


def test_server_sent_events_pass_through_unbuffered(
    client: httpx.Client, upstream: FakeUpstream, dev_issuer: DevIssuer
) -> None:
    # The upstream sends its second event only once the first has reached us: buffered, the first would never
    # come alone (both would, at the end, once the upstream gives up waiting).
    released = threading.Event()
    upstream.events_released = released
    with client.stream("GET", STREAM_PATH, headers=bearer(dev_issuer.mint(STREAM_SCOPES))) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        chunks = answer.iter_raw()
        first = next(chunks)
        released.set()
        rest = b"".join(chunks)
    assert b"PENDING" in first and b"CONFIRMED" not in first
    assert (first + rest).count(b"event: status") == 2


def test_cors_follows_the_spec(client: httpx.Client, dev_issuer: DevIssuer) -> None:
    preflight = client.options(
        SECURED_PATH,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    answer = client.get(SECURED_PATH, headers={"Origin": ORIGIN, **bearer(dev_issuer.mint(SECURED_SCOPES))})
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    assert "x-correlation-id" in answer.headers["access-control-expose-headers"].lower()
    stranger = client.options(
        SECURED_PATH, headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in stranger.headers


def test_a_body_over_the_limit_is_a_413_problem(
    start_gateway: GatewayFactory, upstream: FakeUpstream, dev_issuer: DevIssuer
) -> None:
    token = bearer(dev_issuer.mint(WRITE_SCOPES))
    with start_gateway(max_body=1024) as url, httpx.Client(base_url=url) as http:
        assert http.post(WRITE_PATH, content=b"x" * 1024, headers=token).status_code == 200
        assert upstream.seen[-1]["size"] == 1024
        too_large = http.post(WRITE_PATH, content=b"x" * 1025, headers=token)
        assert too_large.status_code == 413
        assert too_large.headers["content-type"] == PROBLEM

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
            for _ in range(4):
                yield b"y" * 512

        assert http.post(WRITE_PATH, content=chunks(), headers=token).status_code == 413
        assert upstream.seen[-1]["size"] == 1024
