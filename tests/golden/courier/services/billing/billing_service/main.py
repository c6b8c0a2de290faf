"""The billing service's application: `uvicorn billing_service.main:create_app --factory`."""

from fastapi import FastAPI
from msgen_runtime.app import create_service_app
from opentelemetry.sdk.trace.export import SpanExporter

from billing_service.api.routes import router
from billing_service.messaging import MESSAGING
from billing_service.settings import Settings


def create_app(settings: Settings | None = None, *, span_exporter: SpanExporter | None = None) -> FastAPI:
    """Build the app on its own database; settings come from the environment by default."""
    settings = settings or Settings()
    return create_service_app(
        title="billing-service",
        version="v1",
        description="Charges the delivery fee to the customer's card, and refunds it.",
        settings=settings,
        routers=[router],
        span_exporter=span_exporter,
        messaging=MESSAGING,
    )
