"""Alembic environment of the pricing service."""

from msgen_runtime.migrations import run_env

from pricing_service.models import Base
from pricing_service.settings import Settings

run_env(Base.metadata, Settings().database_url)
