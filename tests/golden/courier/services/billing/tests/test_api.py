"""The billing service's API, end to end on its own database (generated)."""

import json
import re
import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"
MISSING = str(uuid.UUID(int=0, version=4))


async def test_live_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/no-such-thing")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["status"] == 404


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{"):
            found = ",".join(sorted(line[len(name) + 1 : line.index("}")].split(",")))
            if found == wanted:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_correlation_id_is_echoed_logged_and_in_problems(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = await client.get(
        "/v1/no-such-thing",
        headers={"X-Correlation-ID": "c-test-1", "Authorization": "Bearer secret-token"},
    )
    assert answer.headers["x-correlation-id"] == "c-test-1"
    assert answer.json()["correlation_id"] == "c-test-1"
    generated = await client.get("/health/live")
    assert re.fullmatch(r"[0-9a-f-]{36}", generated.headers["x-correlation-id"])
    out = capsys.readouterr().out
    assert "secret-token" not in out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    access = [
        line
        for line in lines
        if line.get("event") == "http.request" and line.get("correlation_id") == "c-test-1"
    ]
    assert access, out
    assert access[0]["service"] == "billing"
    assert access[0]["status"] == 404
    assert {"timestamp", "level", "trace_id"} <= set(access[0])


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    labels = {"method": "GET", "route": "unmatched", "status": "404"}
    before = metric((await client.get("/metrics")).text, "http_requests_total", **labels)
    await client.get("/v1/no-such-thing")
    text = (await client.get("/metrics")).text
    assert metric(text, "http_requests_total", **labels) == before + 1
    assert "http_request_duration_seconds_bucket" in text
    assert "process_cpu_seconds_total" in text or "python_gc_objects_collected_total" in text


# -- Charge ---------------------------------------------------------------

CHARGE: dict[str, Any] = {"delivery_id": "00000000-0000-4000-8000-000000000001", "fee": "12.50"}


async def test_charge_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/v1/charges/{MISSING}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert MISSING in answer.json()["detail"]

    malformed = await client.get("/v1/charges/not-a-uuid")
    assert malformed.status_code == 422


async def test_charge_page_size_is_bounded(client: httpx.AsyncClient) -> None:
    too_big = await client.get("/v1/charges", params={"limit": 100000})
    assert too_big.status_code == 422
    page = await client.get("/v1/charges", params={"limit": 1, "offset": 0})
    assert page.status_code == 200
    assert len(page.json()["items"]) <= 1
