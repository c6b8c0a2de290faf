"""Calls to other services: timeouts, bounded retries for idempotent requests, a circuit breaker.

Correlation id, trace context and the internal credential (`msgen_runtime.callers`) travel in the
headers of every call.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from asgi_correlation_id import correlation_id
from circuitbreaker import CircuitBreaker, CircuitBreakerError
from opentelemetry import propagate
from prometheus_client import Counter
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from msgen_runtime import callers
from msgen_runtime.cache import Cache
from msgen_runtime.problems import Problem

__all__ = ["CALLS", "IDEMPOTENT_METHODS", "DownstreamRefused", "ServiceClient", "Unavailable", "no_cookies"]

M = TypeVar("M", bound=BaseModel)
CALLS = Counter("http_client_requests_total", "Calls to other services.", ["target", "outcome"])
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# A call's client-side cost grows with the connections its pool holds (the client looks at each of them on
# every request): a burst's extra connections are closed as they come back, 16 are kept (httpcore 1.0 counts
# busy ones too: beyond 16 calls in flight to one service, each call ending closes its connection).
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=16)


def no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing, for a client that serves many callers.

    httpx's client keeps the cookies its answers set and sends them with its later requests: in the
    gateway, a cookie a service set for one user would go upstream with the next user's request.
    """
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class Unavailable(Exception):
    """The downstream did not answer usably (transport error, timeout or 5xx): counts against the breaker."""

    def __init__(self, target: str, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(f"{target}: {reason}")
        self.target = target
        self.reason = reason
        self.timed_out = timed_out


# Server errors that asking again does not change: the operation is not implemented (msgen's stub of a
# handler nobody wrote yet), or the HTTP version is refused. They are refusals, like a 4xx.
_NOT_TRANSIENT = frozenset({501, 505})


class DownstreamRefused(Problem):
    """The downstream answered with a 4xx, 501 or 505: our request was wrong for it, or it cannot do it
    (424 Failed Dependency)."""

    def __init__(self, target: str, response: httpx.Response) -> None:
        try:
            detail: Any = response.json()
        except ValueError:
            detail = response.text[:500]
        super().__init__(
            424,
            "Failed Dependency",
            f"{target} refused the request with {response.status_code}",
            extra={"downstream": {"service": target, "status": response.status_code, "problem": detail}},
        )
        self.response = response


class ServiceClient:
    """An HTTP client for one downstream service."""

    def __init__(
        self,
        target: str,
        base_url: str,
        *,
        timeout: float = 0.5,
        retries: int = 2,
        failure_threshold: int = 5,
        recovery_timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        cache: Cache | None = None,
        timeout_floor: float = 0.0,
    ) -> None:
        self.target = target
        # No call waits less than this, whatever its own timeout: a test against a mock server on a
        # loaded machine sets it, so that the spec's tight timeouts (0.3 s) do not decide its outcome.
        self.timeout_floor = timeout_floor
        self.cache = cache  # keeps the answers of the calls made with cached_call
        self.retries = retries
        self.timeout = timeout
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=transport, cookies=no_cookies(), limits=_LIMITS
        )
        self.breaker = CircuitBreaker(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_timeout,
            expected_exception=Unavailable,
            name=target,
        )
        # The decorated form is the one that refuses calls while the circuit is open.
        self._guarded_send = self.breaker.decorate(self._send)

    async def close(self) -> None:
        await self.http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout: float | None = None,
        idempotent: bool | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Send one request; retry only idempotent ones; fail fast with 503 while the breaker is open."""
        safe = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
        query = _query(params)
        attempts = 1 + (self.retries if safe else 0)
        try:
            # A loop of its own rather than tenacity's AsyncRetrying, which cost about 0.1 ms per call
            # (two calls per order placed in the shop) for the same policy: exponential backoff with jitter.
            for attempt in range(1, attempts + 1):
                try:
                    return await self._guarded_send(method, path, json, timeout, query)  # type: ignore[no-any-return]
                except Unavailable:
                    if attempt == attempts:
                        raise
                await asyncio.sleep(_backoff(attempt))
        except CircuitBreakerError:
            CALLS.labels(self.target, "short_circuited").inc()
            raise Problem(
                503,
                "Service Unavailable",
                f"{self.target} is unavailable (circuit open): failing fast",
                headers={"Retry-After": str(max(1, int(self.breaker.open_remaining)))},
            ) from None
        except Unavailable as exc:
            if exc.timed_out:
                raise Problem(504, "Gateway Timeout", f"{self.target} did not answer in time: {exc.reason}") from None
            raise Problem(503, "Service Unavailable", f"{self.target} is unavailable: {exc.reason}") from None
        raise AssertionError("unreachable")

    async def _send(
        self, method: str, path: str, json: Any, timeout: float | None, query: tuple[tuple[str, str], ...] | None = None
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        cid = correlation_id.get()
        if cid:
            headers["X-Correlation-ID"] = cid
        propagate.inject(headers)
        headers.update(callers.outgoing_headers(self.target))
        wait = max(timeout if timeout is not None else self.timeout, self.timeout_floor)
        try:
            response = await self.http.request(
                method,
                path,
                json=json,
                params=query,
                headers=headers,
                timeout=wait,
            )
        except httpx.TimeoutException as exc:
            CALLS.labels(self.target, "timeout").inc()
            raise Unavailable(self.target, f"no answer within {wait:g}s", timed_out=True) from exc
        except httpx.TransportError as exc:
            CALLS.labels(self.target, "transport_error").inc()
            raise Unavailable(self.target, type(exc).__name__) from exc
        if response.status_code >= 500 and response.status_code not in _NOT_TRANSIENT:
            CALLS.labels(self.target, "server_error").inc()
            raise Unavailable(self.target, f"answered {response.status_code}")
        CALLS.labels(self.target, "ok" if response.status_code < 400 else "refused").inc()
        return response

    async def cached_call(self, ttl: float, method: str, path: str, model: type[M], **options: Any) -> M:
        """`call`, answered from the cache for `ttl` seconds after a first answer (one per method and path)."""
        if self.cache is None:
            return await self.call(method, path, model, **options)
        query = _query(options.get("params"))
        key = f"call:{self.target}:{method} {path}" + (f"?{urlencode(query)}" if query else "")
        return await self.cache.get_or_load(key, ttl, model, lambda: self.call(method, path, model, **options))

    async def call(self, method: str, path: str, model: type[M], **options: Any) -> M:
        """A request whose 2xx answer is parsed into `model`; a 4xx, 501 or 505 becomes a 424 problem."""
        response = await self.request(method, path, **options)
        if response.status_code >= 400:
            raise DownstreamRefused(self.target, response)
        return model.model_validate(response.json())


def _backoff(attempt: int) -> float:
    """Seconds before retry `attempt` + 1: 50 ms doubling per attempt, up to 50 ms of jitter, at most 1 s."""
    return min(0.05 * 2.0 ** (attempt - 1) + random.uniform(0, 0.05), 1.0)


def _query(params: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...] | None:
    """Query parameters as text, sorted, those left at None out (dates in ISO 8601, decimals as written)."""
    if not params:
        return None
    out = []
    for name, value in sorted(params.items()):
        if value is None:
            continue
        text = to_jsonable_python(value)
        out.append((name, "true" if text is True else "false" if text is False else str(text)))
    return tuple(out)
