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
from collections.abc import Iterator
from contextvars import ContextVar

from asgi_correlation_id import correlation_id
from asgi_correlation_id.extensions.sentry import get_sentry_extension
from prometheus_client import Counter
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msgen_runtime.metrics import DURATION, QUIET_PATHS, REQUESTS, SERVER_ERRORS, access_log, route_template
from msgen_runtime.problems import Problem, problem_response

__all__ = [
    "CORRELATION_HEADER",
    "GATEWAY_MARGIN",
    "SHED",
    "TIMEOUT_HEADER",
    "Admission",
    "RequestState",
    "ServiceMiddleware",
    "answer_due",
    "committing",
    "valid_correlation_id",
]

CORRELATION_HEADER = "X-Correlation-ID"
# The gateway's remaining time for this request, in milliseconds: the service gives up before the gateway does.
TIMEOUT_HEADER = "X-Request-Timeout-Ms"
_VALID_CORRELATION = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_log = logging.getLogger("asgi_correlation_id")
_server_errors = logging.getLogger("msgen.errors")
_log_late = logging.getLogger("msgen.admission")
SHED = Counter("msgen_http_shed_total", "Requests refused at once because too many were in flight.", ["reason"])
_TIMEOUT_KEY = TIMEOUT_HEADER.lower().encode("latin-1")
GATEWAY_MARGIN = 0.5  # seconds a service keeps to answer before the gateway's time is up


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


class RequestState:
    """What Admission knows of the request its task serves: an answer sent, a commit under way or made."""

    __slots__ = ("answer_by", "committing", "started")

    def __init__(self, answer_by: float | None = None) -> None:
        self.committing = False  # from a commit's start on (back to False when it failed): never cancelled
        self.started = False  # the answer has started
        # the event loop's time by which the answer is due (the request's deadline; None: no deadline)
        self.answer_by = answer_by


_REQUEST: ContextVar[RequestState | None] = ContextVar("msgen_request_state", default=None)


def answer_due() -> float | None:
    """The event loop's time by which this request's answer is due (its Admission deadline), if it has one."""
    state = _REQUEST.get()
    return None if state is None else state.answer_by


@contextlib.contextmanager
def committing() -> Iterator[None]:
    """Marks the request's commit: its deadline waits for the commit instead of cancelling it.

    A cancel while COMMIT awaits the database's reply may come too late to stop it, and the
    client would be told "cancelled" about a change that was made. So the request is not
    cancelled from its commit on; it gets its real answer, late. A failed commit lifts the mark.
    """
    state = _REQUEST.get()
    if state is None:
        yield
        return
    before = state.committing
    state.committing = True
    try:
        yield
    except BaseException:
        state.committing = before
        raise


class _StreamRefused(Exception):
    pass


class Admission:
    """Sheds load early: at most `max_in_flight` requests waiting for their answer, each within a deadline.

    A request beyond the bound gets 503 with Retry-After at once instead of a
    place in a queue; a request without its answer by the deadline is cancelled
    (its transaction rolls back) and gets 503, so a client that was told "no"
    never has its effect happen later. The deadline is the service's own, or
    less when the gateway says how long it still waits (X-Request-Timeout-Ms).
    A request whose commit has started is not cancelled: it gets its own answer
    once the commit is over. The 503 goes out at most `grace` seconds after the
    cancel even when the work cannot stop at once (a driver call in a thread);
    the request keeps its slot until its work has really ended. Once the answer
    has started neither bound applies, but at most `max_streams` Server-Sent
    Events streams run at once (beyond it, 503). Health and metrics are never refused.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        deadline: float | None = None,
        retry_after: int = 1,
        max_streams: int | None = None,
        grace: float = 0.25,
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.deadline = deadline
        self.retry_after = retry_after
        self.max_streams = max_streams
        self.grace = grace
        self.in_flight = 0
        self.streams = 0
        self._detached: set[asyncio.Task[None]] = set()

    def _deadline(self, scope: Scope) -> float | None:
        if self.deadline is None:
            return None
        for key, value in scope["headers"]:
            if key == _TIMEOUT_KEY:
                with contextlib.suppress(ValueError):
                    given = int(value) / 1000
                    # half a second to answer the gateway before it gives up (a commit may take that long)
                    return max(0.05, min(self.deadline, given - GATEWAY_MARGIN))
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
        streaming = False
        overtaken = False  # the deadline's 503 went out: whatever the task still sends goes nowhere
        deadline = self._deadline(scope)
        state = RequestState(None if deadline is None else asyncio.get_running_loop().time() + deadline)

        def release() -> None:
            nonlocal holding
            if holding:
                holding = False
                self.in_flight -= 1

        async def send_wrapper(message: Message) -> None:
            nonlocal streaming
            if overtaken:
                return
            if message["type"] == "http.response.start":
                if _is_event_stream(message) and self.max_streams is not None:
                    if self.streams >= self.max_streams:
                        state.started = True
                        SHED.labels("streams").inc()
                        limit = f"too many event streams open (limit {self.max_streams})"
                        await self._refuse(scope, receive, send, limit)
                        raise _StreamRefused
                    self.streams += 1
                    streaming = True
                state.started = True
                release()  # the answer is decided: a stream may take its time
            await send(message)

        def finished(task: asyncio.Task[None]) -> None:
            nonlocal streaming
            release()
            if streaming:
                streaming = False
                self.streams -= 1
            self._detached.discard(task)
            if overtaken:
                error = None if task.cancelled() else task.exception()
                _log_late.warning(
                    "http.finished_after_deadline",
                    extra={"path": scope["path"], "error": type(error).__name__ if error else None},
                )

        async def run() -> None:
            await self.app(scope, receive, send_wrapper)

        token = _REQUEST.set(state)
        try:
            task = asyncio.create_task(run())  # a copy of the context: the task sees `state`
        finally:
            _REQUEST.reset(token)
        task.add_done_callback(finished)
        try:
            done, _ = await asyncio.wait({task}, timeout=deadline)
            while not done and state.committing and not state.started:
                done, _ = await asyncio.wait({task}, timeout=0.05)  # committing: wait for what the commit did
            if done or state.started:
                await _join(task)  # answered, streaming, or committed: its own answer, however late
                return
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=self.grace)
            if done:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()  # what a cancelled driver raised while rolling back
                if state.started:
                    return  # it answered after all
            else:
                overtaken = True  # answer now; the slot stays taken until the work has ended
                self._detached.add(task)
        except asyncio.CancelledError:
            task.cancel()  # the server gives up on this request (shutdown)
            raise
        SHED.labels("deadline").inc()
        await self._refuse(
            scope,
            receive,
            send,
            f"no answer within the request deadline of {deadline:g}s: the request was cancelled",
        )


async def _join(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(_StreamRefused):
        await task


def _is_event_stream(message: Message) -> bool:
    for key, value in message.get("headers", ()):
        if key.lower() == b"content-type":
            return bytes(value).startswith(b"text/event-stream")
    return False
