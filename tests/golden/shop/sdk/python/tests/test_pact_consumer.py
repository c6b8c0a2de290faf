"""The SDK's requests, recorded as a Pact consumer contract of the gateway.

The SDK's own calls (the generated ones, through `Sdk`: the token, a correlation id per
call, an Idempotency-Key for idempotent operations, problem answers as `ProblemError`)
run against Pact's mock server, which answers as the pact says and fails the test on any
request the pact does not hold. The pact is written to the project's pacts/ folder (or
PACT_DIR) as shop-sdk-python-gateway.json; `msgen contracts verify`
replays it against the gateway, with the services behind it.

Answers are matched by type and format, not by value: the gateway may add fields, but
not drop or retype one the SDK reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pact import Pact, match
from shop_sdk import ProblemError, Sdk
from shop_sdk.generated.api.order import get_order, place_order
from shop_sdk.generated.models import OrderCreate

CONSUMER = "shop-sdk-python"
PROVIDER = "gateway"
PACTS = Path(os.environ.get("PACT_DIR") or Path(__file__).resolve().parents[3] / "pacts")
UUID_FORMAT = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
EXAMPLE_ID = "00000000-0000-4000-8000-000000000001"
MISSING_ID = "00000000-0000-4000-8000-000000000404"
TOKEN = "a-token"  # the verification sends a token the gateway accepts instead


def _request_headers(interaction: Any, *, idempotency_key: bool) -> None:
    """What the SDK sends with every call: a bearer token, a correlation id, and a key when idempotent."""
    interaction.with_header("Authorization", match.regex(f"Bearer {TOKEN}", regex=r"^Bearer \S+$"))
    interaction.with_header("X-Correlation-ID", match.regex(EXAMPLE_ID, regex=UUID_FORMAT))
    if idempotency_key:
        interaction.with_header("Idempotency-Key", match.regex(EXAMPLE_ID, regex=UUID_FORMAT))


def build() -> Pact:
    """The SDK's pact with the gateway."""
    pact = Pact(CONSUMER, PROVIDER).with_specification("V4")
    interaction = pact.upon_receiving("placeOrder: POST /v1/orders")
    interaction.given("a Product exists", {"id": "00000000-0000-4000-8000-000000000001"})
    interaction.given("a User exists", {"id": "00000000-0000-4000-8000-000000000001"})
    interaction.given("no Order exists", {})
    interaction.with_request("POST", "/v1/orders")
    _request_headers(interaction, idempotency_key=True)
    interaction.with_body(
        {
            "user_id": match.regex(
                "00000000-0000-4000-8000-000000000001",
                regex=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            ),
            "email": match.like("someone@example.com"),
            "lines": match.each_like(
                {
                    "product_id": match.regex(
                        "00000000-0000-4000-8000-000000000001",
                        regex=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
                    ),
                    "quantity": match.like(1),
                    "unit_price": match.regex("12.50", regex=r"^-?\d+(\.\d+)?$"),
                },
                min=1,
            ),
            "amount": match.regex("12.50", regex=r"^-?\d+(\.\d+)?$"),
            "currency": match.regex("EUR", regex=r"^(EUR|USD|GBP)$"),
        },
        content_type="application/json",
        part="Request",
    )
    interaction.will_respond_with(202)
    interaction.with_header("X-Correlation-ID", match.regex(EXAMPLE_ID, regex=UUID_FORMAT), part="Response")
    interaction.with_body(
        {
            "id": match.regex(
                "00000000-0000-4000-8000-000000000001",
                regex=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            ),
            "status_url": match.regex(
                "/v1/orders/00000000-0000-4000-8000-000000000001", regex=r"^/v1/orders/[^/]+$"
            ),
        },
        content_type="application/json",
        part="Response",
    )
    interaction = pact.upon_receiving("getOrder: GET /v1/orders/{id}")
    interaction.given("a Order exists", {"id": "00000000-0000-4000-8000-000000000001"})
    interaction.with_request("GET", "/v1/orders/00000000-0000-4000-8000-000000000001")
    _request_headers(interaction, idempotency_key=False)
    interaction.will_respond_with(200)
    interaction.with_header("X-Correlation-ID", match.regex(EXAMPLE_ID, regex=UUID_FORMAT), part="Response")
    interaction.with_body(
        {
            "id": match.regex(
                "00000000-0000-4000-8000-000000000001",
                regex=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            ),
            "user_id": match.regex(
                "00000000-0000-4000-8000-000000000001",
                regex=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            ),
            "email": match.like("someone@example.com"),
            "lines": match.each_like(
                {
                    "product_id": match.regex(
                        "00000000-0000-4000-8000-000000000001",
                        regex=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
                    ),
                    "quantity": match.like(1),
                    "unit_price": match.regex("12.50", regex=r"^-?\d+(\.\d+)?$"),
                },
                min=1,
            ),
            "amount": match.regex("12.50", regex=r"^-?\d+(\.\d+)?$"),
            "currency": match.regex("EUR", regex=r"^(EUR|USD|GBP)$"),
            "status": match.regex("CONFIRMED", regex=r"^(PENDING_PAYMENT|PAID|CONFIRMED|CANCELLED)$"),
            "created_at": match.regex(
                "2026-01-01T10:00:00Z",
                regex=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
            ),
            "updated_at": match.regex(
                "2026-01-01T10:00:00Z",
                regex=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
            ),
        },
        content_type="application/json",
        part="Response",
    )
    interaction = pact.upon_receiving("getOrder of a missing Order: a problem")
    interaction.given("no Order exists", {})
    interaction.with_request("GET", "/v1/orders/00000000-0000-4000-8000-000000000404")
    _request_headers(interaction, idempotency_key=False)
    interaction.will_respond_with(404)
    interaction.with_body(
        {"type": match.like("about:blank"), "title": match.like("Not Found"), "status": match.like(404)},
        content_type="application/problem+json",
        part="Response",
    )
    return pact


@pytest.fixture(scope="module")
def mock_server() -> Iterator[str]:
    """Pact's mock server for the whole module: every interaction must be exercised, then the pact is written."""
    pact = build()
    with pact.serve() as server:
        yield str(server.url).rstrip("/")
    pact.write_file(PACTS, overwrite=True)


def token() -> str:
    return TOKEN


def test_creates_order_with_a_key_and_a_correlation_id(mock_server: str) -> None:
    body = OrderCreate.from_dict(
        {
            "user_id": "00000000-0000-4000-8000-000000000001",
            "email": "someone@example.com",
            "lines": [
                {"product_id": "00000000-0000-4000-8000-000000000001", "quantity": 1, "unit_price": "12.50"}
            ],
            "amount": "12.50",
            "currency": "EUR",
        }
    )
    with Sdk(mock_server, token=token) as sdk:
        answer = sdk.call(place_order.sync_detailed, client=sdk.client, body=body)
        assert answer.status == 202
        assert str(answer.value.id) == EXAMPLE_ID
        assert answer.correlation_id
        # followed to its final status by polling (Pact has no streamed answers: the stream is not in the pact)
        assert sdk.follow(answer.value.status_url, stream=False) == "CONFIRMED"


def test_reads_order(mock_server: str) -> None:
    with Sdk(mock_server, token=token) as sdk:
        answer = sdk.call(get_order.sync_detailed, UUID(EXAMPLE_ID), client=sdk.client)
    assert answer.status == 200
    assert str(answer.value.id) == EXAMPLE_ID
    assert answer.correlation_id


def test_a_missing_order_is_a_typed_error(mock_server: str) -> None:
    with Sdk(mock_server, token=token) as sdk, pytest.raises(ProblemError) as caught:
        sdk.call(get_order.sync_detailed, UUID(MISSING_ID), client=sdk.client)
    assert caught.value.status == 404
    assert caught.value.title
    assert caught.value.correlation_id  # the one the SDK sent
