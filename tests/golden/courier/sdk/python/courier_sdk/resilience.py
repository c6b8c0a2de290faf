"""What every call of the courier SDK goes through, around the generated calls of `generated/`.

Written by msgen 0.1.0 from the spec (kept by `msgen regen` with your edits merged).

- a token provider, asked before every attempt (so a refreshed token is used by a retry);
- an `X-Correlation-ID` per logical call, the same on each of its retries, returned on the answer;
- retries with exponential backoff and full jitter, for idempotent requests only: GET, HEAD, OPTIONS,
  PUT, DELETE, and the operations the contract marks idempotent, which get an automatic
  `Idempotency-Key` reused by every retry (a POST without one is never retried);
- `Retry-After` honoured on 429 and 503 (up to `RetryPolicy.max_retry_after`).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

CORRELATION_HEADER = "X-Correlation-ID"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
# The operations of the contract that accept an Idempotency-Key: (method, path).
IDEMPOTENT_OPERATIONS: tuple[tuple[str, re.Pattern[str]], ...] = (("POST", re.compile("/v1/deliveries")),)

TokenProvider = Callable[[], str | None]


@dataclass(frozen=True)
class RetryPolicy:
    """How failed attempts of an idempotent request are retried."""

    attempts: int = 4  # in all, the first one included
    base_delay: float = 0.2  # seconds; the n-th retry waits up to base_delay * 2**(n-1), at random
    max_delay: float = 10.0  # the longest backoff between two attempts
    max_retry_after: float = 60.0  # a longer Retry-After is not waited for: the answer is returned

    def backoff(self, retry: int) -> float:
        """Full jitter: a random wait in [0, min(max_delay, base_delay * 2**retry)]."""
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2**retry))


def is_idempotent_operation(method: str, path: str) -> bool:
    return any(method == m and pattern.fullmatch(path) for m, pattern in IDEMPOTENT_OPERATIONS)


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), on a 429 or a 503; None without one."""
    if response.status_code not in (429, 503):
        return None
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Attempts:
    """The decisions shared by the sync and async transports: headers, whether and how long to wait."""

    def __init__(self, policy: RetryPolicy, token: TokenProvider | None) -> None:
        self.policy = policy
        self.token = token

    def prepare(self, request: httpx.Request) -> bool:
        """Set the call's headers once; True when the request may be retried."""
        if CORRELATION_HEADER not in request.headers:
            request.headers[CORRELATION_HEADER] = str(uuid.uuid4())
        method = request.method.upper()
        if IDEMPOTENCY_HEADER not in request.headers and is_idempotent_operation(method, request.url.path):
            request.headers[IDEMPOTENCY_HEADER] = str(uuid.uuid4())
        return method in SAFE_METHODS or (
            IDEMPOTENCY_HEADER in request.headers and is_idempotent_operation(method, request.url.path)
        )

    def authorize(self, request: httpx.Request) -> None:
        if self.token is not None:
            token = self.token()
            if token:
                request.headers["Authorization"] = f"Bearer {token}"
            else:
                request.headers.pop("Authorization", None)

    def wait(self, response: httpx.Response | None, retry: int) -> float | None:
        """Seconds to wait before retry number `retry` (from 0), or None to give this answer back."""
        if retry + 1 >= self.policy.attempts:
            return None
        if response is not None:
            if response.status_code not in RETRIED_STATUSES:
                return None
            asked = retry_after(response)
            if asked is not None:
                return asked if asked <= self.policy.max_retry_after else None
        return self.policy.backoff(retry)

    @staticmethod
    def finish(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        response.headers.setdefault(CORRELATION_HEADER, request.headers[CORRELATION_HEADER])
        return response


class ResilientTransport(httpx.BaseTransport):
    """An httpx transport that adds the token, the correlation id, the idempotency key and the retries."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        token: TokenProvider | None = None,
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self._attempts = _Attempts(policy or RetryPolicy(), token)
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        retryable = self._attempts.prepare(request)
        request.read()  # the body, kept for the retries
        retry = 0
        while True:
            self._attempts.authorize(request)
            try:
                response = self._inner.handle_request(request)
            except httpx.TransportError:
                delay = self._attempts.wait(None, retry) if retryable else None
                if delay is None:
                    raise
            else:
                delay = self._attempts.wait(response, retry) if retryable else None
                if delay is None:
                    return self._attempts.finish(request, response)
                response.read()
                response.close()
            time.sleep(delay)
            retry += 1

    def close(self) -> None:
        self._inner.close()


class AsyncResilientTransport(httpx.AsyncBaseTransport):
    """ResilientTransport for httpx.AsyncClient."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        token: TokenProvider | None = None,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._attempts = _Attempts(policy or RetryPolicy(), token)
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        retryable = self._attempts.prepare(request)
        await request.aread()
        retry = 0
        while True:
            self._attempts.authorize(request)
            try:
                response = await self._inner.handle_async_request(request)
            except httpx.TransportError:
                delay = self._attempts.wait(None, retry) if retryable else None
                if delay is None:
                    raise
            else:
                delay = self._attempts.wait(response, retry) if retryable else None
                if delay is None:
                    return self._attempts.finish(request, response)
                await response.aread()
                await response.aclose()
            await asyncio.sleep(delay)
            retry += 1

    async def aclose(self) -> None:
        await self._inner.aclose()
