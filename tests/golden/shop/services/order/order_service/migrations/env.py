"""Alembic environment of the order service."""

from msgen_runtime.migrations import run_env

from order_service.models import Base
from order_service.settings import Settings

run_env(Base.metadata, Settings().database_url)
