"""Who may call a service: the internal credential the gateway and the other services send.

The gateway verifies the user's token, then mints a short-lived internal token
(an HS256 JWT under the system's shared `INTERNAL_AUTH_SECRET`) naming itself
as issuer, the target service as audience and the user as subject, and sends it
in `X-Internal-Token`. A service's own clients (`msgen_runtime.http`) mint one
too, for the user of the request being served, or for the service itself when
an event handler calls. A service checks it on every route of its API: signed
with the secret, meant for this service (`aud` = its name) and issued by the
gateway or one of the services that call it (`iss`); else 401 problem+json.

Production is the default: a service with no secret refuses every API call.
Only `MSGEN_DEV_MODE=1` (`msgen up`, compose, the generated tests) lets a
service without a secret answer calls that carry no credential.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jwt
from cachetools import LRUCache
from fastapi import Depends, Request

from msgen_runtime.problems import Problem

__all__ = [
    "ALGORITHM",
    "ANONYMOUS",
    "DEFAULT_TTL",
    "HEADER",
    "LEEWAY",
    "MIN_SECRET_LENGTH",
    "SERVICE_PREFIX",
    "USER_PREFIX",
    "Caller",
    "InsecureConfiguration",
    "InternalAuth",
    "Unauthenticated",
    "configure",
    "current_caller",
    "outgoing_headers",
    "require_caller",
    "service_guard",
    "signing_keys",
    "user_subject",
]

HEADER = "X-Internal-Token"
ALGORITHM = "HS256"
MIN_SECRET_LENGTH = 32
DEFAULT_TTL = 60.0
LEEWAY = 5.0
_CACHE_SIZE = 4096
_log = logging.getLogger("msgen.callers")


class InsecureConfiguration(RuntimeError):
    """A setting that would leave the system open: the process refuses to start with it."""


USER_PREFIX = "user:"  # a subject the gateway verified: `user:<sub of the user's token>`
SERVICE_PREFIX = "service:"  # a service acting for itself (an event handler): `service:<name>`
ANONYMOUS = "anonymous"  # a public route's caller


def user_subject(subject: str) -> str:
    """The internal subject of a user: prefixed, so a user named `order` never looks like the order service."""
    return USER_PREFIX + subject


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the calling component (`issuer`) and who it acts for (`subject`).

    `subject` is `user:<sub>`, `service:<name>` or `anonymous`.
    """

    issuer: str
    subject: str


_current: ContextVar[Caller | None] = ContextVar("msgen_caller", default=None)


def current_caller() -> Caller | None:
    """The verified caller of the request being served (None outside a request or in dev mode)."""
    return _current.get()


class InternalAuth:
    """Mints and verifies the internal credential with the system's shared secret."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str,
        trusted: Iterable[str] = ("gateway",),
        ttl: float = DEFAULT_TTL,
        previous: Sequence[str] = (),
    ) -> None:
        for key in (secret, *previous):
            if len(key) < MIN_SECRET_LENGTH:
                raise InsecureConfiguration(
                    f"INTERNAL_AUTH_SECRET must be at least {MIN_SECRET_LENGTH} characters "
                    "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
                )
        self._secret = secret  # signs
        self._previous = tuple(previous)  # still verify, while a rotation rolls out
        self.issuer = issuer  # this component's name: the `iss` it signs with, the `aud` it accepts
        self.trusted = frozenset(trusted)  # the components whose tokens it accepts
        self.ttl = ttl
        # Signing and checking a JWT costs tens of microseconds: a subject's token is reused for the
        # first half of its life, and a verified token is remembered until it expires.
        self._minted: LRUCache[tuple[str, str], tuple[str, float]] = LRUCache(maxsize=_CACHE_SIZE)
        self._verified: LRUCache[str, tuple[Caller, float]] = LRUCache(maxsize=_CACHE_SIZE)

    def mint(self, subject: str | None = None, *, audience: str) -> str:
        """A token for service `audience`, valid `ttl` seconds: from this component, for `subject` (default: itself)."""
        subject = subject or SERVICE_PREFIX + self.issuer
        now = time.time()
        cached = self._minted.get((subject, audience))
        if cached is not None and cached[1] > now:
            return cached[0]
        issued = int(now)
        claims = {"iss": self.issuer, "sub": subject, "aud": audience, "iat": issued, "exp": issued + int(self.ttl)}
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        self._minted[(subject, audience)] = (token, now + self.ttl / 2)
        return token

    def verify(self, token: str) -> Caller:
        """The caller a token speaks for; `Unauthenticated` unless it is ours, for us, from a trusted caller, current."""
        known = self._verified.get(token)
        if known is not None and time.time() < known[1] + LEEWAY:
            return known[0]
        try:
            claims = self._decode(token)
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the internal token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(f"the internal token is not meant for {self.issuer}") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the internal token is not valid") from None
        if claims["iss"] not in self.trusted:
            raise Unauthenticated(f"{self.issuer} takes no calls from {str(claims['iss'])[:64]!r}")
        caller = Caller(issuer=str(claims["iss"]), subject=str(claims["sub"]))
        self._verified[token] = (caller, float(claims["exp"]))
        return caller

    def _decode(self, token: str) -> dict[str, Any]:
        for key in self._previous:  # a token signed with an older key (a rotation under way)
            try:
                return self._decode_with(token, key)
            except jwt.InvalidSignatureError:
                continue
        return self._decode_with(token, self._secret)

    def _decode_with(self, token: str, key: str) -> dict[str, Any]:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=self.issuer,
            leeway=LEEWAY,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )


def signing_keys(secret: str | None, secrets: str | None) -> tuple[str | None, tuple[str, ...]]:
    """The key that signs and the older ones that still verify: INTERNAL_AUTH_SECRETS (comma-separated,
    the first signs) when set, else INTERNAL_AUTH_SECRET."""
    keys = [key.strip() for key in (secrets or "").split(",") if key.strip()]
    if keys:
        return keys[0], tuple(keys[1:])
    return secret, ()


class Unauthenticated(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="internal"'})


_signer: InternalAuth | None = None


def configure(signer: InternalAuth | None) -> None:
    """The credential this process's service clients send (set by the app factory)."""
    global _signer
    _signer = signer


def outgoing_headers(target: str) -> dict[str, str]:
    """The credential of a call to service `target`: for the current request's user, else this service."""
    if _signer is None:
        return {}
    caller = _current.get()
    return {HEADER: _signer.mint(caller.subject if caller else None, audience=target)}


def require_caller(auth: InternalAuth | None, *, required: bool) -> Any:
    """A dependency admitting only requests with a valid internal token (when `required`).

    `required` with no `auth` (no secret configured) refuses every request: fail closed.
    """

    async def check(request: Request) -> None:
        token = request.headers.get(HEADER)
        if auth is None:
            if required:
                raise Unauthenticated("this service has no INTERNAL_AUTH_SECRET: it answers no API call")
            return
        if token is None:
            if required:
                raise Unauthenticated(f"calls to this service need the {HEADER} header the gateway sends")
            return
        _current.set(auth.verify(token.strip()))

    return Depends(check)


def service_guard(
    secret: str | None,
    *,
    service: str,
    dev_mode: bool,
    trusted: Iterable[str] = ("gateway",),
    previous: Sequence[str] = (),
) -> tuple[InternalAuth | None, Any]:
    """The signer of a service's outgoing calls and the dependency guarding its API routes (`trusted`: its callers)."""
    auth = InternalAuth(secret, issuer=service, trusted=trusted, previous=previous) if secret else None
    required = auth is not None or not dev_mode
    if auth is None and required:
        _log.error("service.internal_auth_unconfigured", extra={"detail": "set INTERNAL_AUTH_SECRET"})
    elif auth is None:
        _log.warning("service.caller_check_disabled", extra={"reason": "MSGEN_DEV_MODE=1 and no secret"})
    return auth, require_caller(auth, required=required)
