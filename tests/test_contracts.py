"""Contracts: every OpenAPI document is valid 3.1 and matches the running app; every Avro schema parses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import fastavro
import pytest
from openapi_spec_validator import validate
from ruamel.yaml import YAML

from msgen.generate import Generated

SERVICES = ["user", "product", "inventory", "order", "payment", "notification"]


def _load(text: str) -> dict:  # type: ignore[type-arg]
    return YAML(typ="safe", pure=True).load(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_contract_is_valid(shop: Generated, service: str) -> None:
    document = _load(shop.files[f"contracts/openapi/{service}.v1.yaml"])
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_event_has_a_parsable_avro_schema(shop: Generated) -> None:
    names = {e.name for e in shop.system.events}
    assert names == {
        "order.created",
        "payment.authorized",
        "payment.failed",
        "inventory.reserved",
        "inventory.rejected",
        "order.confirmed",
        "order.cancelled",
        "payment.refunded",
    }
    for event in shop.system.events:
        schema = json.loads(shop.files[f"contracts/avro/{event.name}.v{event.version}.avsc"])
        parsed = fastavro.parse_schema(schema)
        assert parsed["name"].endswith(event.class_name)


def test_avro_schema_round_trips_an_order_created(shop: Generated) -> None:
    import io
    from decimal import Decimal
    from uuid import UUID

    schema = fastavro.parse_schema(json.loads(shop.files["contracts/avro/order.created.v1.avsc"]))
    record = {
        "order_id": UUID("6f1c4a52-8f9e-4a59-9d1c-2b8c1f0e7a11"),
        "user_id": UUID("0b7e8a8e-1c1f-4b5e-9a44-2c1de8d1f0aa"),
        "email": "customer@shop.test",
        "amount": Decimal("39.80"),
        "currency": "EUR",
        "lines": [
            {"product_id": UUID("7f1c4a52-8f9e-4a59-9d1c-2b8c1f0e7a12"), "quantity": 2, "unit_price": Decimal("19.90")}
        ],
    }
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    buffer.seek(0)
    assert fastavro.schemaless_reader(buffer, schema) == record


@pytest.mark.parametrize("service", SERVICES)
def test_running_app_serves_its_contract(shop_dir: Path, service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's own /openapi.json has the contract's paths, operations, bodies and success codes."""
    contract = _load((shop_dir / f"contracts/openapi/{service}.v1.yaml").read_text())
    monkeypatch.syspath_prepend(str(shop_dir / "services" / service))
    module = __import__(f"{service}_service.main", fromlist=["create_app"])
    settings_module = __import__(f"{service}_service.settings", fromlist=["Settings"])
    app = module.create_app(settings_module.Settings(database_url="sqlite+aiosqlite:///:memory:"))
    served = app.openapi()

    def operations(doc: dict) -> dict[tuple[str, str], tuple[str, str | None, str]]:  # type: ignore[type-arg]
        found = {}
        for path, methods in doc["paths"].items():
            for method, op in methods.items():
                body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
                success = next(code for code in op["responses"] if code.startswith("2"))
                found[(path, method)] = (op["operationId"], body.get("$ref", "").rsplit("/", 1)[-1] or None, success)
        return found

    assert operations(served) == operations(contract)
    for name in contract["components"]["schemas"]:
        if name != "Problem":
            assert name in served["components"]["schemas"], name
    for mod in [m for m in sys.modules if m.startswith(f"{service}_service")]:
        del sys.modules[mod]
