"""Alembic environment of the inventory service."""

from msgen_runtime.migrations import run_env

from inventory_service.models import Base
from inventory_service.settings import Settings

run_env(Base.metadata, Settings().database_url)
