"""Alembic environment of the billing service."""

from msgen_runtime.migrations import run_env

from billing_service.models import Base
from billing_service.settings import Settings

run_env(Base.metadata, Settings().database_url)
