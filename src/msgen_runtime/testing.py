"""Helpers for generated test suites: a throw-away PostgreSQL database per run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.engine import make_url

from msgen_runtime.db import async_url


@contextmanager
def temporary_database(server_url: str, *, prefix: str) -> Iterator[str]:
    """Create a uniquely named database on `server_url`, yield its URL, then drop it."""
    url = make_url(async_url(server_url))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = url.set(drivername="postgresql", database=url.database or "postgres").render_as_string(hide_password=False)

    async def run(statement: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
