"""/v1 beside /v2: a breaking API change under a new version keeps serving the old one, from its frozen contract."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from msgen import regen as r
from msgen.gates import EvolutionError
from msgen_runtime.testing import serve_app
from tests.regen_support import edit_spec, msgen, new_project, tree

NOTE = "          note: { type: text, required: false }\n"


def _bump(root: Path, extra: str = "") -> None:
    edit_spec(root, NOTE, "")
    edit_spec(root, "  name: mini\n", f"  name: mini\n  api_version: v2\n{extra}")


def test_without_a_new_version_the_gate_refuses(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    edit_spec(root, NOTE, "")
    before = tree(root)
    done = msgen("regen", str(root), "--force")
    assert done.returncode == 2, done.stderr
    assert "field 'note' was removed from the answer of createItem, getItem, updateItem" in done.stderr
    assert tree(root) == before


def test_a_new_version_keeps_the_old_contract_and_generates_its_routes(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    frozen = (root / "contracts/openapi/catalog.v1.yaml").read_text()
    public = (root / "contracts/openapi/public.v1.yaml").read_text()
    _bump(root)
    done = r.regen(root)
    actions = {c.path: c.action for c in done.changes}
    assert "contracts/openapi/catalog.v1.yaml" not in actions  # kept byte for byte: the promise to v1's clients
    assert (root / "contracts/openapi/catalog.v1.yaml").read_text() == frozen
    assert "contracts/openapi/public.v1.yaml" not in actions  # and the gateway's, which v1's SDKs come from
    assert (root / "contracts/openapi/public.v1.yaml").read_text() == public
    assert "/v2/items/{id}" in (root / "contracts/openapi/public.v2.yaml").read_text()
    assert actions["contracts/openapi/catalog.v2.yaml"] == "added"
    pkg = "services/catalog/catalog_service"
    for path in (f"{pkg}/schemas_v1.py", f"{pkg}/api/routes_v1.py", f"{pkg}/adapters/v1.py"):
        assert actions[path] == "added", path
    assert "note" in (root / f"{pkg}/schemas_v1.py").read_text()
    assert "note" not in (root / f"{pkg}/schemas.py").read_text()
    adapters = (root / f"{pkg}/adapters/v1.py").read_text()
    assert "TODO: this version promised 'note'" in adapters
    assert "routers=[router, router_v1]" in (root / f"{pkg}/main.py").read_text()
    gateway = (root / "gateway/gateway_app/routes.py").read_text()
    assert 'Route("GET", "/v1/items/{id}", "catalog"' in gateway  # the gateway routes both prefixes
    assert 'Route("GET", "/v2/items/{id}", "catalog"' in gateway
    assert r.regen(root).is_noop, "a second run changes nothing"


def test_served_versions_empty_drops_the_old_version(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    _bump(root, "  served_versions: []\n")
    actions = {c.path: c.action for c in r.regen(root).changes}
    assert actions["contracts/openapi/catalog.v1.yaml"] == "removed"
    assert not (root / "services/catalog/catalog_service/api/routes_v1.py").exists()


def test_an_edited_adapter_is_yours(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    _bump(root)
    r.regen(root)
    adapter = root / "services/catalog/catalog_service/adapters/v1.py"
    adapter.write_text(adapter.read_text().replace('setdefault("note", None)', 'setdefault("note", "kept")'))
    edit_spec(root, "          name: { type: string, max_length: 100 }\n", "          name: { type: string }\n")
    r.regen(root)
    assert 'setdefault("note", "kept")' in adapter.read_text()


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The catalog service after v1 -> v2 (note dropped), under a real uvicorn; its frozen v1 contract."""
    root = new_project(tmp_path)
    _bump(root)
    r.regen(root)
    service = root / "services/catalog"
    sys.path.insert(0, str(service))
    try:
        from msgen_runtime.migrations import upgrade

        url = f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}"
        upgrade("catalog_service", url)
        main = importlib.import_module("catalog_service.main")
        settings = importlib.import_module("catalog_service.settings")
        app = main.create_app(settings.Settings(database_url=url, dev_mode=True))
        contract = yaml.safe_load((root / "contracts/openapi/catalog.v1.yaml").read_text())
        with serve_app(app) as base:
            yield base, contract
    finally:
        sys.path.remove(str(service))
        for name in [m for m in sys.modules if m == "catalog_service" or m.startswith("catalog_service.")]:
            del sys.modules[name]


def _validate(contract: dict[str, Any], name: str, body: Any) -> None:
    """`body` against schema `name` of the contract (its $refs resolved inside the contract)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": contract["components"]}
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)


def test_v1_answers_in_its_old_shape_and_v2_in_the_new(catalog: tuple[str, dict[str, Any]]) -> None:
    base, v1 = catalog
    with httpx.Client(base_url=base, timeout=10) as http:
        created = http.post("/v1/items", json={"name": "Lamp", "note": "old clients send it", "price": "12.50"})
        assert created.status_code == 201, created.text
        assert created.headers["deprecation"] == "true"
        _validate(v1, "ItemRead", created.json())
        assert created.json()["note"] is None  # the adapter's default: v2 no longer keeps notes
        item = created.json()["id"]

        old = http.get(f"/v1/items/{item}")
        assert old.status_code == 200
        _validate(v1, "ItemRead", old.json())
        assert "note" in old.json()

        new = http.get(f"/v2/items/{item}")
        assert new.status_code == 200
        assert "note" not in new.json() and new.json()["name"] == "Lamp"
        assert "deprecation" not in new.headers

        page = http.get("/v1/items", params={"limit": 5})
        assert page.status_code == 200
        _validate(v1, "ItemPage", page.json())

        # v1's request rules still hold: an unknown key is refused as v1 refused it
        refused = http.post("/v1/items", json={"name": "Lamp", "price": "1.00", "colour": "red"})
        assert refused.status_code == 422
        missing = http.get("/v1/items/00000000-0000-4000-8000-000000000000")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")


def test_a_refused_v2_change_names_the_operation(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    _bump(root)
    r.regen(root)
    edit_spec(root, "          name: { type: string, max_length: 100 }\n", "")
    with pytest.raises(EvolutionError) as caught:
        r.regen(root)
    assert "API v2: field 'name' was removed from the answer of createItem" in str(caught.value)
