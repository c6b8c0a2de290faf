"""Alembic environment of the user service."""

from msgen_runtime.migrations import run_env

from user_service.models import Base
from user_service.settings import Settings

run_env(Base.metadata, Settings().database_url)
