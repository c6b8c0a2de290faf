"""The order service's API, end to end on its own database (generated)."""

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
    assert ready.json()["checks"] == {"database": "ok"}


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    answer = await client.get("/v1/no-such-thing")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["status"] == 404


# -- Order ---------------------------------------------------------------

ORDER: dict[str, Any] = {
    "user_id": "00000000-0000-4000-8000-000000000001",
    "lines": [{"product_id": "00000000-0000-4000-8000-000000000001", "quantity": 1, "unit_price": "12.50"}],
    "total": "12.50",
    "currency": "EUR",
}


async def test_order_lifecycle(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/orders", json=ORDER)
    assert created.status_code == 202, created.text
    location = created.headers["location"]
    assert location == created.json()["status_url"]
    ident = created.json()["id"]
    fetched = await client.get(location)
    assert fetched.status_code == 200
    body = fetched.json()
    for key, value in ORDER.items():
        assert body[key] == value, key
    page = (await client.get("/v1/orders", params={"limit": 200})).json()
    assert ident in [item["id"] for item in page["items"]]
    assert page["total"] >= 1


async def test_order_bad_body_is_422(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/orders", json={"unexpected": True})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["status"] == 422
    assert {
        "unexpected",
        "user_id",
        "lines",
        "total",
    } <= {err["loc"][-1] for err in problem["errors"]}


async def test_order_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/v1/orders/{MISSING}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert MISSING in answer.json()["detail"]

    malformed = await client.get("/v1/orders/not-a-uuid")
    assert malformed.status_code == 422


async def test_order_page_size_is_bounded(client: httpx.AsyncClient) -> None:
    too_big = await client.get("/v1/orders", params={"limit": 100000})
    assert too_big.status_code == 422
    page = await client.get("/v1/orders", params={"limit": 1, "offset": 0})
    assert page.status_code == 200
    assert len(page.json()["items"]) <= 1
