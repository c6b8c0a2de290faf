"""The dispatch service's API, end to end on its own database (generated)."""

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

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
    assert access[0]["service"] == "dispatch"
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


# -- Delivery ---------------------------------------------------------------

DELIVERY: dict[str, Any] = {
    "customer_id": "00000000-0000-4000-8000-000000000001",
    "pickup": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
    "dropoff": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
    "zone": "city-centre",
    "distance_km": "12.50",
    "express": True,
}


async def test_delivery_lifecycle(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/deliveries", json=DELIVERY)
    assert created.status_code == 202, created.text
    location = created.headers["location"]
    assert location == created.json()["status_url"]
    ident = created.json()["id"]
    fetched = await client.get(location)
    assert fetched.status_code == 200
    body = fetched.json()
    for key, value in DELIVERY.items():
        assert body[key] == value, key
    page = (await client.get("/v1/deliveries", params={"limit": 200})).json()
    assert ident in [item["id"] for item in page["items"]]
    assert page["total"] >= 1


async def test_delivery_bad_body_is_422(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/deliveries", json={"unexpected": True})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["status"] == 422
    assert {
        "unexpected",
        "customer_id",
        "pickup",
        "dropoff",
        "zone",
        "distance_km",
    } <= {err["loc"][-1] for err in problem["errors"]}


async def test_delivery_refers_only_to_entities_that_exist(client: httpx.AsyncClient) -> None:
    """A ref to a Customer the customer service does not know is 422; that service down, 503."""
    from tests.conftest import REF_MISSING, use_downstream

    body = json.loads(json.dumps(DELIVERY))
    body["customer_id"] = REF_MISSING
    answer = await client.post("/v1/deliveries", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert [err["loc"] for err in answer.json()["errors"]] == [["body", "customer_id"]]

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    use_downstream("customer", httpx.MockTransport(down))
    answer = await client.post(
        "/v1/deliveries", json=DELIVERY, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert (await client.get("/v1/deliveries")).json()["total"] == 0  # nothing written unchecked


async def test_delivery_idempotency_key_replays_the_first_answer(client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    first = await client.post("/v1/deliveries", json=DELIVERY, headers=key)
    assert first.status_code == 202, first.text
    again = await client.post("/v1/deliveries", json=DELIVERY, headers=key)
    assert again.status_code == first.status_code
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    other = await client.post("/v1/deliveries", json={**DELIVERY, "unexpected_but_different": 1}, headers=key)
    assert other.status_code == 422
    changed = dict(DELIVERY)
    changed["distance_km"] = "13.50"
    different = await client.post("/v1/deliveries", json=changed, headers=key)
    assert different.status_code == 422
    assert "different request body" in different.json()["detail"]


async def test_delivery_concurrent_duplicates_have_one_effect(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def count() -> int:
        async with app.state.database.sessions() as session:
            return int(await session.scalar(sa.text("SELECT count(*) FROM deliveries")) or 0)

    before = await count()
    key = {"Idempotency-Key": f"key-{uuid.uuid4()}"}
    answers = await asyncio.gather(
        *(client.post("/v1/deliveries", json=DELIVERY, headers=key) for _ in range(50))
    )
    assert await count() == before + 1
    statuses = sorted({answer.status_code for answer in answers})
    assert set(statuses) <= {202, 409}, statuses
    bodies = {answer.text for answer in answers if answer.status_code == 202}
    assert len(bodies) == 1


async def test_delivery_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/v1/deliveries/{MISSING}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert MISSING in answer.json()["detail"]

    malformed = await client.get("/v1/deliveries/not-a-uuid")
    assert malformed.status_code == 422


async def test_delivery_page_size_is_bounded(client: httpx.AsyncClient) -> None:
    too_big = await client.get("/v1/deliveries", params={"limit": 100000})
    assert too_big.status_code == 422
    page = await client.get("/v1/deliveries", params={"limit": 1, "offset": 0})
    assert page.status_code == 200
    assert len(page.json()["items"]) <= 1
