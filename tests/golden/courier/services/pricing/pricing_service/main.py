"""The pricing service's application: `uvicorn pricing_service.main:create_app --factory`."""

from fastapi import FastAPI
from msgen_runtime.app import create_service_app
from opentelemetry.sdk.trace.export import SpanExporter

from pricing_service.api.routes import router
from pricing_service.settings import Settings


def create_app(settings: Settings | None = None, *, span_exporter: SpanExporter | None = None) -> FastAPI:
    """Build the app on its own database; settings come from the environment by default."""
    settings = settings or Settings()
    return create_service_app(
        title="pricing-service",
        version="v1",
        description="Tariffs per zone, and the quotes computed from them.",
        settings=settings,
        routers=[router],
        span_exporter=span_exporter,
    )
