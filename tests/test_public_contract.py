"""The gateway's public contract (contracts/openapi/public.v1.yaml), the SDK tables and the evolution gate."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import validate

from msgen.gates import openapi_breaks
from msgen.generate import Generated
from msgen.render import escape
from msgen.render.gateway import gateway_routes
from msgen.render.openapi import to_yaml
from msgen.render.public import public_document, public_path
from msgen.render.sdk import path_pattern, sdk_view


def _public(shop: Generated) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(shop.files[public_path(shop.system)])
    return doc


def test_every_route_of_the_gateway_is_in_the_public_contract_with_its_scopes(shop: Generated) -> None:
    doc = _public(shop)
    validate(doc)
    routes = [r for r in gateway_routes(shop.system) if not r.get("prefix")]
    assert len(routes) == sum(len(item) for item in doc["paths"].values())
    for route in routes:
        operation = doc["paths"][route["path"]][route["method"].lower()]
        assert operation["x-msgen-service"] == route["upstream"]
        if route["scopes"]:
            assert operation["security"] == [{"bearerAuth": list(route["scopes"])}]
            assert {"401", "403"} <= set(operation["responses"])
        else:
            assert operation["security"] == []
        assert operation["responses"]["429"]["headers"]["Retry-After"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    place = doc["paths"]["/v1/orders"]["post"]
    assert place["operationId"] == "placeOrder"
    assert any(p["name"] == "Idempotency-Key" for p in place["parameters"])
    assert "X-Correlation-ID" in place["responses"]["202"]["headers"]
    assert "text/event-stream" in doc["paths"]["/v1/orders/{id}/events"]["get"]["responses"]["200"]["content"]


def test_schemas_of_the_same_name_and_another_shape_are_kept_apart(shop: Generated) -> None:
    system = shop.system
    contracts = {s.name: yaml.safe_load(shop.files[f"contracts/openapi/{s.name}.v1.yaml"]) for s in system.services}
    # Give the payment service its own, different, Problem: it must not replace the others'.
    contracts["payment"]["components"]["schemas"]["Problem"]["properties"]["code"] = {"type": "string"}
    doc = public_document(system, contracts)
    schemas = doc["components"]["schemas"]
    assert "code" not in schemas["Problem"]["properties"]
    assert "code" in schemas["PaymentProblem"]["properties"]
    charge = doc["paths"]["/v1/payments"]["post"]["responses"]["422"]
    assert charge["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/PaymentProblem"}
    validate(yaml.safe_load(to_yaml(doc)))


def test_a_route_gone_from_the_public_contract_alone_is_refused(shop: Generated) -> None:
    system = shop.system
    old = dict(shop.files)
    new = dict(shop.files)
    doc = _public(shop)
    changed = copy.deepcopy(doc)
    del changed["paths"]["/v1/orders/{id}"]
    new[public_path(system)] = to_yaml(changed)
    breaks = list(openapi_breaks(old, new, system))
    assert len(breaks) == 1
    assert breaks[0].path == ("gateway",)
    assert "the gateway's public API v1: getOrder (GET /v1/orders/{id}) was removed" in breaks[0].message
    assert list(openapi_breaks(old, dict(shop.files), system)) == []


def test_the_sdk_tables_name_the_idempotent_operations_and_the_final_statuses(shop: Generated) -> None:
    view = sdk_view(shop.system)
    assert ("POST", path_pattern("/v1/orders")) in view["idempotent"]
    assert all(method != "GET" for method, _ in view["idempotent"])
    assert view["final"] == [("/v1/orders/", ["CONFIRMED", "CANCELLED"])]
    pattern = re.compile(path_pattern("/v1/stock-items/{id}/availability"))
    assert pattern.fullmatch("/v1/stock-items/42/availability")
    assert not pattern.fullmatch("/v1/stock-items/4/2/availability")


HOSTILE = ['"; process.exit(1); "', "\u2028\u2029", "</script>", "`${1+1}`", "back\\slash", "é\U0001f600\x7f"]


def test_the_typescript_escaper_reads_back_in_node() -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed to read the escaped strings back"
    for text in HOSTILE:
        assert escape.ts_string(text).isascii()
    source = "console.log(JSON.stringify([" + ", ".join(escape.ts_string(t) for t in HOSTILE) + "]));"
    done = subprocess.run([node, "-e", source], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == HOSTILE


def test_msgen_sdk_refuses_an_unknown_language_and_a_folder_that_is_no_project(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    for args, message in (
        (["--lang", "java"], "--lang java: expected one of typescript, python"),
        ([], "is not a project generated by msgen"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "msgen", "sdk", str(tmp_path), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode != 0
        assert message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
