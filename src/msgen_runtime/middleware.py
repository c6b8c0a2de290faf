"""The one middleware every service request passes: correlation id, RED metrics and the access log.

It does in a single pure-ASGI layer what `asgi_correlation_id.CorrelationIdMiddleware`
and `msgen_runtime.metrics.MetricsMiddleware` do as two: one wrapper of `send`
instead of two, and no header objects built per request. The correlation id
lives in asgi_correlation_id's context variable, which the logs, the problem
bodies, the clients of other services and the outbox read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid

from asgi_correlation_id import correlation_id
from asgi_correlation_id.extensions.sentry import get_sentry_extension
from prometheus_client import Counter
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msgen_runtime.metrics import DURATION, QUIET_PATHS, REQUESTS, SERVER_ERRORS, access_log, route_template
from msgen_runtime.problems import Problem, problem_response

CORRELATION_HEADER = "X-Correlation-ID"
# The gateway's remaining time for this request, in milliseconds: the service gives up before the gateway does.
TIMEOUT_HEADER = "X-Request-Timeout-Ms"
_VALID_CORRELATION = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_log = logging.getLogger("asgi_correlation_id")
_server_errors = logging.getLogger("msgen.errors")
SHED = Counter("msgen_http_shed_total", "Requests refused at once because too many were in flight.", ["reason"])
_TIMEOUT_KEY = TIMEOUT_HEADER.lower().encode("latin-1")


def valid_correlation_id(value: str) -> bool:
    """Any short printable token is kept as is (clients choose their own formats)."""
    return bool(_VALID_CORRELATION.match(value))


class ServiceMiddleware:
    """Takes or creates the request's correlation id, returns it, counts and times the request, logs it."""

    def __init__(self, app: ASGIApp, header_name: str = CORRELATION_HEADER) -> None:
        self.app = app
        self.header = header_name.lower().encode("latin-1")
        self.sentry = get_sentry_extension()

    def _correlation_id(self, scope: Scope) -> str:
        header = self.header
        given: str | None = None
        for key, value in scope["headers"]:
            if key == header:
                given = value.decode("latin-1")
                break
        if given and _VALID_CORRELATION.match(given):
            cid: str = given
        else:
            cid = str(uuid.uuid4())
            if given:
                _log.warning("Generated new request ID (%s), since request header value failed validation", cid)
            # Code further in reads the id from the request's headers too.
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != header] + [(header, cid.encode("latin-1"))]
        correlation_id.set(cid)
        self.sentry(cid)
        return cid

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        self._correlation_id(scope)
        header = self.header
        if kind != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                cid = correlation_id.get()
                if cid:
                    message.setdefault("headers", [])
                    headers = message["headers"]
                    if not isinstance(headers, list):
                        headers = message["headers"] = list(headers)
                    headers.append((header, cid.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            method = scope["method"]
            route = route_template(scope)
            label = str(status)
            REQUESTS.labels(method, route, label).inc()
            if status >= 500:
                SERVER_ERRORS.labels(method, route, label).inc()
            DURATION.labels(method, route).observe(elapsed)
            path = scope["path"]
            if status >= 500:
                # 502-504 are the system saying "not now" (shed, deadline, upstream away); others are faults.
                _server_errors.log(
                    logging.WARNING if 502 <= status <= 504 else logging.ERROR,
                    "http.server_error",
                    extra={
                        "method": method,
                        "path": path,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            elif path not in QUIET_PATHS:
                access_log.info(
                    "http.request",
                    extra={
                        "method": method,
                        "path": path,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )


class Admission:
    """Sheds load early: at most `max_in_flight` requests waiting for their answer, each within a deadline.

    A request beyond the bound gets 503 with Retry-After at once instead of a
    place in a queue; a request without its answer by the deadline is cancelled
    (its transaction rolls back) and gets 503, so a client that was told "no"
    never has its effect happen later. The deadline is the service's own, or
    less when the gateway says how long it still waits (X-Request-Timeout-Ms).
    Once the answer has started (a stream, say) neither bound applies; health
    and metrics are never refused.
    """

    def __init__(
        self, app: ASGIApp, *, max_in_flight: int, deadline: float | None = None, retry_after: int = 1
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.deadline = deadline
        self.retry_after = retry_after
        self.in_flight = 0

    def _deadline(self, scope: Scope) -> float | None:
        if self.deadline is None:
            return None
        for key, value in scope["headers"]:
            if key == _TIMEOUT_KEY:
                with contextlib.suppress(ValueError):
                    # a quarter second (at most a tenth of it) to answer the gateway before it gives up
                    given = int(value) / 1000
                    return max(0.05, min(self.deadline, given - min(0.25, given / 10)))
        return self.deadline

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        problem = Problem(503, "Service Unavailable", detail, headers={"Retry-After": str(self.retry_after)})
        await problem_response(problem, Request(scope))(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in QUIET_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            SHED.labels("in_flight").inc()
            await self._refuse(scope, receive, send, f"too many requests in flight (limit {self.max_in_flight})")
            return
        self.in_flight += 1
        holding = True
        started = False
        deadline = self._deadline(scope)
        timer = asyncio.timeout(deadline)

        def answered() -> None:
            nonlocal holding
            if holding:
                holding = False
                self.in_flight -= 1

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                timer.reschedule(None)  # the answer is decided: a stream may take its time
                answered()
            await send(message)

        try:
            async with timer:
                await self.app(scope, receive, send_wrapper)
        except Exception:  # TimeoutError, or what a cancelled driver raised while rolling back
            if started or not timer.expired():
                raise
            SHED.labels("deadline").inc()
            await self._refuse(
                scope,
                receive,
                send,
                f"no answer within the request deadline of {deadline:g}s: the request was cancelled",
            )
        finally:
            answered()
