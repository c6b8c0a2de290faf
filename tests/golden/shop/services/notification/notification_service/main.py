"""The notification service's application: `uvicorn notification_service.main:create_app --factory`."""

from fastapi import FastAPI
from msgen_runtime.app import create_service_app
from msgen_runtime.db import Database

from notification_service.api.routes import router
from notification_service.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on its own database."""
    settings = settings or Settings()
    database = Database(
        settings.database_url, echo=settings.database_echo, pool_size=settings.database_pool_size
    )
    return create_service_app(
        title="notification-service",
        version="v1",
        description="Tells customers what happened to their orders.",
        database=database,
        routers=[router],
    )
