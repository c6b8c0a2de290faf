"""Forwarding to upstream services: streaming, per-route deadlines, a breaker per upstream, retried reads.

Only reaching the upstream is guarded: a transport error, a timeout, or a
502/503/504 answer counts against the upstream's circuit breaker, and only
idempotent reads are retried (with backoff, within the route's deadline). Any
answer the upstream did give is passed through as it came, body streamed
chunk by chunk, so Server-Sent Events reach the client unbuffered. The clients speak httpx's interface
over aiohttp's connection pools (a test gives its own httpx transport instead).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from circuitbreaker import CircuitBreaker
from httpx_aiohttp import AiohttpTransport
from multidict import CIMultiDict
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from msgen_runtime.http import CALLS, no_cookies
from msgen_runtime.middleware import TIMEOUT_HEADER
from msgen_runtime.problems import Problem
from msgen_runtime.sse import ClientGone

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

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
# Connections to one upstream: open at once (requests and event streams apart), and how long an idle one is
# kept for the next request.
_MAX_CONNECTIONS = 200
_IDLE_SECONDS = 5.0


class _TimeLeftRequest(aiohttp.ClientRequest):
    """A request whose time-left header (`X-Request-Timeout-Ms`, the gateway's) is lowered, right before
    its headers go out, by the time it waited for a pooled connection: the service gives up (and rolls
    back) before the gateway does, never after the gateway answered 504."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._built = asyncio.get_running_loop().time()

    async def send(self, conn: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        left = self.headers.get(TIMEOUT_HEADER)
        if left is not None and left.isdigit():
            waited = int((asyncio.get_running_loop().time() - self._built) * 1000)
            self.headers[TIMEOUT_HEADER] = str(max(0, int(left) - waited))
        return await super().send(conn)


class _Transport(AiohttpTransport):
    """The aiohttp transport, with a request's repeated header lines kept apart: from httpx's mapping
    aiohttp would get them joined by commas, which breaks a Cookie header."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = request.headers
        request.headers = CIMultiDict(headers.multi_items())  # type: ignore[assignment]
        try:
            return await super().handle_async_request(request)
        finally:
            request.headers = headers


def _pooled_transport(*, max_connections: int, idle_seconds: float) -> AiohttpTransport:
    """httpx's transport over an aiohttp connection pool, for one of an upstream's clients.

    httpcore's pool (httpx's own transport) looks at each of its connections on every request: on a
    local call it cost 0.6 ms of CPU with no idle connection and 2.8 ms with the 100 a burst left, against
    0.1 ms for aiohttp's. The request goes out as httpx's transport sent it: no cookie kept (the client
    serves many callers), no header added (aiohttp would give a body without a type one), no request sent
    twice (aiohttp resends an idempotent method once on a dropped connection: retries are the caller's
    decision), names resolved for each new connection, TLS checked against the same certificates, header
    lines up to 16 KiB and up to 1024 of them in the answer.
    """
    tls = httpx.create_ssl_context()

    def session() -> aiohttp.ClientSession:  # made at the first request, inside the running loop
        made = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=max_connections, keepalive_timeout=idle_seconds, use_dns_cache=False, ssl=tls
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            request_class=_TimeLeftRequest,
            skip_auto_headers=("Content-Type",),
            max_line_size=16384,
            max_field_size=16384,
            max_headers=1024,
        )
        made._retry_connection = False  # no public setting: tests/test_connection_pools.py checks it holds
        return made

    return _Transport(client=session)


def _timed_out(exc: BaseException) -> bool:
    """Whether a failed request ran out of time (a 504) rather than could not reach its server (a 503).

    The aiohttp transport reports a refused or dropped connection as httpx's ConnectTimeout; the aiohttp
    error it raises it from says which it was."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError) and not isinstance(cause, TimeoutError):
        return False
    return isinstance(exc, (TimeoutError, httpx.TimeoutException))


def _failure_name(exc: BaseException) -> str:
    """The name of what failed: the aiohttp error under the transport's httpx one, else the error's own."""
    cause = exc.__cause__
    return type(cause if isinstance(cause, aiohttp.ClientError) else exc).__name__


class UpstreamUnavailable(Exception):
    """The upstream could not be reached in time, or said it cannot serve: counts against its breaker."""

    def __init__(self, reason: str, *, timed_out: bool = False, response: httpx.Response | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.timed_out = timed_out
        self.response = response  # the upstream's own 502/503/504 answer, passed through when it is the last


class Upstream:
    """One upstream service: pooled HTTP clients (requests, event streams) and a circuit breaker.

    The clients speak httpx's interface over aiohttp's connection pools (`pooled_transport`): a test
    gives its own `transport` instead. Event streams hold their connection for minutes, so they have a
    pool of their own and never take the requests' connections.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        retries: int = 2,
        failure_threshold: int = 5,
        recovery_timeout: float = 5.0,
        max_connections: int = _MAX_CONNECTIONS,
        idle_seconds: float = _IDLE_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.retries = retries

        def client() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=base_url,
                transport=transport or _pooled_transport(max_connections=max_connections, idle_seconds=idle_seconds),
                follow_redirects=False,
                cookies=no_cookies(),  # one user's cookie never goes upstream with another's request
            )

        self._own_pools = transport is None

        self.http = client()
        self.streams = client()  # event streams' own pool
        self.breaker = CircuitBreaker(
            failure_threshold=failure_threshold,
            recovery_timeout=recovery_timeout,
            expected_exception=UpstreamUnavailable,
            name=f"gateway:{name}",
        )

    def trace(self, provider: TracerProvider) -> None:
        """Trace and time the calls through this upstream's own pools under `provider`: a client span each
        (httpx's instrumentation, whose global patch reaches only httpx's own transport). A transport a
        test gave is left as it is."""
        if not self._own_pools:
            return
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        for client in (self.http, self.streams):
            HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)

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
        http = self.streams if stream else self.http
        # The time left goes with the request; `_TimeLeftRequest` lowers it by the wait for a pooled
        # connection right before the headers go out.
        left = (TIMEOUT_HEADER, str(max(0, int(remaining * 1000))))
        request = http.build_request(method, target, headers=[*headers, left], content=body, timeout=timeout)
        try:
            async with asyncio.timeout(remaining):  # connect, send and the response headers
                response = await http.send(request, stream=True)
        except (TimeoutError, httpx.TransportError, aiohttp.ClientError) as exc:
            if _timed_out(exc):
                CALLS.labels(self.name, "timeout").inc()
                raise UpstreamUnavailable(f"no answer within {remaining:.3g}s", timed_out=True) from None
            CALLS.labels(self.name, "transport_error").inc()
            raise UpstreamUnavailable(_failure_name(exc)) from None
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
        except (httpx.HTTPError, aiohttp.ClientError) as exc:  # the upstream went away mid-body: none of it sent yet
            _log.warning("proxy.body_interrupted", extra={"error": _failure_name(exc)})
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
                except (httpx.HTTPError, aiohttp.ClientError) as exc:  # the upstream went away mid-body: end ours too
                    _log.warning("proxy.body_interrupted", extra={"error": _failure_name(exc)})
                finally:
                    await client.stop()
        except TimeoutError:
            if client is None or not client.gone:
                raise
        finally:
            await upstream.aclose()
        if client is not None and not client.gone:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
