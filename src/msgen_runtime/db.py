"""One database per service: an async engine, sessions, and URL conventions."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

__all__ = ["PING_AFTER_IDLE", "SAFE_METHODS", "SQLITE_READERS", "Database", "async_url", "get_session"]


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


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reader connections of a SQLite file, so that concurrent GETs' sessions need not wait for each other.
# (Measured when each was a thread of aiosqlite's: on 2 cores, 2 readers served 10-20% more GETs than 4
# or 8, and 1 fewer. Their statements now run on the event loop, msgen_runtime.sqlite.)
SQLITE_READERS = min(4, max(2, os.cpu_count() or 2))


class Database:
    """An engine and a session factory for one service's own database.

    On a SQLite file, writes go through one connection (`engine`, `sessions`), and the reads of safe
    requests (GET, HEAD) through a small pool of their own (`read_engine`, `read_sessions`): in WAL
    mode readers neither wait for the writer nor make it wait, so concurrent GETs no longer queue for
    the one connection. There are as many readers as cores, from 2 to 4. Elsewhere both names are the same engine and factory.
    """

    def __init__(
        self, url: str, *, echo: bool = False, pool_size: int | None = None, sqlite_on_loop: bool = True
    ) -> None:
        self.url = async_url(url)
        options: dict[str, Any] = {"echo": echo}
        if self.url.startswith("sqlite"):
            # SQLite has one writer at a time, and its busy handler sleeps up to 100 ms between retries:
            # one connection per process queues the work instead (SQLite is for local runs and tests).
            options["connect_args"] = {"timeout": 30}
            if sqlite_on_loop and self.url.startswith("sqlite+aiosqlite"):
                # statements run on the event loop, a wait for a lock on a thread (msgen_runtime.sqlite)
                options["async_creator"] = _on_loop(self.url, timeout=30)
            if make_url(self.url).database not in (None, "", ":memory:"):  # in memory: one connection already
                options["pool_size"] = pool_size or 1
                options["max_overflow"] = 0
        else:
            options["pool_size"] = pool_size or 10
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:  # a server may have dropped idle connections; a file cannot
            _ping_when_idle(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_engine = self.engine
        self.read_sessions = self.sessions
        if options.get("pool_size") and self.url.startswith("sqlite"):  # a file, not memory
            readers = {**options, "pool_size": max(SQLITE_READERS, options["pool_size"]), "max_overflow": 0}
            self.read_engine = create_async_engine(self.url, **readers)
            event.listen(self.read_engine.sync_engine, "connect", _sqlite_pragmas)
            self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    @property
    def engines(self) -> list[AsyncEngine]:
        return [self.engine] if self.read_engine is self.engine else [self.engine, self.read_engine]

    async def dispose(self) -> None:
        for engine in self.engines:
            await engine.dispose()


PING_AFTER_IDLE = 1.0  # seconds: a pooled connection idle longer than this is pinged before it is lent


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a connection before lending it only when it sat in the pool over PING_AFTER_IDLE seconds.

    SQLAlchemy's `pool_pre_ping` pings on every checkout: a round trip and about 0.25 ms of CPU per
    transaction, most of them on connections used a few milliseconds before (HikariCP skips the check
    for connections used in the last 0.5 s the same way). A dead connection found by the ping is
    replaced (DisconnectionError: the pool connects again); one that died within the last second fails
    its first statement, and the pool then drops every connection older than it, as on any disconnect.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["msgen_idle_since"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("msgen_idle_since")
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE:
            return  # new, or just used
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            if dialect.is_disconnect(error, dbapi_connection, None):  # type: ignore[arg-type]  # as pre_ping does
                raise DisconnectionError() from error
            raise

    event.listen(pool, "checkin", checkin)
    event.listen(pool, "checkout", checkout)


def _on_loop(url: str, *, timeout: float) -> Callable[[], Awaitable[Any]]:
    """aiosqlite's connect for `url` (its file and query options, as SQLAlchemy reads them), on the loop."""
    from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite

    from msgen_runtime import sqlite

    args, params = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    params = dict(params)
    wait = float(params.pop("timeout", timeout))
    params.pop("check_same_thread", None)

    async def connect() -> Any:
        return await sqlite.connect(*args, timeout=wait, **params)

    return connect


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A FastAPI dependency: a session on the database of the app serving the request (GETs read apart).

    Closed directly rather than through `async with`: SQLAlchemy's context manager closes in a task of
    its own to survive a cancellation, which FastAPI already prevents by shielding a dependency's exit.
    """
    database: Database = request.app.state.database
    session = database.read_sessions() if request.method in SAFE_METHODS else database.sessions()
    try:
        yield session
    finally:
        await session.close()
