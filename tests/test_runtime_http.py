"""Calls between services against real sockets: timeouts, retries, the breaker and its recovery."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from msgen_runtime.http import ServiceClient
from msgen_runtime.problems import Problem

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Downstream:
    """A real TCP server on 127.0.0.1 that either hangs or answers 200, and counts connections."""

    mode: str = "hang"
    connections: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode().split("\r\n")[1:]
        self.headers.append({k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)})
        if self.mode == "hang":
            await asyncio.sleep(30)
        if self.mode == "slow":
            await asyncio.sleep(0.5)
        body = b'{"ok": true}'
        statuses = {"fail": b"503 Service Unavailable", "unimplemented": b"501 Not Implemented"}
        status = statuses.get(self.mode, b"200 OK")
        writer.write(
            b"HTTP/1.1 "
            + status
            + b"\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + body
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def downstream() -> AsyncIterator[Downstream]:
    server_state = Downstream()
    server = await asyncio.start_server(server_state.handle, "127.0.0.1", 0)
    server_state.port = server.sockets[0].getsockname()[1]
    yield server_state
    server.close()


async def test_the_timeout_floor_outlasts_a_calls_own_timeout(downstream: Downstream) -> None:
    # A downstream that answers after half a second: the call's own 0.05 s gives up, unless the client
    # has a floor (what a test against a mock server on a loaded machine sets).
    downstream.mode = "slow"
    url = f"http://127.0.0.1:{downstream.port}"
    tight = ServiceClient("product", url, timeout=0.05, retries=0)
    with pytest.raises(Problem) as timed_out:
        await tight.request("GET", "/v1/products/1", timeout=0.05)
    assert timed_out.value.status == 504
    assert "no answer within 0.05s" in (timed_out.value.detail or "")
    await tight.close()

    patient = ServiceClient("product", url, timeout=0.05, retries=0, timeout_floor=30.0)
    response = await patient.request("GET", "/v1/products/1", timeout=0.05)
    assert response.status_code == 200
    await patient.close()


def test_a_generated_services_clients_take_their_floor_from_call_timeout_floor_seconds() -> None:
    """The golden order service's clients: the spec's 0.3 s and 0.5 s stay, CALL_TIMEOUT_FLOOR_SECONDS is the floor."""
    service = Path(__file__).parent / "golden" / "shop" / "services" / "order"
    script = (
        "from order_service.settings import Settings\n"
        "from order_service.clients import Clients\n"
        "c = Clients(Settings())\n"
        "print(c.product.timeout, c.product.timeout_floor, c.user.timeout, c.user.timeout_floor)\n"
    )
    src = str(Path(__file__).parents[1] / "src")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.pathsep.join([src, str(service)])}
    for floor, expected in (("", "0.3 0.0 0.5 0.0"), ("7", "0.3 7.0 0.5 7.0")):
        env["CALL_TIMEOUT_FLOOR_SECONDS"] = floor
        if not floor:
            del env["CALL_TIMEOUT_FLOOR_SECONDS"]
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=service, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == expected.split()


async def test_a_hanging_downstream_times_out_then_the_breaker_opens_then_recovers(
    downstream: Downstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    import circuitbreaker

    # The breaker's clock, moved by hand: the open circuit is seen open, and then recovered, whatever the
    # machine's speed (the three time-outs could otherwise outlast the recovery time on a loaded machine).
    now = [1_000_000.0]
    monkeypatch.setattr(circuitbreaker, "monotonic", lambda: now[0])
    client = ServiceClient(
        "product",
        f"http://127.0.0.1:{downstream.port}",
        timeout=0.1,
        retries=0,
        failure_threshold=3,
        recovery_timeout=1,
    )
    for _ in range(3):
        with pytest.raises(Problem) as timed_out:
            await client.request("GET", "/v1/products/1")
        assert timed_out.value.status == 504
    assert downstream.connections == 3

    # Open: fail fast, without touching the downstream (which would hang for 30 s).
    with pytest.raises(Problem) as open_circuit:
        await client.request("GET", "/v1/products/1")
    assert open_circuit.value.status == 503
    assert "circuit open" in (open_circuit.value.detail or "")
    assert "Retry-After" in open_circuit.value.headers
    assert downstream.connections == 3

    # Half-open after the recovery timeout: one trial call, which succeeds and closes the circuit.
    downstream.mode = "ok"
    now[0] += 1.1
    response = await client.request("GET", "/v1/products/1")
    assert response.status_code == 200
    assert client.breaker.closed
    await client.close()


async def test_idempotent_calls_are_retried_and_others_are_not(downstream: Downstream) -> None:
    # Timeouts in these tests are far from the milliseconds a local answer takes: on a loaded machine a 503
    # that came late must not turn into a 504.
    downstream.mode = "fail"
    client = ServiceClient(
        "payment", f"http://127.0.0.1:{downstream.port}", timeout=30, retries=2, failure_threshold=50
    )
    with pytest.raises(Problem) as got:
        await client.request("GET", "/v1/payments/1")
    assert got.value.status == 503
    assert downstream.connections == 3  # one try and two retries
    with pytest.raises(Problem):
        await client.request("POST", "/v1/payments", json={})
    assert downstream.connections == 4  # a POST is never retried
    await client.close()


async def test_an_operation_not_implemented_is_a_refusal_never_retried_nor_counted_by_the_breaker(
    downstream: Downstream,
) -> None:
    """501 says the operation does not exist yet (msgen's stub of a handler nobody wrote): asking again
    changes nothing, so a saga's call step fails at once and compensates instead of waiting for its timeout."""
    from msgen_runtime.http import DownstreamRefused

    downstream.mode = "unimplemented"
    client = ServiceClient("pricing", f"http://127.0.0.1:{downstream.port}", timeout=30, retries=2, failure_threshold=1)
    for _ in range(2):
        with pytest.raises(DownstreamRefused) as refused:
            await client.call("GET", "/v1/quotes/centre", dict)  # type: ignore[arg-type]
        assert refused.value.status == 424
        assert refused.value.extra["downstream"]["status"] == 501
    assert downstream.connections == 2  # one request each: no retry, and the breaker stayed closed
    assert client.breaker.closed
    await client.close()


async def test_correlation_id_travels_with_the_call(downstream: Downstream) -> None:
    from asgi_correlation_id import correlation_id

    downstream.mode = "ok"
    client = ServiceClient("user", f"http://127.0.0.1:{downstream.port}", timeout=30)
    token = correlation_id.set("c-42")
    try:
        await client.request("GET", "/v1/users/1")
    finally:
        correlation_id.reset(token)
    assert downstream.headers[-1]["x-correlation-id"] == "c-42"
    await client.close()
