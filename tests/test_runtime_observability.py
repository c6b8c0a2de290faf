"""Logs, metrics and traces of a service built by msgen_runtime."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Request
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from msgen_runtime.app import create_service_app
from msgen_runtime.http import ServiceClient
from msgen_runtime.logs import REDACTED
from msgen_runtime.settings import ServiceSettings

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def _router(downstream_port: int) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/boom/{n}")
    async def boom(n: int) -> None:
        raise RuntimeError(f"boom {n}")

    @router.get("/v1/query")
    async def query(request: Request) -> dict[str, int]:
        async with request.app.state.database.sessions() as session:
            value = await session.scalar(sa.text("SELECT 41 + 1"))
        return {"value": int(value or 0)}

    @router.get("/v1/chain")
    async def chain() -> dict[str, str]:
        client = ServiceClient("down", f"http://127.0.0.1:{downstream_port}", timeout=2)
        try:
            response = await client.request("GET", "/echo")
        finally:
            await client.close()
        return {"traceparent": response.json()["traceparent"]}

    return router


@pytest.fixture(scope="module")
async def downstream_port() -> AsyncIterator[int]:
    """A real HTTP server that answers with the traceparent header it received."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (row.partition(":") for row in raw.split("\r\n")[1:] if row)
        }
        body = json.dumps({"traceparent": headers.get("traceparent", "")}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


@pytest.fixture(scope="module")
async def traced(
    tmp_path_factory: pytest.TempPathFactory, downstream_port: int
) -> AsyncIterator[tuple[FastAPI, InMemorySpanExporter]]:
    """One traced app for the module: OpenTelemetry instrumentation is process-wide."""
    exporter = InMemorySpanExporter()
    path = tmp_path_factory.mktemp("traced") / "t.db"
    settings = ServiceSettings(
        service_name="traced", database_url=f"sqlite+aiosqlite:///{path}", trace_sample_ratio=1.0, dev_mode=True
    )
    app = create_service_app(
        title="t",
        version="v1",
        description="d",
        settings=settings,
        routers=[_router(downstream_port)],
        span_exporter=exporter,
    )
    async with app.router.lifespan_context(app):
        yield app, exporter


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_server_errors_are_counted_by_route_template(traced: tuple[FastAPI, InMemorySpanExporter]) -> None:
    app, _ = traced
    async with _client(app) as client:
        for n in range(3):
            answer = await client.get(f"/v1/boom/{n}")
            assert answer.status_code == 500
            assert answer.headers["content-type"] == "application/problem+json"
        text = (await client.get("/metrics")).text
    line = 'http_server_errors_total{method="GET",route="/v1/boom/{n}",status="500"}'
    assert any(row.startswith(line) and float(row.split()[-1]) >= 3 for row in text.splitlines()), text


async def test_traces_cover_requests_queries_and_calls(traced: tuple[FastAPI, InMemorySpanExporter]) -> None:
    app, exporter = traced
    async with _client(app) as client:
        assert (await client.get("/v1/query")).json() == {"value": 42}
        chained = (await client.get("/v1/chain")).json()
    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    assert any(name.startswith("GET /v1/query") for name in names), names
    assert any("SELECT" in name or span.attributes.get("db.statement") for span in spans for name in [span.name]), names
    # The downstream received a W3C traceparent of the same trace as our server span.
    server = next(span for span in spans if span.name.startswith("GET /v1/chain") and span.parent is None)
    trace_id = format(server.context.trace_id, "032x")
    assert chained["traceparent"].split("-")[1] == trace_id


def test_secrets_never_reach_a_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    from msgen_runtime.logs import configure_logging

    configure_logging("redaction", "INFO")
    logging.getLogger("test").info(
        "login", extra={"headers": {"Authorization": "Bearer abc.def", "Accept": "json"}, "password": "hunter2"}
    )
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["event"] == "login" and line["service"] == "redaction"
    assert line["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert line["password"] == REDACTED
    assert "hunter2" not in json.dumps(line) and "abc.def" not in json.dumps(line)
