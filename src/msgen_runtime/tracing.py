"""OpenTelemetry traces: incoming requests, outgoing HTTP calls and database queries.

Exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise nothing is
instrumented and tracing costs nothing. Sampling is parent-based with a ratio.
Instrumentation is process-wide (one service per process), so only the first
app of a process is traced.

Incoming requests go through `ServerSpanMiddleware`, a lean pure-ASGI
middleware: one server span per request, named by method and route template,
with OpenTelemetry's HTTP attributes when the span is sampled. Most requests
are not sampled (1% by default): they get a non-recording span, so their trace
id still reaches the logs and the calls and events they make, and the database
and HTTP-client instrumentations are switched off below them. Under the
parent-based sampler every span below an unsampled one is unsampled too, so
nothing that would have been exported is lost; only the work of building spans
that are thrown away is saved.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msgen_runtime.metrics import QUIET_PATHS

__all__ = ["EXCLUDED_PATHS", "ServerSpanMiddleware", "configure_tracing"]

_httpx_instrumented = False
EXCLUDED_PATHS = QUIET_PATHS  # probes and scrapes: no spans


def configure_tracing(
    app: FastAPI,
    *,
    service: str,
    sample_ratio: float,
    engine: AsyncEngine | Sequence[AsyncEngine] | None = None,
    exporter: SpanExporter | None = None,
) -> TracerProvider | None:
    """Instrument the app when an exporter is given or OTLP is configured; return the provider."""
    if exporter is None:
        if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor: Any = BatchSpanProcessor(OTLPSpanExporter())
    else:
        processor = SimpleSpanProcessor(exporter)
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("msgen_runtime.tracing")
    build_stack = app.build_middleware_stack

    def traced_stack() -> ASGIApp:
        # Outside Starlette's ServerErrorMiddleware, so that the 500 answer and the crash log are in the span.
        return ServerSpanMiddleware(build_stack(), tracer=tracer, excluded=EXCLUDED_PATHS)

    app.build_middleware_stack = traced_stack  # type: ignore[method-assign]
    _no_native_server_spans(app)
    if engine is not None:  # the gateway has no database
        # The instrumentation's version check lags SQLAlchemy 2.1, whose engine events it uses unchanged.
        engines = [engine] if isinstance(engine, AsyncEngine) else list(engine)
        SQLAlchemyInstrumentor().instrument(
            engines=[e.sync_engine for e in engines], tracer_provider=provider, skip_dep_check=True
        )
    _instrument_httpx(provider)
    trace.set_tracer_provider(provider)
    return provider


def _no_native_server_spans(app: FastAPI) -> None:
    """Newer FastAPI traces requests itself once a tracer provider is set: a second server span.

    Its settings are only a constructor argument (`FastAPI(telemetry=...)`), and the gateway's app is
    built elsewhere, so the setting is switched off on the app here; older FastAPI has no such tracing.
    """
    native = getattr(app, "_telemetry", None)
    if isinstance(native, dict):
        native["tracing"] = False


def _route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path is not None else None


class ServerSpanMiddleware:
    """One SERVER span per HTTP request; the full set of attributes only when the span is sampled."""

    def __init__(self, app: ASGIApp, *, tracer: trace.Tracer, excluded: Iterable[str] = EXCLUDED_PATHS) -> None:
        self.app = app
        self.tracer = tracer
        self.excluded = frozenset(excluded)
        self._fields = {name.lower().encode("latin-1") for name in propagate.get_global_textmap().fields}

    def _parent(self, scope: Scope) -> otel_context.Context | None:
        fields = self._fields
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ()) if k in fields}
        return propagate.extract(carrier) if carrier else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.excluded:
            await self.app(scope, receive, send)
            return
        parent = self._parent(scope)
        method = scope["method"]
        span = self.tracer.start_span(method, context=parent, kind=SpanKind.SERVER)
        ctx = trace.set_span_in_context(span, parent)
        if not span.is_recording():
            # Below an unsampled span nothing is sampled (parent-based): skip building spans nobody exports.
            token = otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True, ctx))
            try:
                await self.app(scope, receive, send)
            finally:
                otel_context.detach(token)
                span.end()
            return
        await self._recorded(span, ctx, scope, receive, send)

    async def _recorded(self, span: Any, ctx: otel_context.Context, scope: Scope, receive: Receive, send: Send) -> None:
        from opentelemetry.instrumentation import asgi

        collect_request_attributes: Any = asgi.collect_request_attributes  # untyped upstream
        set_status_code: Any = asgi.set_status_code
        span.set_attributes(collect_request_attributes(scope))
        status: list[int] = []

        async def traced_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
                set_status_code(span, message["status"])
            await send(message)

        token = otel_context.attach(ctx)
        try:
            await self.app(scope, receive, traced_send)
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            if not status:
                set_status_code(span, 500)
            raise
        finally:
            route = _route_template(scope)
            if route is not None:
                span.set_attribute("http.route", route)
                span.update_name(f"{scope['method']} {route}")
            otel_context.detach(token)
            span.end()


def _instrument_httpx(provider: TracerProvider) -> None:
    global _httpx_instrumented
    if _httpx_instrumented:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _httpx_instrumented = True
