"""The order service's application: `uvicorn order_service.main:create_app --factory`."""

from fastapi import FastAPI
from msgen_runtime.app import create_service_app
from msgen_runtime.db import Database

from order_service.api.routes import router
from order_service.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on its own database."""
    settings = settings or Settings()
    database = Database(
        settings.database_url, echo=settings.database_echo, pool_size=settings.database_pool_size
    )
    return create_service_app(
        title="order-service",
        version="v1",
        description="Takes orders and runs the place-order saga.",
        database=database,
        routers=[router],
    )
