"""The notification service's API, end to end on its own database (generated)."""

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


# -- Notification ---------------------------------------------------------------

NOTIFICATION: dict[str, Any] = {
    "order_id": "00000000-0000-4000-8000-000000000001",
    "recipient": "someone@example.com",
    "subject": "Example",
}


async def test_notification_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    answer = await client.get(f"/v1/notifications/{MISSING}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM
    assert MISSING in answer.json()["detail"]

    malformed = await client.get("/v1/notifications/not-a-uuid")
    assert malformed.status_code == 422


async def test_notification_page_size_is_bounded(client: httpx.AsyncClient) -> None:
    too_big = await client.get("/v1/notifications", params={"limit": 100000})
    assert too_big.status_code == 422
    page = await client.get("/v1/notifications", params={"limit": 1, "offset": 0})
    assert page.status_code == 200
    assert len(page.json()["items"]) <= 1
