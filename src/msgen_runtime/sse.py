"""Server-Sent Events on plain ASGI: the wire format, and a client's disconnect seen without a task group.

sse_starlette's `EventSourceResponse` and Starlette's `StreamingResponse` run an anyio task group per
response (the sender, a disconnect listener, a heartbeat and a shutdown listener, each send under its
own timeout scope): most of the CPU of a short status stream. The streams here send from the request's
own task, and watch for the client's disconnect from one plain asyncio task (`ClientGone`), started only
once the stream has to wait; the wire format (`event`) is sse_starlette's, byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.types import Receive

__all__ = ["HEADERS", "HEARTBEAT", "ClientGone", "event", "heartbeat", "shutting_down"]

HEARTBEAT = 15.0  # seconds without a send after which a comment line keeps proxies from closing the stream
# What sse_starlette sends with every stream: no caching, no buffering by a proxy (nginx), kept open.
HEADERS = {"Cache-Control": "no-store", "Connection": "keep-alive", "X-Accel-Buffering": "no"}
_SEP = "\r\n"
_LINES = re.compile(r"\r\n|\r|\n")


def event(name: str, ident: str, data: str) -> bytes:
    """One event as sse_starlette encodes it (`id`, `event`, one `data` line per line of `data`)."""
    lines = [f"id: {ident}", f"event: {name}", *(f"data: {line}" for line in _LINES.split(data))]
    return (_SEP.join(lines) + _SEP + _SEP).encode("utf-8")


def heartbeat() -> bytes:
    """The comment sse_starlette sends every 15 s (clients ignore it; proxies see traffic)."""
    return f": ping - {datetime.now(UTC)}{_SEP}{_SEP}".encode()


def shutting_down() -> bool:
    """The server is stopping (uvicorn's SIGTERM, as sse_starlette sees it): open streams end."""
    try:
        from sse_starlette.sse import AppStatus
    except ImportError:  # pragma: no cover - sse_starlette is a dependency of the runtime's messaging
        return False
    return bool(AppStatus.should_exit)


class ClientGone:
    """Watches a request's `receive` for the client's disconnect, from one task, started on demand.

    `on_gone` runs (in the event loop) when the disconnect arrives. `gone` says whether it did. A
    stream that ends before it ever waits never starts the task.
    """

    __slots__ = ("_on_gone", "_receive", "_task", "gone")

    def __init__(self, receive: Receive, on_gone: Callable[[], None]) -> None:
        self._receive = receive
        self._on_gone = on_gone
        self._task: asyncio.Task[None] | None = None
        self.gone = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                self._on_gone()
                return

    async def stop(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
