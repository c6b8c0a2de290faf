"""The payment service's application: `uvicorn payment_service.main:create_app --factory`."""

from fastapi import FastAPI
from msgen_runtime.app import create_service_app
from msgen_runtime.db import Database

from payment_service.api.routes import router
from payment_service.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on its own database."""
    settings = settings or Settings()
    database = Database(
        settings.database_url, echo=settings.database_echo, pool_size=settings.database_pool_size
    )
    return create_service_app(
        title="payment-service",
        version="v1",
        description="Charges orders through the payment provider, and refunds them.",
        database=database,
        routers=[router],
    )
