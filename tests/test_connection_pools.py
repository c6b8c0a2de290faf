"""The gateway's and the services' HTTP clients keep a bounded pool after a burst; event streams have their own.

The HTTP client looks at every connection of its pool on each request, so its CPU per request grows with
the pool (about 4x with 100 idle connections against none, docs/performance.md): a pool that kept a
burst's connections made the gateway slower right after an overload than before it. The client also counts
busy connections against its keep-alive bound (httpcore 1.0), so long-lived event streams sharing the
requests' pool would have every request open a new connection. A real server here counts the connections
the clients open and hold.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from msgen_runtime.gateway.proxy import Upstream
from msgen_runtime.http import ServiceClient

GATEWAY_KEPT = 32  # UPSTREAM_MAX_IDLE_CONNECTIONS
SERVICE_KEPT = 16
IDLE = 600.0  # seconds a kept connection may stay idle here: no test waits on the machine's speed


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CountingServer:
    """HTTP/1.1 with keep-alive on 127.0.0.1, counting connections accepted and open.

    `/slow` answers after 0.3 s, so that a burst opens a connection per request; `/stream` sends its
    headers and one event, then holds the connection until `release` is set.
    """

    def __init__(self) -> None:
        self.open = 0
        self.most = 0
        self.accepted = 0
        self.url = ""
        self.release = asyncio.Event()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self.most = max(self.most, self.open)
        try:
            while True:
                line = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n", 1)[0]
                if b" /stream " in line:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"9\r\ndata: x\n\n\r\n"
                    )
                    await writer.drain()
                    await self.release.wait()
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
                    continue
                if b" /slow " in line:
                    await asyncio.sleep(0.3)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def settled(self, kept: int, *, within: float = 60) -> None:
        """Until no more than `kept` connections are open (a close reaches the server as an EOF)."""
        deadline = asyncio.get_running_loop().time() + within
        while self.open > kept:
            assert asyncio.get_running_loop().time() < deadline, f"{self.open} connections still open"
            await asyncio.sleep(0.05)


@pytest.fixture
async def server() -> AsyncIterator[CountingServer]:
    counting = CountingServer()
    listener = await asyncio.start_server(counting._serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    counting.url = f"http://127.0.0.1:{port}"
    try:
        yield counting
    finally:
        counting.release.set()
        listener.close()
        with contextlib.suppress(Exception):
            await listener.wait_closed()


async def _get(upstream: Upstream, path: str) -> int:
    response = await upstream.open("GET", path, headers=[], body=b"", timeout=30, idempotent=True, stream=False)
    await response.aread()
    await response.aclose()
    return response.status_code


@pytest.mark.anyio
async def test_the_gateway_closes_a_bursts_extra_connections_to_its_upstream(server: CountingServer) -> None:
    upstream = Upstream("product", server.url, idle_seconds=IDLE)
    burst = 2 * GATEWAY_KEPT
    try:
        assert await asyncio.gather(*[_get(upstream, "/slow") for _ in range(burst)]) == [200] * burst
        assert server.most == burst  # the burst needed a connection per request
        await server.settled(GATEWAY_KEPT)
        assert server.open == GATEWAY_KEPT
        # the kept ones serve the next requests
        accepted = server.accepted
        assert await asyncio.gather(*[_get(upstream, "/") for _ in range(GATEWAY_KEPT)]) == [200] * GATEWAY_KEPT
        assert server.accepted == accepted
    finally:
        await upstream.aclose()


@pytest.mark.anyio
async def test_open_event_streams_do_not_make_the_gateways_requests_open_new_connections(
    server: CountingServer,
) -> None:
    upstream = Upstream("order", server.url, idle_seconds=IDLE)
    streams = []
    try:
        for _ in range(GATEWAY_KEPT + 8):  # more streams than the requests' pool keeps
            stream = await upstream.open(
                "GET", "/stream", headers=[], body=b"", timeout=30, idempotent=True, stream=True
            )
            chunks = stream.aiter_raw()  # kept: a dropped iterator would close the stream with it
            streams.append((stream, chunks))
            assert await anext(chunks) == b"data: x\n\n"
        assert server.open == GATEWAY_KEPT + 8
        accepted = server.accepted
        for _ in range(5):  # one after the other: the first opens a connection, the others reuse it
            assert await _get(upstream, "/") == 200
        assert server.accepted == accepted + 1
    finally:
        server.release.set()
        for stream, chunks in streams:
            await chunks.aclose()
            await stream.aclose()
        await upstream.aclose()


@pytest.mark.anyio
async def test_a_services_calls_close_a_bursts_extra_connections(server: CountingServer) -> None:
    client = ServiceClient("product", server.url, timeout=30)
    burst = 40
    try:
        answers = await asyncio.gather(*[client.request("GET", "/slow") for _ in range(burst)])
        assert [a.status_code for a in answers] == [200] * burst
        assert server.most == burst
        await server.settled(SERVICE_KEPT)
        assert server.open == SERVICE_KEPT
    finally:
        await client.close()
