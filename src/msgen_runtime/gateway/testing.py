"""Test doubles for gateway suites: a fake upstream on a real socket, an OIDC issuer, forged tokens.

Used by msgen's own tests and by every generated gateway's suite.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from msgen_runtime.testing import serve_app

__all__ = [
    "FakeUpstream",
    "GatewayFactory",
    "TestIssuer",
    "b64url",
    "claims_for",
    "hmac_token",
    "relabel",
    "unsigned_token",
]

GatewayFactory = Callable[..., AbstractContextManager[str]]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """`header.claims.` with an empty signature (what `alg: none` looks like)."""
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def hmac_token(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token MACed with `secret` (e.g. an issuer's public key PEM: the HMAC/RSA confusion attack)."""
    signing_input = unsigned_token(header, claims)[:-1]
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def relabel(token: str, **header: Any) -> str:
    """The same claims and signature under a changed header (e.g. another key's id)."""
    head, body, signature = token.split(".")
    original = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return f"{b64url(json.dumps({**original, **header}).encode())}.{body}.{signature}"


def claims_for(issuer: str, audience: str | None, scopes: Iterable[str] = (), **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": "test-user",
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + 300,
    }
    if audience is not None:
        claims["aud"] = audience
    return {**claims, **extra}


class TestIssuer:
    """An OIDC issuer's signing side: an RSA key, its JWKS, and tokens signed with it."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, issuer: str, audience: str | None, *, kid: str = "test-key-1", alg: str = "RS256") -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = kid
        self.alg = alg
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(self, scopes: Iterable[str] = (), *, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        payload = claims_for(self.issuer, self.audience, scopes, **claims)
        return jwt.encode(payload, self.key, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})})


EVENT_HOLD_LIMIT = 60.0  # seconds a held status event waits for its release at most


class FakeUpstream:
    """Every service at once on a real socket: echoes requests, streams status events, serves a JWKS."""

    def __init__(self, jwks: dict[str, Any] | None = None, *, event_gap: float = 0.5) -> None:
        self.jwks: dict[str, Any] = jwks or {"keys": []}
        self.seen: list[dict[str, Any]] = []
        self.ready = True
        self.status = 200  # the status of echoed answers
        self.delay = 0.0  # seconds before an echoed answer
        self.answer_headers: dict[str, str] = {}  # extra headers of echoed answers (a Set-Cookie, say)
        self.jwks_fetches = 0
        self.event_gap = event_gap
        # When set, the next status event is sent only once this is set (or after EVENT_HOLD_LIMIT seconds), not
        # `event_gap` later: a test can then tell unbuffered relaying by what it read, not by the clock.
        self.events_released: threading.Event | None = None
        self.port = 0
        self._stack: ExitStack | None = None
        app = FastAPI()

        @app.get("/health/ready")
        async def ready() -> JSONResponse:
            return JSONResponse(
                {"status": "ok" if self.ready else "unavailable"}, status_code=200 if self.ready else 503
            )

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {"issuer": "test", "jwks_uri": f"{self.url}/.well-known/jwks.json"}

        @app.get("/.well-known/jwks.json")
        async def keys() -> dict[str, Any]:
            self.jwks_fetches += 1
            return self.jwks

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        async def anything(request: Request, path: str) -> Response:
            body = await request.body()
            self.seen.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "query": request.url.query,
                    "headers": dict(request.headers),
                    "size": len(body),
                }
            )
            if path.endswith("/events"):
                return StreamingResponse(self._events(), media_type="text/event-stream")
            if self.delay:
                await asyncio.sleep(self.delay)
            return JSONResponse(
                {"method": request.method, "path": request.url.path},
                status_code=self.status,
                headers=self.answer_headers,
            )

        self.app = app

    async def _events(self) -> AsyncIterator[str]:
        for status in ("PENDING", "CONFIRMED"):
            yield f"event: status\ndata: {status}\n\n"
            if self.events_released is None:
                await asyncio.sleep(self.event_gap)
            else:
                await asyncio.to_thread(self.events_released.wait, EVENT_HOLD_LIMIT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve; after a stop, again on the same port."""
        self._stack = ExitStack()
        url = self._stack.enter_context(serve_app(self.app, port=self.port))
        self.port = int(url.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
