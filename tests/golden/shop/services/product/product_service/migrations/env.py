"""Alembic environment of the product service."""

from msgen_runtime.migrations import run_env

from product_service.models import Base
from product_service.settings import Settings

run_env(Base.metadata, Settings().database_url)
