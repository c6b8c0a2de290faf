"""The customer service's application: `uvicorn customer_service.main:create_app --factory`."""

from fastapi import FastAPI
from msgen_runtime.app import create_service_app
from opentelemetry.sdk.trace.export import SpanExporter

from customer_service.api.routes import router
from customer_service.settings import Settings


def create_app(settings: Settings | None = None, *, span_exporter: SpanExporter | None = None) -> FastAPI:
    """Build the app on its own database; settings come from the environment by default."""
    settings = settings or Settings()
    return create_service_app(
        title="customer-service",
        version="v1",
        description="The people who book deliveries.",
        settings=settings,
        routers=[router],
        span_exporter=span_exporter,
    )
