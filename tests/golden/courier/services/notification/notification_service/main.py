"""The notification service's application: `uvicorn notification_service.main:create_app --factory`."""

from fastapi import FastAPI
from msgen_runtime.app import create_service_app
from opentelemetry.sdk.trace.export import SpanExporter

from notification_service.api.routes import router
from notification_service.clients import configure_clients
from notification_service.messaging import MESSAGING
from notification_service.settings import Settings


def create_app(settings: Settings | None = None, *, span_exporter: SpanExporter | None = None) -> FastAPI:
    """Build the app on its own database; settings come from the environment by default."""
    settings = settings or Settings()
    downstream = configure_clients(settings)
    return create_service_app(
        title="notification-service",
        version="v1",
        description="Tells customers what happened to their deliveries.",
        settings=settings,
        routers=[router],
        on_shutdown=[downstream.close],
        span_exporter=span_exporter,
        messaging=MESSAGING,
    )
