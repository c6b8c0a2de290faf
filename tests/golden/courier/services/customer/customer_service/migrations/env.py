"""Alembic environment of the customer service."""

from msgen_runtime.migrations import run_env

from customer_service.models import Base
from customer_service.settings import Settings

run_env(Base.metadata, Settings().database_url)
