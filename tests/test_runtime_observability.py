"""Logs, metrics and traces of a service built by msgen_runtime."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
        client = ServiceClient("down", f"http://127.0.0.1:{downstream_port}", timeout=30)
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


async def test_an_event_continues_its_trace_across_the_broker_hop(
    traced: tuple[FastAPI, InMemorySpanExporter], tmp_path: Path
) -> None:
    """The outbox writes a PRODUCER span's context into the event's headers; the consumer continues it
    in a CONSUMER span, under which its handler (and the handler's queries) run."""
    import uuid

    from opentelemetry import trace

    from msgen_runtime.db import Database
    from msgen_runtime.messaging.consumer import Consumer, Subscription
    from msgen_runtime.messaging.outbox import stage
    from tests.messaging_support import BusBase, Dead, Inbox, Outbox, Ping, ping_event

    _, exporter = traced
    event = ping_event("tracetest.pinged")
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(BusBase.metadata.create_all)
    handled_in: list[int] = []

    async def handler(session: Any, payload: Any) -> None:
        handled_in.append(trace.get_current_span().get_span_context().span_id)

    try:
        tracer = trace.get_tracer("test")  # the module's traced provider: every span sampled
        with tracer.start_as_current_span("POST /v1/pings", kind=trace.SpanKind.SERVER) as request:
            async with database.sessions() as session:
                message_id = await stage(session, Outbox, event, Ping(ping_id=uuid.uuid4(), n=1))
                await session.commit()
        async with database.sessions() as session:
            row = await session.scalar(sa.select(Outbox).where(Outbox.message_id == message_id))
        assert row is not None and "traceparent" in row.headers
        consumer = Consumer(
            service="tracetest",
            sessions=database.sessions,
            inbox=Inbox,
            dead_letters=Dead,
            broker=None,  # type: ignore[arg-type]  # not attached: the message is handed over directly
            subscriptions=[Subscription(event, handler)],
        )
        assert await consumer.receive(event.topic, row.body, dict(row.headers)) == "processed"
    finally:
        await database.dispose()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    producer, consumer_span = spans[f"publish {event.topic}"], spans[f"receive {event.topic}"]
    trace_id = request.get_span_context().trace_id
    assert producer.kind == trace.SpanKind.PRODUCER and consumer_span.kind == trace.SpanKind.CONSUMER
    assert producer.context.trace_id == consumer_span.context.trace_id == trace_id
    assert producer.parent is not None and producer.parent.span_id == request.get_span_context().span_id
    assert consumer_span.parent is not None and consumer_span.parent.span_id == producer.context.span_id
    assert consumer_span.attributes["messaging.message.id"] == message_id
    assert handled_in == [consumer_span.context.span_id]
