"""A small real HTTP proxy in front of the gateway that injects faults, and records what it was sent."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}


@dataclass
class Fault:
    method: str
    path: str
    status: int
    retry_after: str | None = None
    forward: bool = False  # the request reaches the gateway first: only its answer is lost


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    at: float  # time.monotonic() when it arrived
    answered: int = 0


@dataclass
class FaultProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def inject(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    def _fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.path == path:
                self.faults.remove(fault)
                return fault
        return None

    async def control(self, request: Request) -> Response:
        """/__proxy/faults (POST a JSON list of faults) and /__proxy/seen (GET): for the Node tests."""
        if request.method == "POST":
            self.inject(*(Fault(**fault) for fault in await request.json()))
            return JSONResponse({"faults": len(self.faults)})
        return JSONResponse([vars(seen) for seen in self.seen])

    async def handle(self, request: Request) -> Response:
        seen = Seen(
            request.method, request.url.path, {k.lower(): v for k, v in request.headers.items()}, time.monotonic()
        )
        self.seen.append(seen)
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        target = f"{self.upstream}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        fault = self._fault(request.method, request.url.path)
        client = httpx.AsyncClient(timeout=60)
        if fault is not None:
            if fault.forward:
                async with client:
                    await client.request(request.method, target, headers=headers, content=body)
            else:
                await client.aclose()
            seen.answered = fault.status
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return JSONResponse(
                {"type": "about:blank", "title": "Injected fault", "status": fault.status},
                status_code=fault.status,
                headers=extra,
                media_type="application/problem+json",
            )
        upstream = await client.send(
            client.build_request(request.method, target, headers=headers, content=body), stream=True
        )
        seen.answered = upstream.status_code

        async def close() -> None:
            await upstream.aclose()
            await client.aclose()

        return StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP},
            background=BackgroundTask(close),
        )


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """The proxy, served by uvicorn on a free port of 127.0.0.1 in a thread, stopped on exit."""
    proxy = FaultProxy(upstream)
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(
        routes=[
            Route("/__proxy/{what}", proxy.control, methods=["GET", "POST"]),
            Route("/{path:path}", proxy.handle, methods=methods),
        ]
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    proxy.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the fault proxy did not start"
            time.sleep(0.02)
        yield proxy
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
