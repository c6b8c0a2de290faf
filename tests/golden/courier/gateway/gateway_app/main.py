"""The courier gateway's application: `uvicorn gateway_app.main:create_app --factory`."""

from fastapi import FastAPI
from msgen_runtime.gateway import create_gateway_app
from opentelemetry.sdk.trace.export import SpanExporter

from gateway_app.routes import ROUTES
from gateway_app.settings import Settings


def create_app(settings: Settings | None = None, *, span_exporter: SpanExporter | None = None) -> FastAPI:
    """Build the gateway; settings come from the environment by default."""
    return create_gateway_app(
        settings or Settings(),
        ROUTES,
        title="courier-gateway",
        version="v1",
        span_exporter=span_exporter,
    )
