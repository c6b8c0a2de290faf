"""The gateway's and the services' HTTP clients on a real server: what their pools open, keep and send.

Their calls go through httpx's interface over aiohttp's connection pools (`msgen_runtime.http.
pooled_transport`): httpcore's pool, httpx's own, looks at every connection it holds on each request,
which made the gateway several times slower right after a burst (docs/performance.md). A real server here
counts the connections the clients open and hold, and records what they send.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from msgen_runtime.gateway.proxy import Upstream
from msgen_runtime.http import ServiceClient
from msgen_runtime.middleware import TIMEOUT_HEADER
from msgen_runtime.problems import Problem

KEPT = 600.0  # seconds a kept connection may stay idle in the tests that count reuse: none waits on speed


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CountingServer:
    """HTTP/1.1 with keep-alive on 127.0.0.1, counting connections accepted and open.

    `/slow` answers after 0.3 s, so that a burst opens a connection per request; `/hang` never answers;
    `/cookie` sets a cookie; `/stream` sends its headers and one event, then holds the connection until
    `release` is set. Every request's head is kept in `heads`.
    """

    def __init__(self) -> None:
        self.open = 0
        self.most = 0
        self.accepted = 0
        self.url = ""
        self.release = asyncio.Event()
        self.heads: list[bytes] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self.most = max(self.most, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head.lower())
                line = head.split(b"\r\n", 1)[0]
                if b" /hang " in line:
                    await asyncio.Event().wait()
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
                cookie = b"Set-Cookie: session=secret; Path=/\r\n" if b" /cookie " in line else b""
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + cookie + b"Content-Length: 2\r\n\r\nok"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
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
async def test_the_gateway_reuses_a_bursts_connections_then_closes_them_once_idle(server: CountingServer) -> None:
    upstream = Upstream("product", server.url, idle_seconds=KEPT)
    burst = 64
    try:
        assert await asyncio.gather(*[_get(upstream, "/slow") for _ in range(burst)]) == [200] * burst
        assert server.most == burst  # the burst needed a connection per request
        accepted = server.accepted
        assert await asyncio.gather(*[_get(upstream, "/") for _ in range(burst)]) == [200] * burst
        assert server.accepted == accepted  # the kept ones served the next requests
    finally:
        await upstream.aclose()
    await server.settled(0)  # closed with the gateway

    brief = Upstream("product", server.url, idle_seconds=0.5)
    try:
        assert await asyncio.gather(*[_get(brief, "/slow") for _ in range(8)]) == [200] * 8
        await server.settled(0)  # closed once idle, the gateway still running
    finally:
        await brief.aclose()


@pytest.mark.anyio
async def test_the_gateway_opens_no_more_connections_than_its_bound(server: CountingServer) -> None:
    upstream = Upstream("product", server.url, max_connections=4, idle_seconds=KEPT)
    try:
        assert await asyncio.gather(*[_get(upstream, "/slow") for _ in range(12)]) == [200] * 12
        assert server.most == 4 and server.accepted == 4  # the others waited for one of the four
    finally:
        await upstream.aclose()


@pytest.mark.anyio
async def test_the_gateway_keeps_no_cookie_and_sends_the_time_left(server: CountingServer) -> None:
    upstream = Upstream("product", server.url, idle_seconds=KEPT)
    try:
        assert await _get(upstream, "/cookie") == 200
        assert await _get(upstream, "/") == 200
    finally:
        await upstream.aclose()
    _first, second = server.heads
    assert b"\r\ncookie:" not in second  # one user's cookie never goes upstream with another's request
    left = int(second.split(TIMEOUT_HEADER.lower().encode() + b": ", 1)[1].split(b"\r\n", 1)[0])
    assert 0 < left <= 30_000  # the route's deadline, so that the service gives up before the gateway does


@pytest.mark.anyio
async def test_the_gateway_answers_503_for_an_upstream_that_refuses_and_504_for_one_that_hangs(
    server: CountingServer,
) -> None:
    with contextlib.closing(socket.socket()) as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    refusing = Upstream("product", f"http://127.0.0.1:{closed_port}", retries=0)
    hanging = Upstream("product", server.url, retries=0)
    try:
        with pytest.raises(Problem) as refused:
            await _get(refusing, "/")
        assert refused.value.status == 503 and "is unavailable" in refused.value.detail
        with pytest.raises(Problem) as hung:
            await hanging.open("GET", "/hang", headers=[], body=b"", timeout=0.3, idempotent=True, stream=False)
        assert hung.value.status == 504
    finally:
        await refusing.aclose()
        await hanging.aclose()


@pytest.mark.anyio
async def test_open_event_streams_do_not_make_the_gateways_requests_open_new_connections(
    server: CountingServer,
) -> None:
    upstream = Upstream("order", server.url, idle_seconds=KEPT)
    streams = []
    try:
        for _ in range(40):  # streams hold their connections
            stream = await upstream.open(
                "GET", "/stream", headers=[], body=b"", timeout=30, idempotent=True, stream=True
            )
            chunks = stream.aiter_raw()  # kept: a dropped iterator would close the stream with it
            streams.append((stream, chunks))
            assert await anext(chunks) == b"data: x\n\n"
        assert server.open == 40
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
async def test_a_services_calls_reuse_their_connections_keep_no_cookie_and_fail_as_503_or_504(
    server: CountingServer,
) -> None:
    client = ServiceClient("product", server.url, timeout=30, retries=0)
    try:
        answers = await asyncio.gather(*[client.request("GET", "/slow") for _ in range(40)])
        assert [a.status_code for a in answers] == [200] * 40
        accepted = server.accepted
        assert (await client.request("GET", "/cookie")).status_code == 200
        assert (await client.request("GET", "/")).status_code == 200
        assert server.accepted == accepted
        assert b"\r\ncookie:" not in server.heads[-1]
        with pytest.raises(Problem) as hung:
            await client.request("GET", "/hang", timeout=0.3)
        assert hung.value.status == 504
    finally:
        await client.close()
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    refusing = ServiceClient("product", f"http://127.0.0.1:{closed_port}", timeout=5, retries=0)
    try:
        with pytest.raises(Problem) as refused:
            await refusing.request("GET", "/")
        assert refused.value.status == 503
    finally:
        await refusing.close()
