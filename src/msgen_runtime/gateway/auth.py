"""Bearer tokens: JWTs verified against their issuer's signing keys, then scopes.

Only asymmetric algorithms are accepted, and for each key only those its JWK
allows (its `alg`, or its key type's family when it names none): `alg: none`,
HMAC with a public key as the secret, and a key used with another algorithm
than its own are refused before any signature is checked. The issuer's JWKS is
fetched over HTTP and cached; an unknown key id triggers one refetch (key
rotation), at most once per `min_refresh` seconds so that forged key ids cannot
make the gateway hammer the issuer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "EC_ALGORITHMS",
    "MAX_TOKEN_BYTES",
    "RSA_ALGORITHMS",
    "AuthError",
    "KeySource",
    "KeysUnavailable",
    "LocalJwks",
    "Principal",
    "RemoteJwks",
    "TokenVerifier",
    "VerificationKey",
    "allowed_algorithms",
    "invalid_token",
    "parse_jwks",
    "token_scopes",
]

_log = logging.getLogger("msgen.gateway.auth")

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
ASYMMETRIC_ALGORITHMS = RSA_ALGORITHMS | frozenset(EC_ALGORITHMS.values()) | {"EdDSA"}
MAX_TOKEN_BYTES = 8192


class KeysUnavailable(Exception):
    """The issuer's keys could not be fetched and none are cached: tokens cannot be checked now."""


class AuthError(Exception):
    """A request that cannot be let through: 401 (invalid token), 403 (scope) or 503 (keys unavailable)."""

    def __init__(self, status: int, error: str, description: str, *, scope: tuple[str, ...] = ()) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope


def invalid_token(description: str) -> AuthError:
    return AuthError(401, "invalid_token", description)


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for."""

    subject: str
    issuer: str
    scopes: frozenset[str]
    claims: Mapping[str, Any]


@dataclass(frozen=True)
class VerificationKey:
    kid: str | None
    key: Any  # a cryptography public key
    algorithms: frozenset[str]


def allowed_algorithms(jwk: Mapping[str, Any]) -> frozenset[str]:
    """The asymmetric algorithms a JWK may verify: its declared `alg`, else its key type's family."""
    kty = jwk.get("kty")
    if kty == "RSA":
        family = RSA_ALGORITHMS
    elif kty == "EC":
        curve = EC_ALGORITHMS.get(str(jwk.get("crv")))
        family = frozenset({curve}) if curve else frozenset()
    elif kty == "OKP" and jwk.get("crv") in ("Ed25519", "Ed448"):
        family = frozenset({"EdDSA"})
    else:  # "oct" (a shared secret) never verifies a bearer token here
        family = frozenset()
    declared = jwk.get("alg")
    if declared is not None:
        return family & {declared}
    return family


def parse_jwks(document: Any) -> dict[str | None, VerificationKey]:
    """The usable signing keys of a JWKS document, by key id; unusable keys are skipped."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    keys: dict[str | None, VerificationKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig":
            continue
        algorithms = allowed_algorithms(entry)
        if not algorithms:
            continue
        try:
            parsed = jwt.PyJWK(dict(entry), algorithm=entry.get("alg") or sorted(algorithms)[0])
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            _log.warning("jwks.key_skipped", extra={"kid": entry.get("kid")})
            continue
        kid = entry.get("kid") if isinstance(entry.get("kid"), str) else None
        key = parsed.key
        if hasattr(key, "public_key"):  # a JWKS that leaks a private key still only verifies
            key = key.public_key()
        keys[kid] = VerificationKey(kid, key, algorithms)
    return keys


def _lookup(keys: Mapping[str | None, VerificationKey], kid: str | None) -> VerificationKey | None:
    if kid is not None:
        return keys.get(kid)
    # A token without a key id is only accepted from an issuer with a single key.
    return next(iter(keys.values())) if len(keys) == 1 else None


class KeySource(Protocol):
    async def key(self, kid: str | None) -> VerificationKey | None: ...

    async def aclose(self) -> None: ...


class RemoteJwks:
    """An issuer's JWKS over HTTP: cached, refetched when stale or on an unknown key id (rate-limited)."""

    def __init__(
        self,
        url: str | None,
        *,
        issuer: str | None = None,
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = 10.0,
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if url is None and issuer is None:
            raise ValueError("a JWKS URL or an issuer (for OIDC discovery) is needed")
        self.url = url
        self.issuer = issuer
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.http = httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=True)
        self.clock = clock
        self._keys: dict[str | None, VerificationKey] | None = None
        self._expires = 0.0
        self._last_attempt: float | None = None
        self._generation = 0
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def key(self, kid: str | None) -> VerificationKey | None:
        if self._keys is None or self.clock() >= self._expires:
            await self._refresh(self._generation)
        if self._keys is None:
            raise KeysUnavailable(f"the signing keys of {self.url or self.issuer} could not be fetched")
        found = _lookup(self._keys, kid)
        if found is None and self._may_refetch():
            await self._refresh(self._generation)  # a rotated key: the issuer publishes it before using it
            found = _lookup(self._keys, kid)
        return found

    def _may_refetch(self) -> bool:
        return self._last_attempt is None or self.clock() - self._last_attempt >= self.min_refresh_seconds

    async def _refresh(self, seen: int) -> None:
        async with self._lock:
            if self._generation != seen or not self._may_refetch():
                return  # another request refreshed while this one waited, or one did so a moment ago
            self._last_attempt = self.clock()
            try:
                keys = parse_jwks(await self._fetch())
            except (httpx.HTTPError, ValueError) as exc:
                _log.warning("jwks.fetch_failed", extra={"url": self.url, "error": str(exc)})
                if self._keys is not None:  # keep the stale keys; try again after min_refresh
                    self._expires = self.clock() + self.min_refresh_seconds
                return
            finally:
                self._generation += 1
            self._keys = keys
            self._expires = self.clock() + self.cache_seconds
            _log.info("jwks.fetched", extra={"url": self.url, "kids": sorted(k for k in keys if k)})

    async def _fetch(self) -> Any:
        if self.url is None:
            assert self.issuer is not None
            discovery = await self.http.get(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            discovery.raise_for_status()
            jwks_uri = discovery.json().get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise ValueError("the OpenID configuration names no jwks_uri")
            self.url = jwks_uri
        response = await self.http.get(self.url)
        response.raise_for_status()
        return response.json()


class LocalJwks:
    """A JWKS file (the dev issuer's): read on first use and reread on an unknown key id."""

    def __init__(self, path: Path, *, min_refresh_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.path = path
        self.min_refresh_seconds = min_refresh_seconds
        self.clock = clock
        self._keys: dict[str | None, VerificationKey] = {}
        self._loaded_at: float | None = None

    async def aclose(self) -> None:
        return None

    async def key(self, kid: str | None) -> VerificationKey | None:
        found = _lookup(self._keys, kid)
        if found is None and (self._loaded_at is None or self.clock() - self._loaded_at >= self.min_refresh_seconds):
            self._loaded_at = self.clock()
            try:
                self._keys = parse_jwks(json.loads(self.path.read_text()))
            except (OSError, ValueError) as exc:
                _log.warning("jwks.read_failed", extra={"path": str(self.path), "error": str(exc)})
            found = _lookup(self._keys, kid)
        return found


def token_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """OAuth's space-separated `scope`, or `scp` (a list or a string) as some issuers write it."""
    scopes: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(str(item) for item in value)
    return frozenset(scopes)


@dataclass(frozen=True)
class _Verified:
    """A token whose signature and claims were checked: what it proved, and for how long that holds."""

    principal: Principal
    source: KeySource
    kid: str | None
    key: VerificationKey
    until: float  # the verifier's clock (epoch seconds)


class TokenVerifier:
    """Verifies bearer JWTs from a set of trusted issuers, each with its own key source."""

    def __init__(
        self,
        issuers: Mapping[str, KeySource],
        *,
        audience: str | None,
        leeway: float = 30.0,
        remember_seconds: float = 60.0,
        remember_tokens: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuers = dict(issuers)
        self.audience = audience
        self.leeway = leeway
        # Tokens verified lately, by their exact text: a client sends the same token on every request, and
        # checking its signature again was the largest cost of a request here. An entry holds until the
        # token expires (with the leeway) or for `remember_seconds`, whichever comes first, and only while
        # its issuer still serves the key that signed it (a rotated or withdrawn key verifies afresh).
        self.remember_seconds = remember_seconds
        self.remember_tokens = remember_tokens
        self.clock = clock
        self._verified: dict[str, _Verified] = {}

    async def aclose(self) -> None:
        for source in self.issuers.values():
            await source.aclose()

    async def verify(self, token: str) -> Principal:
        """The token's principal, or AuthError (401, or 503 when the issuer's keys are unreachable)."""
        known = self._verified.get(token)
        if known is not None:
            if self.clock() < known.until:
                try:
                    current = await known.source.key(known.kid)
                except KeysUnavailable as exc:
                    raise AuthError(503, "temporarily_unavailable", str(exc)) from None
                if current is known.key:
                    return known.principal
            # pop: a request for the same token may have dropped it while this one awaited the keys
            self._verified.pop(token, None)
        principal, source, kid, key = await self._verify(token)
        expires = principal.claims.get("exp")
        if isinstance(expires, int | float):
            if len(self._verified) >= self.remember_tokens:
                del self._verified[next(iter(self._verified))]  # the oldest entry
            until = min(float(expires) + self.leeway, self.clock() + self.remember_seconds)
            self._verified[token] = _Verified(principal, source, kid, key, until)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, KeySource, str | None, VerificationKey]:
        if len(token) > MAX_TOKEN_BYTES:
            raise invalid_token("the token is too large")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise invalid_token("the token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise invalid_token(f"the signing algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise invalid_token("the key id is not a string")
        issuer = unverified.get("iss")
        source = self.issuers.get(issuer) if isinstance(issuer, str) else None
        if source is None:
            raise invalid_token("the token's issuer is not trusted")
        try:
            key = await source.key(kid)
        except KeysUnavailable as exc:
            raise AuthError(503, "temporarily_unavailable", str(exc)) from None
        if key is None:
            raise invalid_token("the token is signed by an unknown key")
        if algorithm not in key.algorithms:
            raise invalid_token(f"the signing algorithm {algorithm} does not match the key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise invalid_token("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise invalid_token("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise invalid_token("the token is not meant for this API (audience)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise invalid_token(f"the token has no {exc.claim} claim") from None
        except jwt.InvalidTokenError:
            raise invalid_token("the token's signature or claims are invalid") from None
        subject = claims.get("sub") or claims.get("client_id") or claims.get("azp")
        if not isinstance(subject, str) or not subject:
            raise invalid_token("the token names no subject")
        return (
            Principal(subject=subject, issuer=str(issuer), scopes=token_scopes(claims), claims=claims),
            source,
            kid,
            key,
        )
