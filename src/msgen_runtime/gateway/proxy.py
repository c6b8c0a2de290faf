"""Forwarding to upstream services: streaming, per-route deadlines, a breaker per upstream, retried reads.

Only reaching the upstream is guarded: a transport error, a timeout, or a
502/503/504 answer counts against the upstream's circuit breaker, and only
idempotent reads are retried (with backoff, within the route's deadline). Any
answer the upstream did give is passed through as it came, body streamed
chunk by chunk, so Server-Sent Events reach the client unbuffered.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import httpx
from circuitbreaker import CircuitBreaker
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from msgen_runtime.http import CALLS, no_cookies
from msgen_runtime.middleware import TIMEOUT_HEADER
from msgen_runtime.problems import Problem
from msgen_runtime.sse import ClientGone

__all__ = ["HOP_BY_HOP", "UNAVAILABLE_STATUSES", "Passthrough", "Upstream", "UpstreamUnavailable", "relay"]

_log = logging.getLogger("msgen.gateway.proxy")

# Connection-level headers (RFC 9110 section 7.6.1) belong to one hop, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Set again by the gateway's own server and middleware.
_RESPONSE_OWN = frozenset({"date", "server", "x-correlation-id"})
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
_TIMEOUT_KEY = TIMEOUT_HEADER.lower().encode("latin-1")
# Idle keep-alive connections kept per upstream. The HTTP client looks at every pooled connection on each
# request: with 100 idle ones (what a burst left behind, kept 5 s) a request cost 4x the CPU it did with
# none, so a gateway that had just been overloaded stayed slow after the burst was over; 32 bound that to
# about 2x. The client (httpcore 1.0) counts busy connections against this bound too: with more than 32
# requests in flight to one upstream, a connection is closed as its request ends, and the next request
# opens one. Event streams hold their connection for minutes, so they have a pool of their own and never
# count against the requests' one.
_IDLE_CONNECTIONS = 32
_STREAM_IDLE_CONNECTIONS = 8


class UpstreamUnavailable(Exception):
    """The upstream could not be reached in time, or said it cannot serve: counts against its breaker."""

    def __init__(self, reason: str, *, timed_out: bool = False, response: httpx.Response | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out
        self.response = response  # the upstream's own 502/503/504 answer, passed through when it is the last


class Upstream:
    """One upstream service: a pooled HTTP client and a circuit breaker."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        retries: int = 2,
        failure_threshold: int = 5,
        recovery_timeout: float = 5.0,
        max_connections: int = 200,
        max_idle_connections: int = _IDLE_CONNECTIONS,
        idle_seconds: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.retries = retries

        def client(idle: int) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=base_url,
                transport=transport,
                limits=httpx.Limits(
                    max_connections=max_connections,
                    max_keepalive_connections=min(idle, max_connections),
                    keepalive_expiry=idle_seconds,
                ),
                follow_redirects=False,
                cookies=no_cookies(),  # one user's cookie never goes upstream with another's request
            )

        self.http = client(max_idle_connections)
        self.streams = client(min(max_idle_connections, _STREAM_IDLE_CONNECTIONS))  # event streams' own pool
        self.breaker = CircuitBreaker(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_timeout,
            expected_exception=UpstreamUnavailable,
            name=f"gateway:{name}",
        )

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.streams.aclose()

    def _circuit_open(self) -> Problem:
        CALLS.labels(self.name, "short_circuited").inc()
        return Problem(
            503,
            "Service Unavailable",
            f"{self.name} is unavailable (circuit open): failing fast",
            headers={"Retry-After": str(max(1, int(self.breaker.open_remaining)))},
        )

    async def open(
        self,
        method: str,
        target: str,
        *,
        headers: list[tuple[str, str]],
        body: bytes,
        timeout: float,
        idempotent: bool,
        stream: bool,
    ) -> httpx.Response:
        """The upstream's response with its body not read yet; a Problem (503/504) when it cannot be had."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        attempts = 1 + (self.retries if idempotent else 0)
        for attempt in range(attempts):
            if self.breaker.opened:
                raise self._circuit_open()
            remaining = deadline - loop.time()
            try:
                with self.breaker:
                    return await self._send(method, target, headers, body, remaining, stream)
            except UpstreamUnavailable as exc:
                pause = min(1.0, 0.05 * 2**attempt) + random.uniform(0, 0.05)
                last = attempt + 1 == attempts or deadline - loop.time() <= pause
                if not last:
                    if exc.response is not None:
                        await exc.response.aclose()
                    await asyncio.sleep(pause)
                    continue
                if exc.response is not None:
                    return exc.response
                if exc.timed_out:
                    raise Problem(504, "Gateway Timeout", f"{self.name} did not answer within {timeout:g}s") from None
                raise Problem(503, "Service Unavailable", f"{self.name} is unavailable: {exc.reason}") from None
        raise AssertionError("unreachable")

    async def _send(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, remaining: float, stream: bool
    ) -> httpx.Response:
        if remaining <= 0:
            raise UpstreamUnavailable("no time left", timed_out=True)
        # A stream's body has no time limit between events; every other body must keep coming.
        timeout = httpx.Timeout(remaining, read=None if stream else remaining)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + remaining

        async def budget(event: str, info: dict[str, Any]) -> None:
            # The time left when the headers go out, after any wait for a pooled connection: the service
            # gives up (and rolls back) before the gateway does, never after it answered 504.
            if event.endswith(".send_request_headers.started"):
                left = str(max(0, int((deadline - loop.time()) * 1000))).encode("ascii")
                sent = info["request"].headers  # httpcore's list, written to the wire right after this
                sent[:] = [(k, v) for k, v in sent if k.lower() != _TIMEOUT_KEY] + [(_TIMEOUT_KEY, left)]

        http = self.streams if stream else self.http
        request = http.build_request(
            method, target, headers=headers, content=body, timeout=timeout, extensions={"trace": budget}
        )
        try:
            async with asyncio.timeout(remaining):  # connect, send and the response headers
                response = await http.send(request, stream=True)
        except (TimeoutError, httpx.TimeoutException):
            CALLS.labels(self.name, "timeout").inc()
            raise UpstreamUnavailable(f"no answer within {remaining:.3g}s", timed_out=True) from None
        except httpx.TransportError as exc:
            CALLS.labels(self.name, "transport_error").inc()
            raise UpstreamUnavailable(type(exc).__name__) from None
        if response.status_code in UNAVAILABLE_STATUSES:
            CALLS.labels(self.name, "server_error").inc()
            raise UpstreamUnavailable(f"answered {response.status_code}", response=response)
        CALLS.labels(self.name, "ok" if response.status_code < 400 else "refused").inc()
        return response


BUFFERED = 64 * 1024  # bytes: an answer that says it is no longer is read whole and sent as one body
_HOP_BY_HOP_RAW = frozenset(name.encode("latin-1") for name in HOP_BY_HOP)
_RESPONSE_OWN_RAW = frozenset(name.encode("latin-1") for name in _RESPONSE_OWN)


async def relay(response: httpx.Response, *, stream: bool = False) -> Response:
    """The upstream's answer for the client: status and headers as they came, the body as it arrives.

    A short answer of known length (not an event stream) is read whole first and sent as a plain
    response. Any other (an event stream, a long or unsized body) is passed through chunk by chunk by
    `Passthrough`, without the task group a Starlette StreamingResponse runs per response.
    """
    raw_headers: list[tuple[bytes, bytes]] = []
    length = b""
    for name, value in response.headers.raw:
        lowered = name.lower()
        if lowered in _HOP_BY_HOP_RAW or lowered in _RESPONSE_OWN_RAW:
            continue
        if lowered == b"content-length":
            length = value
        raw_headers.append((lowered, value))
    if not stream and length.isdigit() and int(length) <= BUFFERED:
        try:
            content = b"".join([chunk async for chunk in response.aiter_raw()])
        except httpx.HTTPError as exc:  # the upstream went away mid-body: nothing of it was sent yet
            _log.warning("proxy.body_interrupted", extra={"error": type(exc).__name__})
            raise Problem(502, "Bad Gateway", "the upstream's answer broke off") from None
        finally:
            await response.aclose()
        whole = Response(content, status_code=response.status_code)
        whole.raw_headers = raw_headers
        return whole
    return Passthrough(response, raw_headers)


class Passthrough(Response):
    """An upstream's answer relayed chunk by chunk, as a plain ASGI response.

    The chunks are sent from the request's own task. The client's disconnect is watched by one asyncio
    task; it interrupts the relay at once (even while the upstream is silent, between two events of a
    stream) and the upstream's response is closed, its connection with it. An upstream that breaks off
    mid-body ends the client's response too.
    """

    def __init__(self, upstream: httpx.Response, raw_headers: list[tuple[bytes, bytes]]) -> None:
        self.upstream = upstream
        self.status_code = upstream.status_code
        self.background = None
        self.raw_headers = raw_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        upstream = self.upstream
        loop = asyncio.get_running_loop()
        client: ClientGone | None = None
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async with asyncio.timeout(None) as cut:
                client = ClientGone(receive, lambda: cut.reschedule(loop.time()))
                client.start()
                try:
                    async for chunk in upstream.aiter_raw():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except httpx.HTTPError as exc:  # the upstream went away mid-body: end the client's response too
                    _log.warning("proxy.body_interrupted", extra={"error": type(exc).__name__})
                finally:
                    await client.stop()
        except TimeoutError:
            if client is None or not client.gone:
                raise
        finally:
            await upstream.aclose()
        if client is not None and not client.gone:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
