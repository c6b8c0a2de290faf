"""SQLite on the event loop: aiosqlite's connection without its thread, unless SQLite has to wait.

aiosqlite runs every call of a connection (cursor, execute, fetch, close: four per statement through
SQLAlchemy) on a thread of its own and hands the result back to the event loop. Each hand-off wakes a
thread and the loop: on two cores that cost about 0.65 ms of CPU per `SELECT 1` session against
0.15 ms for the same statement run on the loop, and most of a service's database time.

A local SQLite file answers in microseconds, so `InlineConnection` runs the calls on the loop. The one
thing that must not run there is a wait for another connection's lock (the busy handler sleeps while
another writer holds the file, and that writer may be a coroutine of the same loop). So the connection's
own busy timeout is 0: a call that finds the file locked fails at once with SQLITE_BUSY, before it
changed anything, and is run again on a thread with the real timeout, which is exactly what aiosqlite
would have done. A service's single writer connection never meets a lock in its own process; tests that
open a second writer on the same file, and other processes, still wait the way they did. A caller
cancelled while its call waits on the thread (a request past its deadline) leaves the call running, as
aiosqlite's thread did, and the connection's next call waits for it without blocking the loop.

The other slow thing SQLite does is a checkpoint: copying the write-ahead log into the file and syncing it
to disk, which a commit runs once the log holds 1000 pages and which stalled the loop up to 190 ms on a
busy disk. So the connection does not checkpoint by itself (`wal_autocheckpoint` 0): after a commit that
brings its changed rows to `CHECKPOINT_CHANGES` since the last checkpoint, it checkpoints on a thread
before the commit returns (the connection is still its session's, so nothing writes meanwhile and the
checkpoint completes, letting the next write start the log over; the loop goes on).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite

__all__ = ["CHECKPOINT_CHANGES", "InlineConnection", "connect"]

_BUSY = 5  # SQLITE_BUSY (its extended codes share the low byte)
CHECKPOINT_CHANGES = 1000  # rows changed by a connection between two checkpoints (SQLite's own: 1000 pages)
_log = logging.getLogger("msgen.sqlite")


class _RunNow:
    """Stands in for aiosqlite's queue to its thread: runs what is put on it at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the waiting caller, as aiosqlite's thread does
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the event loop; a call that meets a lock waits on a thread."""

    def __init__(
        self, connector: Callable[[], sqlite3.Connection], busy_timeout: float, checkpoints: bool = False
    ) -> None:
        super().__init__(connector, 64)
        self._tx = _RunNow()  # type: ignore[assignment]  # SQLAlchemy's isolation-level setter uses it
        self._busy_ms = int(busy_timeout * 1000)
        self._checkpoints = checkpoints  # checkpoint on a thread after commits (False: SQLite does it on commit)
        self._checkpointed = 0  # the connection's total_changes at its last checkpoint
        self._thread_call: asyncio.Future[Any] | None = None  # the last call run on a thread

    async def commit(self) -> None:
        await self._execute(self._conn.commit)
        if self._checkpoints and self._conn.total_changes - self._checkpointed >= CHECKPOINT_CHANGES:
            self._checkpointed = self._conn.total_changes
            await self._on_thread(_checkpoint, self._conn)

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if self._thread_call is not None and not self._thread_call.done():
            # a call still on a thread (its caller may have been cancelled: the thread goes on): the connection
            # is the thread's until it ends, and a call made on the loop meanwhile would block the loop
            await asyncio.wait([self._thread_call])
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF != _BUSY or self._busy_ms <= 0:
                raise
        return await self._on_thread(self._waiting, fn, args, kwargs)

    async def _on_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on a thread; a cancel of the caller leaves it running, and the next call waits for it."""
        call = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        call.add_done_callback(_retrieve)
        self._thread_call = call
        return await asyncio.shield(call)

    def _waiting(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """`fn` again with the busy handler on: SQLite waits up to the timeout for the lock (off the loop)."""
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        try:
            return fn(*args, **kwargs)
        finally:
            conn.execute("PRAGMA busy_timeout = 0")

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:  # no thread to start
        return self._connect().__await__()

    def stop(self) -> asyncio.Future[Any] | None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return None


def _retrieve(call: asyncio.Future[Any]) -> None:
    """Mark a thread call's outcome seen: its caller, cancelled, may never look at it."""
    if not call.cancelled():
        call.exception()


def _checkpoint(connection: sqlite3.Connection) -> None:
    """A PASSIVE checkpoint of the connection's write-ahead log (run on a thread)."""
    try:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as exc:  # the commit was made; a later one checkpoints again
        _log.warning("sqlite.checkpoint_failed", extra={"error": f"{type(exc).__name__}: {exc}"})


def connect(database: str, *, timeout: float = 5.0, uri: bool = False, **kwargs: Any) -> InlineConnection:
    """Like `aiosqlite.connect`, on the event loop (`timeout`: how long a call waits for a lock, on a thread)."""
    checkpoints = not (database == ":memory:" or uri or database.startswith("file:"))  # a file, not memory

    def connector() -> sqlite3.Connection:
        # check_same_thread off: the connection moves to a thread for a wait, and a test client may run the
        # app's loop on a thread other than the one that opened it; the pool lends it to one user at a time
        connection: sqlite3.Connection = sqlite3.connect(
            database, timeout=0, check_same_thread=False, uri=uri, **kwargs
        )
        if checkpoints:
            connection.execute("PRAGMA wal_autocheckpoint = 0")  # a thread checkpoints (InlineConnection.commit)
        return connection

    return InlineConnection(connector, timeout, checkpoints)
