"""The one middleware every service request passes: correlation id, RED metrics and the access log.

It does in a single pure-ASGI layer what `asgi_correlation_id.CorrelationIdMiddleware`
and `msgen_runtime.metrics.MetricsMiddleware` do as two: one wrapper of `send`
instead of two, and no header objects built per request. The correlation id
lives in asgi_correlation_id's context variable, which the logs, the problem
bodies, the clients of other services and the outbox read.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from asgi_correlation_id import correlation_id
from asgi_correlation_id.extensions.sentry import get_sentry_extension
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msgen_runtime.metrics import DURATION, QUIET_PATHS, REQUESTS, SERVER_ERRORS, access_log, route_template

CORRELATION_HEADER = "X-Correlation-ID"
_VALID_CORRELATION = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_log = logging.getLogger("asgi_correlation_id")


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
            if path not in QUIET_PATHS:
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
