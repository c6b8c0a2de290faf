"""Alembic environment of the payment service."""

from msgen_runtime.migrations import run_env

from payment_service.models import Base
from payment_service.settings import Settings

run_env(Base.metadata, Settings().database_url)
