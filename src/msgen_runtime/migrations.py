"""Alembic glue: generated env.py files call `run_env`, tools call `upgrade`."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from msgen_runtime.db import async_url

__all__ = ["config_for", "run_env", "upgrade"]


def config_for(package: str, database_url: str) -> Config:
    """An Alembic config for `<package>:migrations` and the given database."""
    config = Config()
    config.set_main_option("script_location", f"{package}:migrations")
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return config


def upgrade(package: str, database_url: str, revision: str = "head") -> None:
    """Apply the service's migrations (call outside a running event loop)."""
    command.upgrade(config_for(package, database_url), revision)


def run_env(metadata: MetaData, default_url: str) -> None:
    """The body of a generated migrations/env.py."""
    url = context.config.get_main_option("sqlalchemy.url") or default_url
    url = async_url(url)
    options: dict[str, Any] = {"target_metadata": metadata, "render_as_batch": url.startswith("sqlite")}
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())
