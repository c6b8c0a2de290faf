"""OpenTelemetry traces: incoming requests, outgoing HTTP calls and database queries.

Exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise nothing is
instrumented and tracing costs nothing. Sampling is parent-based with a ratio.
Instrumentation is process-wide (one service per process), so only the first
app of a process is traced.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from sqlalchemy.ext.asyncio import AsyncEngine

_httpx_instrumented = False


def configure_tracing(
    app: FastAPI,
    *,
    service: str,
    sample_ratio: float,
    engine: AsyncEngine | None = None,
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
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    provider.add_span_processor(processor)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls="/health/live,/health/ready,/metrics",
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
    )
    if engine is not None:  # the gateway has no database
        # The instrumentation's version check lags SQLAlchemy 2.1, whose engine events it uses unchanged.
        SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True)
    _instrument_httpx(provider)
    trace.set_tracer_provider(provider)
    return provider


def _instrument_httpx(provider: TracerProvider) -> None:
    global _httpx_instrumented
    if _httpx_instrumented:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _httpx_instrumented = True
