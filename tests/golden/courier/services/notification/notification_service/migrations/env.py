"""Alembic environment of the notification service."""

from msgen_runtime.migrations import run_env

from notification_service.models import Base
from notification_service.settings import Settings

run_env(Base.metadata, Settings().database_url)
