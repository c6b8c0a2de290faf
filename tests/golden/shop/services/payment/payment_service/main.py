"""The payment service's application: `uvicorn payment_service.main:create_app --factory`."""

from fastapi import FastAPI
from msgen_runtime.app import create_service_app
from opentelemetry.sdk.trace.export import SpanExporter

from payment_service.api.routes import router
from payment_service.messaging import MESSAGING
from payment_service.models import IdempotencyKey
from payment_service.settings import Settings


def create_app(settings: Settings | None = None, *, span_exporter: SpanExporter | None = None) -> FastAPI:
    """Build the app on its own database; settings come from the environment by default."""
    settings = settings or Settings()
    return create_service_app(
        title="payment-service",
        version="v1",
        description="Charges orders through the payment provider, and refunds them.",
        settings=settings,
        routers=[router],
        idempotency_model=IdempotencyKey,
        span_exporter=span_exporter,
        messaging=MESSAGING,
    )
