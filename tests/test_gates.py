"""Evolution gates: a spec change that breaks a published event schema or API is refused until versioned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from msgen import regen as r
from msgen.gates import EvolutionError, contract_breaks, narrowed_constraints, schema_incompatibilities
from tests.regen_support import SMALL_SPEC, edit_spec, msgen, new_project, tree

EVENT = """  item.priced:
    publisher: catalog
"""
EVENT_FIELDS = """      item_id: uuid
      price: { type: decimal, precision: 12, scale: 2 }
"""


def _event(compatibility: str | None = None, version: int | None = None) -> str:
    extra = (f"    compatibility: {compatibility}\n" if compatibility else "") + (
        f"    version: {version}\n" if version else ""
    )
    return EVENT.replace("  item.priced:\n", "  item.priced:\n" + extra)


def _refused(root: Path, *needles: str) -> EvolutionError:
    before = tree(root)
    with pytest.raises(EvolutionError) as caught:
        r.regen(root)
    assert tree(root) == before, "a refused regen must write nothing"
    text = str(caught.value)
    for needle in needles:
        assert needle in text, text
    return caught.value


# -- events -------------------------------------------------------------------------


def test_an_event_that_drops_a_required_field_without_a_version_bump_is_refused(tmp_path: Path) -> None:
    """FORWARD: consumers still on the previous schema need the field, which has no default."""
    root = new_project(tmp_path, SMALL_SPEC.replace(EVENT, _event("FORWARD")))
    edit_spec(root, EVENT_FIELDS, "      item_id: uuid\n")
    error = _refused(root, "event 'item.priced' v1 is not FORWARD compatible", "field 'price' was removed")
    assert "Raise its version to 2" in str(error)
    done = msgen("regen", str(root))
    assert done.returncode == 2
    assert "msgen.yaml:" in done.stderr and "nothing was written" in done.stderr


def test_the_same_drop_with_a_new_version_is_accepted_and_the_old_schema_stays(tmp_path: Path) -> None:
    root = new_project(tmp_path, SMALL_SPEC.replace(EVENT, _event("FORWARD")))
    spec = root / "msgen.yaml"
    spec.write_text(
        spec.read_text()
        .replace(EVENT_FIELDS, "      item_id: uuid\n")
        .replace("    compatibility: FORWARD\n", "    compatibility: FORWARD\n    version: 2\n")
    )
    r.regen(root)
    avro = root / "contracts/avro"
    assert json.loads((avro / "item.priced.v2.avsc").read_text())["msgen.version"] == 2
    assert json.loads((avro / "item.priced.v1.avsc").read_text())["msgen.version"] == 1  # kept for old consumers
    assert r.plan(root).is_noop


def test_backward_default_refuses_a_new_required_field(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    edit_spec(root, EVENT_FIELDS, EVENT_FIELDS + "      currency: string\n")
    _refused(root, "not BACKWARD compatible", "field 'currency' was added without a default")


def test_backward_default_accepts_a_new_optional_field_and_a_dropped_one(tmp_path: Path) -> None:
    """Avro's BACKWARD rule: a reader on the new schema ignores what it no longer declares."""
    root = new_project(tmp_path)
    edit_spec(root, EVENT_FIELDS, "      item_id: uuid\n      currency: { type: string, required: false }\n")
    done = r.regen(root)
    assert "contracts/avro/item.priced.v1.avsc" in {c.path for c in done.changes}


def test_full_checks_both_ways(tmp_path: Path) -> None:
    root = new_project(tmp_path, SMALL_SPEC.replace(EVENT, _event("FULL")))
    edit_spec(root, EVENT_FIELDS, "      item_id: uuid\n      currency: string\n")
    error = _refused(root, "field 'currency' was added without a default", "field 'price' was removed")
    assert "not FULL compatible" in str(error)


def test_none_accepts_anything(tmp_path: Path) -> None:
    root = new_project(tmp_path, SMALL_SPEC.replace(EVENT, _event("NONE")))
    edit_spec(root, EVENT_FIELDS, "      item_id: string\n      currency: string\n")
    r.regen(root)


def test_a_changed_field_type_and_a_decimal_scale_are_refused(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    edit_spec(root, EVENT_FIELDS, "      item_id: int\n      price: { type: decimal, precision: 12, scale: 3 }\n")
    _refused(root, "field 'item_id' changed incompatibly", "field 'price' changed its decimal")


def test_a_version_going_down_is_refused(tmp_path: Path) -> None:
    root = new_project(tmp_path, SMALL_SPEC.replace(EVENT, _event(version=2)))
    edit_spec(root, "    version: 2\n", "    version: 1\n")
    _refused(root, "went back from version 2 to 1")


def test_schema_incompatibilities_name_nested_fields() -> None:
    line = {"type": "record", "name": "Line", "fields": [{"name": "quantity", "type": "long"}]}
    old: dict[str, Any] = {
        "type": "record",
        "name": "E",
        "fields": [{"name": "id", "type": "string"}, {"name": "lines", "type": {"type": "array", "items": line}}],
    }
    new = json.loads(json.dumps(old))
    new["fields"][1]["type"]["items"]["fields"][0]["type"] = "string"
    reasons = schema_incompatibilities(old, new, "BACKWARD")
    assert [name for name, _ in reasons] == ["lines"]
    assert "reader type: string not compatible with writer type: long" in reasons[0][1]
    assert schema_incompatibilities(old, old, "FULL") == []


# -- HTTP -------------------------------------------------------------------------


def test_removing_an_operation_is_refused_without_a_new_api_version(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    edit_spec(
        root,
        "        Level:\n          scopes:",
        "        Level:\n          operations: [list, get, create, update]\n          scopes:",
    )
    _refused(root, "service 'stock' API v1: operation deleteLevel (DELETE /v1/levels/{id}) was removed")


def test_making_an_optional_request_field_required_is_refused(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    edit_spec(root, "note: { type: text, required: false }", "note: { type: text }")
    error = _refused(root, "field 'note' became required in the request of createItem")
    assert (
        error.diagnostics[0].line
        == SMALL_SPEC.splitlines().index("          note: { type: text, required: false }") + 1
    )


def test_removing_a_response_field_is_refused(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    edit_spec(root, "          note: { type: text, required: false }\n", "")
    _refused(root, "field 'note' was removed from the answer of createItem, getItem, updateItem")


def test_a_new_api_version_accepts_the_breaking_change(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    spec = root / "msgen.yaml"
    spec.write_text(
        spec.read_text()
        .replace("          note: { type: text, required: false }\n", "")
        .replace("  name: mini\n", "  name: mini\n  api_version: v2\n  served_versions: []\n")
    )
    done = r.regen(root)
    actions = {c.path: c.action for c in done.changes}
    assert actions["contracts/openapi/catalog.v1.yaml"] == "removed"  # v1 no longer served (test_api_versions)
    assert actions["contracts/openapi/catalog.v2.yaml"] == "added"
    revision = root / "services/catalog/catalog_service/migrations/versions/0002_drop_items_note.py"
    assert 'batch.drop_column("note")' in revision.read_text()


def test_contract_breaks_on_documents() -> None:
    def doc(required: list[str], props: dict[str, Any], ops: tuple[str, ...] = ("get", "post")) -> dict[str, Any]:
        body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/T"}}}}
        paths = {method: {"operationId": f"{method}T", "responses": {"200": body}} for method in ops}
        if "post" in paths:
            paths["post"]["requestBody"] = body
        schema = {"type": "object", "properties": props, "required": required}
        return {"paths": {"/t": paths}, "components": {"schemas": {"T": schema}}}

    both = {"a": {"type": "string"}, "b": {"anyOf": [{"type": "string"}, {"type": "null"}]}}
    assert contract_breaks(doc(["a"], both), doc(["a"], both)) == []
    assert contract_breaks(doc(["a"], both), doc(["a", "b"], both)) == [("request", "b", "postT")]
    assert ("response", "b", "getT") in contract_breaks(doc(["a"], both), doc(["a"], {"a": both["a"]}))
    assert contract_breaks(doc([], both), doc([], both, ops=("get",))) == [
        ("operation", "postT (POST /t)", "postT (POST /t)")
    ]


def test_narrowed_constraints_are_refused_without_a_new_api_version(tmp_path: Path) -> None:
    """A shorter max_length would shrink the column and refuse what clients send today: a breaking change."""
    root = new_project(tmp_path)
    spec = root / "msgen.yaml"
    spec.write_text(
        spec.read_text()
        .replace("name: { type: string, max_length: 100 }", "name: { type: string, max_length: 80 }")
        .replace(
            "price: { type: decimal, min: 0, precision: 12, scale: 2 }",
            "price: { type: decimal, min: 1, precision: 10, scale: 1 }",
        )
        .replace("quantity: { type: int, min: 0 }", "quantity: { type: int, min: 0, max: 50 }")
    )
    error = _refused(
        root,
        "service 'catalog' API v1: field 'name' of the request of createItem, updateItem narrowed: maxLength 100 became 80",
        "field 'price' of the request of createItem, updateItem narrowed: decimal scale 2 became 1",
        "decimal digits before the point 10 became 9",
        "minimum 0 became 1",
        "service 'stock' API v1: field 'quantity' of the request of createLevel, updateLevel narrowed: maximum "
        "9223372036854775807 became 50",
        "publish a new API version (system.api_version)",
    )
    assert (
        error.diagnostics[0].line
        == SMALL_SPEC.splitlines().index("          name: { type: string, max_length: 100 }") + 1
    )
    # widening is not a break; a new API version accepts the narrowing
    edit_spec(root, "max_length: 80", "max_length: 120")
    edit_spec(root, "  name: mini\n", "  name: mini\n  api_version: v2\n  served_versions: []\n")
    r.regen(root)


def test_narrowed_constraints_on_documents() -> None:
    def doc(prop: dict[str, Any]) -> dict[str, Any]:
        body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/T"}}}}
        paths = {"post": {"operationId": "postT", "requestBody": body, "responses": {"201": body}}}
        schema = {"type": "object", "properties": {"a": prop}}
        return {"paths": {"/t": paths}, "components": {"schemas": {"T": schema}}}

    def how(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
        return [detail for _, detail, _ in narrowed_constraints(doc(old), doc(new))]

    assert how({"type": "string", "maxLength": 5}, {"type": "string", "maxLength": 9}) == []
    assert how({"type": "string"}, {"type": "string", "minLength": 2}) == ["minLength 2 was added"]
    assert how({"type": "string", "pattern": "^a"}, {"type": "string", "pattern": "^b"}) == [
        "pattern '^a' became pattern '^b'"
    ]
    assert how({"enum": ["A", "B", "C"]}, {"enum": ["A", "C", "D"]}) == ["enum value B removed"]
    assert how({"anyOf": [{"type": "string"}, {"type": "null"}]}, {"type": "string"}) == ["null is no longer accepted"]
    wide = {"type": "string", "x-msgen-decimal": {"precision": 12, "scale": 2, "maximum": "100"}}
    assert how(wide, {"type": "string", "x-msgen-decimal": {"precision": 14, "scale": 3, "maximum": "100"}}) == []
    assert how(wide, {"type": "string", "x-msgen-decimal": {"precision": 12, "scale": 2, "maximum": "99.5"}}) == [
        "maximum 100 became 99.5"
    ]


def test_query_parameters_that_become_required_or_narrow_are_breaks() -> None:
    """A client that sends no `at`, or a longer `source`, is refused after the change: like a request field."""

    def doc(*params: dict[str, Any]) -> dict[str, Any]:
        op = {"operationId": "latestQuote", "parameters": list(params), "responses": {"200": {}}}
        return {"paths": {"/quotes": {"get": op}}}

    at = {"name": "at", "in": "query", "required": False, "schema": {"type": "string", "format": "date"}}
    source = {"name": "source", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 20}}
    now_required = {**at, "required": True}
    shorter = {**source, "schema": {"type": "string", "maxLength": 8}}
    fresh = {"name": "region", "in": "query", "required": True, "schema": {"type": "string"}}
    assert contract_breaks(doc(at, source), doc(now_required, source)) == [("query", "at", "latestQuote")]
    assert contract_breaks(doc(at), doc(at, fresh)) == [("query", "region", "latestQuote")]
    assert contract_breaks(doc(now_required), doc(at)) == []  # optional now: clients that send it still pass
    assert narrowed_constraints(doc(source), doc(shorter)) == [
        ("source (query)", "maxLength 20 became 8", "latestQuote")
    ]
    assert narrowed_constraints(doc(shorter), doc(source)) == []
