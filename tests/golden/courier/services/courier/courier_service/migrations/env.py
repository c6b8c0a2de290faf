"""Alembic environment of the courier service."""

from msgen_runtime.migrations import run_env

from courier_service.models import Base
from courier_service.settings import Settings

run_env(Base.metadata, Settings().database_url)
