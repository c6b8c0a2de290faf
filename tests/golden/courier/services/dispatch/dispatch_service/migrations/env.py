"""Alembic environment of the dispatch service."""

from msgen_runtime.migrations import run_env

from dispatch_service.models import Base
from dispatch_service.settings import Settings

run_env(Base.metadata, Settings().database_url)
