"""The dispatch service's application: `uvicorn dispatch_service.main:create_app --factory`."""

from fastapi import FastAPI
from msgen_runtime.app import create_service_app
from opentelemetry.sdk.trace.export import SpanExporter

from dispatch_service.api.routes import router
from dispatch_service.clients import configure_clients
from dispatch_service.messaging import MESSAGING
from dispatch_service.models import IdempotencyKey
from dispatch_service.settings import Settings


def create_app(settings: Settings | None = None, *, span_exporter: SpanExporter | None = None) -> FastAPI:
    """Build the app on its own database; settings come from the environment by default."""
    settings = settings or Settings()
    downstream = configure_clients(settings)
    return create_service_app(
        title="dispatch-service",
        version="v1",
        description="Takes delivery bookings and runs the book-delivery saga.",
        settings=settings,
        routers=[router],
        idempotency_model=IdempotencyKey,
        on_shutdown=[downstream.close],
        span_exporter=span_exporter,
        messaging=MESSAGING,
    )
