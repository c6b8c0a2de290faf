"""The product service's API, end to end on its own database (generated)."""

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


# -- Product ---------------------------------------------------------------

PRODUCT: dict[str, Any] = {"sku": "E", "name": "Example", "price": "12.50", "currency": "EUR"}


async def test_product_lifecycle(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/products", json=PRODUCT)
    assert created.status_code == 201, created.text
    body = created.json()
    ident = body["id"]
    for key, value in PRODUCT.items():
        assert body[key] == value, key
    fetched = await client.get(f"/v1/products/{ident}")
    assert fetched.status_code == 200
    assert fetched.json() == body
    page = (await client.get("/v1/products", params={"limit": 200})).json()
    assert ident in [item["id"] for item in page["items"]]
    assert page["total"] >= 1
    changes: dict[str, Any] = {"name": "example"}
    updated = await client.patch(f"/v1/products/{ident}", json=changes)
    assert updated.status_code == 200, updated.text
    for key, value in changes.items():
        assert updated.json()[key] == value, key
    duplicate = await client.post("/v1/products", json=PRODUCT)
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == PROBLEM
    deleted = await client.delete(f"/v1/products/{ident}")
    assert deleted.status_code == 204
    gone = await client.get(f"/v1/products/{ident}")
    assert gone.status_code == 404
    assert gone.headers["content-type"] == PROBLEM


async def test_product_bad_body_is_422(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/products", json={"unexpected": True})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["status"] == 422
    assert {
        "unexpected",
        "sku",
        "name",
        "price",
    } <= {err["loc"][-1] for err in problem["errors"]}


async def test_product_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/v1/products/{MISSING}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert MISSING in answer.json()["detail"]

    malformed = await client.get("/v1/products/not-a-uuid")
    assert malformed.status_code == 422


async def test_product_page_size_is_bounded(client: httpx.AsyncClient) -> None:
    too_big = await client.get("/v1/products", params={"limit": 100000})
    assert too_big.status_code == 422
    page = await client.get("/v1/products", params={"limit": 1, "offset": 0})
    assert page.status_code == 200
    assert len(page.json()["items"]) <= 1
