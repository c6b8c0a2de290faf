"""Contracts: every OpenAPI document is valid 3.1 and matches the running app; every Avro schema parses."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import httpx
import pytest
from openapi_spec_validator import validate
from ruamel.yaml import YAML

from msgen.generate import Generated
from msgen_runtime.testing import serve_app

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


# -- the running app against its committed contract ------------------------------------------------------------
#
# Both documents are reduced to what a client depends on: per operation (path, method) its operationId,
# parameters, request body and success answers, and each body's schema with every $ref resolved (so names
# do not matter) and without titles and descriptions (documentation). What FastAPI and the contract write
# differently for the same thing is made equal first, and only that:
# - a decimal: the contract's string with x-msgen-decimal, FastAPI's anyOf [number, string];
# - a URL: the contract says format: uri beside its pattern, the model only has the pattern;
# - an optional header: FastAPI writes anyOf [X, null] for a parameter that may be left out;
# - a non-JSON answer (Server-Sent Events): only its media type.

_SKIP = {"title", "description", "example", "examples", "x-msgen-decimal", "x-scopes"}
_NUMBER_KEYS = ("minimum", "maximum", "default", "minLength", "maxLength", "minItems", "maxItems")


def _deref(doc: dict, schema: Any) -> Any:  # type: ignore[type-arg]
    while isinstance(schema, dict) and "$ref" in schema:
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        node: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = {**node, **extra}
    return schema


def _null_branch(schema: dict) -> Any:  # type: ignore[type-arg]
    branches = schema.get("anyOf")
    if isinstance(branches, list) and len(branches) == 2 and {"type": "null"} in branches:
        return next(b for b in branches if b != {"type": "null"})
    return None


def shape(doc: dict, schema: Any, seen: tuple[str, ...] = ()) -> Any:  # type: ignore[type-arg]
    """A schema as a comparable value: refs resolved, documentation dropped, the known spellings made equal."""
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if ref in seen:
        return ("recursive",)
    seen = (*seen, ref) if ref else seen
    schema = _deref(doc, schema)
    if not isinstance(schema, dict):
        return schema
    inner = _null_branch(schema)
    if inner is not None:
        outer = {k: v for k, v in schema.items() if k not in ("anyOf", *_SKIP)}
        return ("nullable", shape(doc, {**inner, **outer} if outer else inner, seen))
    if schema.get("format") == "decimal":  # the contract's decimal
        facts = schema.get("x-msgen-decimal", {})
        return ("decimal", _num(facts.get("minimum")), _num(facts.get("maximum")), _num(schema.get("default")))
    branches = schema.get("anyOf")
    if isinstance(branches, list) and sorted(b.get("type") for b in branches) == ["number", "string"]:
        number = next(b for b in branches if b["type"] == "number")  # pydantic's Decimal
        return ("decimal", _num(number.get("minimum")), _num(number.get("maximum")), _num(schema.get("default")))
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SKIP or (key == "format" and value == "uri"):
            continue
        if key == "properties":
            out[key] = {name: shape(doc, sub, seen) for name, sub in value.items()}
        elif key == "items":
            out[key] = shape(doc, value, seen)
        elif key == "required":
            out[key] = sorted(value)
        elif key in _NUMBER_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = _num(value)
        else:
            out[key] = value
    return out


def _num(value: Any) -> Any:
    """A bound or default as the JSON number a served document can hold (a double), written 0, 0.0 or "0"."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return value
    try:
        return float(Decimal(str(value)))
    except ArithmeticError:
        return value


def _parameters(doc: dict, op: dict) -> dict[tuple[str, str], Any]:  # type: ignore[type-arg]
    found = {}
    for param in op.get("parameters", []):
        schema = _deref(doc, param["schema"])
        if not param.get("required") and _null_branch(schema) is not None:
            schema = {**_null_branch(schema), **{k: v for k, v in schema.items() if k != "anyOf"}}
        found[param["name"], param["in"]] = (bool(param.get("required")), shape(doc, schema))
    return found


def _body(doc: dict, part: dict | None) -> Any:  # type: ignore[type-arg]
    if not part:
        return None
    content = part.get("content", {})
    if "application/json" in content:
        return ("json", shape(doc, content["application/json"].get("schema", {})))
    return tuple(sorted(content))  # e.g. text/event-stream: the media type is the contract


def operations(doc: dict) -> dict[tuple[str, str], dict[str, Any]]:  # type: ignore[type-arg]
    """Each operation of an OpenAPI document, as a client sees it."""
    found = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            found[method.upper(), path] = {
                "operationId": op["operationId"],
                "parameters": _parameters(doc, op),
                "request": _body(doc, op.get("requestBody")),
                "success": {
                    str(code): _body(doc, answer) for code, answer in op["responses"].items() if str(code)[0] == "2"
                },
            }
    return found


def differences(contract: dict, served: dict) -> list[str]:  # type: ignore[type-arg]
    """Where the served document does not say what the contract says; [] when they agree."""
    want, have = operations(contract), operations(served)
    out = [f"{m} {p}: in the contract, not served" for m, p in sorted(want.keys() - have.keys())]
    out += [f"{m} {p}: served, not in the contract" for m, p in sorted(have.keys() - want.keys())]
    for key in sorted(want.keys() & have.keys()):
        for part in ("operationId", "parameters", "request", "success"):
            if want[key][part] != have[key][part]:
                out.append(f"{key[0]} {key[1]} {part}: contract {want[key][part]!r} != served {have[key][part]!r}")
    return out


def _served_openapi(service_dir: Path, service: str) -> dict:  # type: ignore[type-arg]
    """Start the service's app under a real uvicorn and GET its /openapi.json."""
    sys.path.insert(0, str(service_dir))
    try:
        module = importlib.import_module(f"{service}_service.main")
        settings = importlib.import_module(f"{service}_service.settings")
        app = module.create_app(settings.Settings(database_url="sqlite+aiosqlite:///:memory:", dev_mode=True))
        with serve_app(app) as url:
            answer = httpx.get(f"{url}/openapi.json", timeout=10)
        assert answer.status_code == 200
        return answer.json()  # type: ignore[no-any-return]
    finally:
        sys.path.remove(str(service_dir))
        for name in [m for m in sys.modules if m == f"{service}_service" or m.startswith(f"{service}_service.")]:
            del sys.modules[name]


@pytest.mark.parametrize("service", SERVICES)
def test_running_app_serves_its_contract(shop_dir: Path, service: str) -> None:
    """Paths, methods, operationIds, parameters, request and answer schemas of /openapi.json equal the contract's."""
    contract = _load((shop_dir / f"contracts/openapi/{service}.v1.yaml").read_text())
    served = _served_openapi(shop_dir / "services" / service, service)
    assert differences(contract, served) == []
    assert operations(contract), "the comparison must have something to compare"


def test_a_hand_edited_model_is_a_drift(shop_dir: Path, tmp_path: Path) -> None:
    """Models that no longer say what the contract says are caught: a field gone, a limit changed."""
    service_dir = tmp_path / "product"
    shutil.copytree(shop_dir / "services" / "product", service_dir)
    schemas = service_dir / "product_service" / "schemas.py"
    text = schemas.read_text()
    edited = text.replace("sku: Annotated[str, Field(max_length=32,", "sku: Annotated[str, Field(max_length=40,", 1)
    edited = re.sub(r"\n    released_on: date \| None\n", "\n", edited, count=1)  # from ProductRead
    assert edited.count("max_length=40") == 1 and edited != text
    schemas.write_text(edited)
    contract = _load((shop_dir / "contracts/openapi/product.v1.yaml").read_text())
    found = differences(contract, _served_openapi(service_dir, "product"))
    assert any(d.startswith("POST /v1/products request") and "40" in d for d in found), found
    assert any(d.startswith("GET /v1/products/{id} success") and "released_on" in d for d in found), found
