"""The gateway's and the services' HTTP clients on a real server: what their pools open, keep and send.

The gateway's calls go through httpx's interface over aiohttp's connection pools (`msgen_runtime.gateway.
proxy`): httpcore's pool, httpx's own, looks at every connection it holds on each request, which made the
gateway several times slower right after a burst (docs/performance.md). A service's calls stay on httpx's
own pool, bounded. A real server here counts the connections the clients open and hold, and records what
they send.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator

import pytest

from msgen_runtime.gateway.proxy import Upstream
from msgen_runtime.http import ServiceClient
from msgen_runtime.middleware import TIMEOUT_HEADER
from msgen_runtime.problems import Problem

SERVICE_KEPT = 16  # a service's calls stay on httpx's own pool, which keeps this many (msgen_runtime.http)
KEPT = 600.0  # seconds a kept connection may stay idle in the tests that count reuse: none waits on speed


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CountingServer:
    """HTTP/1.1 with keep-alive on 127.0.0.1, counting connections accepted and open.

    `/slow` answers after 0.3 s, so that a burst opens a connection per request; `/hang` never answers;
    `/drop` closes the connection without an answer; `/cookie` sets a cookie; `/long` answers a 10 kB header line, `/many` 150 header lines; `/stream` sends its headers and one event, then holds the connection until
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
                if b" /drop " in line:  # the connection closed before any answer
                    return
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
                if b"\r\ncontent-length: " in head.lower():  # a body: read it, the next request follows it
                    length = head.lower().split(b"\r\ncontent-length: ", 1)[1].split(b"\r\n", 1)[0]
                    await reader.readexactly(int(length))
                extra = {
                    b" /cookie ": b"Set-Cookie: session=secret; Path=/\r\n",
                    b" /long ": b"X-Long: " + b"x" * 10_000 + b"\r\n",
                    b" /many ": b"".join(b"Set-Cookie: c%d=1\r\n" % i for i in range(150)),
                }
                added = b"".join(lines for path, lines in extra.items() if path in line)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + added + b"Content-Length: 2\r\n\r\nok"
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
async def test_the_gateway_sends_a_request_once_as_it_came_and_relays_a_long_header(server: CountingServer) -> None:
    upstream = Upstream("product", server.url, retries=0, idle_seconds=KEPT)
    try:
        with pytest.raises(Problem) as dropped:  # no retry behind the gateway's back (its own are for reads)
            await upstream.open("PUT", "/drop", headers=[], body=b"{}", timeout=30, idempotent=False, stream=False)
        assert dropped.value.status == 503
        assert [h for h in server.heads if h.startswith(b"put /drop ")] == [server.heads[0]]
        repeated = [("x-dup", "1"), ("x-dup", "2")]
        answer = await upstream.open(
            "POST", "/", headers=repeated, body=b"x", timeout=30, idempotent=False, stream=False
        )
        await answer.aread()
        await answer.aclose()
        sent = server.heads[-1]
        assert b"\r\nx-dup: 1\r\n" in sent and b"\r\nx-dup: 2\r\n" in sent  # two lines, as they came
        assert b"\r\ncontent-type:" not in sent  # none was given: none is made up
        assert await _get(upstream, "/long") == 200
        assert await _get(upstream, "/many") == 200
    finally:
        await upstream.aclose()


_TRACED_CALLS = """
import asyncio, sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from msgen_runtime.gateway.proxy import Upstream

spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))

async def main() -> None:
    upstream = Upstream("product", sys.argv[1])
    upstream.trace(provider)  # as create_gateway_app does once tracing is on
    untraced = Upstream("product", sys.argv[1])  # tracing off: no instrumentation, no span
    answer = await upstream.open("GET", "/", headers=[], body=b"", timeout=30, idempotent=True, stream=False)
    await answer.aread()
    await answer.aclose()
    other = await untraced.open("GET", "/", headers=[], body=b"", timeout=30, idempotent=True, stream=False)
    await other.aread()
    await other.aclose()
    await upstream.aclose()
    await untraced.aclose()

asyncio.run(main())
print(sorted(span.kind.name for span in spans.get_finished_spans()))
"""


def test_the_gateways_calls_are_traced() -> None:
    async def serve() -> str:
        counting = CountingServer()
        listener = await asyncio.start_server(counting._serve, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            done = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _TRACED_CALLS, f"http://127.0.0.1:{port}", stdout=asyncio.subprocess.PIPE
            )
            out, _ = await asyncio.wait_for(done.communicate(), 120)
            assert done.returncode == 0
            return out.decode().strip()
        finally:
            counting.release.set()
            listener.close()

    # its own tracer provider, in a process of its own: a process sets one once
    assert asyncio.run(serve()) == "['CLIENT']"


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
