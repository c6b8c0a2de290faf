"""One database per service: an async engine, sessions, and URL conventions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def async_url(url: str) -> str:
    """Accept the URLs people write (postgres://, postgresql://, sqlite:///) and pick the async driver."""
    parsed = make_url(url)
    name = parsed.drivername
    if name in ("postgres", "postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif name == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    if parsed.drivername.startswith("sqlite"):
        return f"{parsed.drivername}:///{parsed.database or ''}"  # a path, not percent-escaped
    return parsed.render_as_string(hide_password=False)


class Database:
    """An engine and a session factory for one service's own database."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int | None = None) -> None:
        self.url = async_url(url)
        options: dict[str, Any] = {"echo": echo}
        if not self.url.startswith("sqlite"):
            options["pool_pre_ping"] = True  # a server may have dropped idle connections; a file cannot
        if self.url.startswith("sqlite"):
            # SQLite has one writer at a time, and its busy handler sleeps up to 100 ms between retries:
            # one connection per process queues the work instead (SQLite is for local runs and tests).
            options["connect_args"] = {"timeout": 30}
            if make_url(self.url).database not in (None, "", ":memory:"):  # in memory: one connection already
                options["pool_size"] = pool_size or 1
                options["max_overflow"] = 0
        else:
            options["pool_size"] = pool_size or 10
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A FastAPI dependency: a session on the database of the app serving the request."""
    database: Database = request.app.state.database
    async with database.sessions() as session:
        yield session
