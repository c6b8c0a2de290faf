"""The SDK's requests, recorded as a Pact consumer contract of the gateway.

The SDK's own calls (the generated ones, through `Sdk`: the token, a correlation id per
call, an Idempotency-Key for idempotent operations, problem answers as `ProblemError`)
run against Pact's mock server, which answers as the pact says and fails the test on any
request the pact does not hold. The pact is written to the project's pacts/ folder (or
PACT_DIR) as courier-sdk-python-gateway.json; `msgen contracts verify`
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
from courier_sdk import ProblemError, Sdk
from courier_sdk.generated.api.delivery import book_delivery, get_delivery
from courier_sdk.generated.models import DeliveryCreate
from pact import Pact, match

CONSUMER = "courier-sdk-python"
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
    interaction = pact.upon_receiving("bookDelivery: POST /v1/deliveries")
    interaction.given("a Customer exists", {"id": "00000000-0000-4000-8000-000000000001"})
    interaction.given("no Delivery exists", {})
    interaction.with_request("POST", "/v1/deliveries")
    _request_headers(interaction, idempotency_key=True)
    interaction.with_body(
        {
            "customer_id": match.regex(
                "00000000-0000-4000-8000-000000000001",
                regex=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            ),
            "pickup": {
                "lat": match.regex("12.500000", regex=r"^-?\d+(\.\d+)?$"),
                "lng": match.regex("12.500000", regex=r"^-?\d+(\.\d+)?$"),
                "label": match.like("Example"),
            },
            "dropoff": {
                "lat": match.regex("12.500000", regex=r"^-?\d+(\.\d+)?$"),
                "lng": match.regex("12.500000", regex=r"^-?\d+(\.\d+)?$"),
                "label": match.like("Example"),
            },
            "zone": match.like("city-centre"),
            "distance_km": match.regex("12.50", regex=r"^-?\d+(\.\d+)?$"),
            "express": match.like(True),
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
                "/v1/deliveries/00000000-0000-4000-8000-000000000001", regex=r"^/v1/deliveries/[^/]+$"
            ),
        },
        content_type="application/json",
        part="Response",
    )
    interaction = pact.upon_receiving("getDelivery: GET /v1/deliveries/{id}")
    interaction.given("a Delivery exists", {"id": "00000000-0000-4000-8000-000000000001"})
    interaction.with_request("GET", "/v1/deliveries/00000000-0000-4000-8000-000000000001")
    _request_headers(interaction, idempotency_key=False)
    interaction.will_respond_with(200)
    interaction.with_header("X-Correlation-ID", match.regex(EXAMPLE_ID, regex=UUID_FORMAT), part="Response")
    interaction.with_body(
        {
            "id": match.regex(
                "00000000-0000-4000-8000-000000000001",
                regex=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            ),
            "customer_id": match.regex(
                "00000000-0000-4000-8000-000000000001",
                regex=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            ),
            "pickup": {
                "lat": match.regex("12.500000", regex=r"^-?\d+(\.\d+)?$"),
                "lng": match.regex("12.500000", regex=r"^-?\d+(\.\d+)?$"),
                "label": match.like("Example"),
            },
            "dropoff": {
                "lat": match.regex("12.500000", regex=r"^-?\d+(\.\d+)?$"),
                "lng": match.regex("12.500000", regex=r"^-?\d+(\.\d+)?$"),
                "label": match.like("Example"),
            },
            "zone": match.like("city-centre"),
            "distance_km": match.regex("12.50", regex=r"^-?\d+(\.\d+)?$"),
            "express": match.like(True),
            "fee": None,
            "courier_id": None,
            "status": match.regex(
                "SCHEDULED", regex=r"^(REQUESTED|PRICED|COURIER_ASSIGNED|SCHEDULED|CANCELLED)$"
            ),
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
    interaction = pact.upon_receiving("getDelivery of a missing Delivery: a problem")
    interaction.given("no Delivery exists", {})
    interaction.with_request("GET", "/v1/deliveries/00000000-0000-4000-8000-000000000404")
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


def test_creates_delivery_with_a_key_and_a_correlation_id(mock_server: str) -> None:
    body = DeliveryCreate.from_dict(
        {
            "customer_id": "00000000-0000-4000-8000-000000000001",
            "pickup": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
            "dropoff": {"lat": "12.500000", "lng": "12.500000", "label": "Example"},
            "zone": "city-centre",
            "distance_km": "12.50",
            "express": True,
        }
    )
    with Sdk(mock_server, token=token) as sdk:
        answer = sdk.call(book_delivery.sync_detailed, client=sdk.client, body=body)
        assert answer.status == 202
        assert str(answer.value.id) == EXAMPLE_ID
        assert answer.correlation_id
        # followed to its final status by polling (Pact has no streamed answers: the stream is not in the pact)
        assert sdk.follow(answer.value.status_url, stream=False) == "SCHEDULED"


def test_reads_delivery(mock_server: str) -> None:
    with Sdk(mock_server, token=token) as sdk:
        answer = sdk.call(get_delivery.sync_detailed, UUID(EXAMPLE_ID), client=sdk.client)
    assert answer.status == 200
    assert str(answer.value.id) == EXAMPLE_ID
    assert answer.correlation_id


def test_a_missing_delivery_is_a_typed_error(mock_server: str) -> None:
    with Sdk(mock_server, token=token) as sdk, pytest.raises(ProblemError) as caught:
        sdk.call(get_delivery.sync_detailed, UUID(MISSING_ID), client=sdk.client)
    assert caught.value.status == 404
    assert caught.value.title
    assert caught.value.correlation_id  # the one the SDK sent
