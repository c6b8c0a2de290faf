"""The gateway's and the services' HTTP clients keep few idle connections after a burst.

The HTTP client looks at every connection of its pool on each request, so its CPU per request grows with
the pool (about 4x with 100 idle connections against none, docs/performance.md): a pool that kept a
burst's connections made the gateway slower right after an overload than before it. A real server here
counts the connections the client holds open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from msgen_runtime.gateway.proxy import Upstream
from msgen_runtime.http import ServiceClient

BURST = 40
KEPT = 8  # the idle connections a client keeps (gateway: UPSTREAM_MAX_IDLE_CONNECTIONS)


async def settled(server: CountingServer, *, within: float = 30) -> None:
    """Until the server sees no more than the kept connections open (a close reaches it as an EOF)."""
    deadline = asyncio.get_running_loop().time() + within
    while server.open > KEPT:
        assert asyncio.get_running_loop().time() < deadline, f"{server.open} connections still open"
        await asyncio.sleep(0.05)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CountingServer:
    """HTTP/1.1 with keep-alive on 127.0.0.1; `/slow` answers after 0.3 s, so a burst opens a connection each."""

    def __init__(self) -> None:
        self.open = 0
        self.most = 0
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.most = max(self.most, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if b" /slow " in head.split(b"\r\n", 1)[0]:
                    await asyncio.sleep(0.3)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[CountingServer]:
    counting = CountingServer()
    listener = await asyncio.start_server(counting._serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    counting.url = f"http://127.0.0.1:{port}"
    try:
        yield counting
    finally:
        listener.close()
        with contextlib.suppress(Exception):
            await listener.wait_closed()


@pytest.mark.anyio
async def test_the_gateway_closes_a_bursts_extra_connections_to_its_upstream(server: CountingServer) -> None:
    upstream = Upstream("product", server.url)

    async def one(path: str) -> int:
        response = await upstream.open("GET", path, headers=[], body=b"", timeout=10, idempotent=True, stream=False)
        await response.aread()
        await response.aclose()
        return response.status_code

    try:
        assert await asyncio.gather(*[one("/slow") for _ in range(BURST)]) == [200] * BURST
        assert server.most == BURST  # the burst needed a connection per request
        await settled(server)
        assert server.open == KEPT
        # the kept ones serve the next requests: no new connection for a steady flow within them
        assert await asyncio.gather(*[one("/") for _ in range(KEPT)]) == [200] * KEPT
        assert server.open == KEPT
    finally:
        await upstream.aclose()


@pytest.mark.anyio
async def test_a_services_calls_close_a_bursts_extra_connections(server: CountingServer) -> None:
    client = ServiceClient("product", server.url, timeout=10)
    try:
        answers = await asyncio.gather(*[client.request("GET", "/slow") for _ in range(BURST)])
        assert [a.status_code for a in answers] == [200] * BURST
        assert server.most == BURST
        await settled(server)
        assert server.open == KEPT
    finally:
        await client.close()
