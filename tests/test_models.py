"""msgen's one generator of pydantic models (render/schemas.py): the classes do what the spec says.

schemas.py, events.py and the clients' models come from the resolved model; an older API version's
models from its frozen contract, read back into the same classes.
"""

from __future__ import annotations

import copy
import os
import sys
import textwrap
import types
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic
import pytest

from msgen import model as m
from msgen.loader import load_spec_text
from msgen.render.openapi import openapi_document
from msgen.render.pact import full_example
from msgen.render.schemas import (
    FrozenContractError,
    classes_code,
    contract_classes,
    contract_models,
    service_classes,
    service_models,
)
from msgen.resolve import resolve
from tests.conftest import ROOT
from tests.processes import run

EVERY_KIND = """\
msgen: 1
system:
  name: kinds
services:
  sink:
    description: Every kind of field.
    entities:
      Thing:
        description: A thing with "quotes" and a backslash \\ in it.
        fields:
          s: { type: string }
          s2: { type: string, min_length: 2, max_length: 10, pattern: "^[a-z]+$", description: "It's a \\"string\\"" }
          s3: { type: string, required: false, default: hello }
          t: { type: text, required: false }
          t2: { type: text, min_length: 3, max_length: 20, required: false }
          n: { type: int }
          n2: { type: int, min: -5, max: 5, default: 3 }
          d: { type: decimal, precision: 10, scale: 3, min: 0.005, max: 99.5, default: 1.5 }
          d2: { type: decimal, required: false }
          b: { type: bool, default: false }
          when: { type: datetime }
          day: { type: date, required: false }
          mail: { type: email, required: false, description: write here }
          mail2: { type: email, min_length: 24, required: false }
          link: { type: url, required: false }
          color: { type: enum, values: [red, upper, BLUE_X], default: upper, description: a colour }
          tags: { type: "list[string]", min_items: 1, max_items: 5 }
          prices: { type: "list[decimal]", required: false }
          places: { type: "list[Place]", required: false }
          json: { type: string, required: false }
          schema: { type: int }
    value_objects:
      Place:
        description: A place.
        fields:
          name: { type: string, max_length: 50 }
          lng: { type: decimal, precision: 9, scale: 6, min: -180.5, max: 180.25 }
    api:
      crud:
        Thing:
          scopes: { read: [t:read], write: [t:write] }
"""


def _system(text: str, name: str = "spec.yaml") -> m.System:
    return resolve(load_spec_text(text, name))


def _module(code: str) -> types.ModuleType:
    """Generated model code, executed as a module of its own."""
    module = types.ModuleType("generated_schemas")
    exec(
        compile(code, "schemas.py", "exec", dont_inherit=True), module.__dict__
    )  # msgen's own output: the subject of the test
    return module


@pytest.fixture(scope="module")
def kinds() -> types.ModuleType:
    system = _system(EVERY_KIND)
    return _module(service_models(system, system.service("sink")))


def _thing(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"s": "x", "s2": "ab", "n": 1, "when": "2026-01-01T00:00:00Z", "tags": ["a"], "schema": 1}
    body.update(fields)
    return body


def test_every_kind_of_field_validates_as_its_spec_says(kinds: types.ModuleType) -> None:
    made = kinds.ThingCreate.model_validate(_thing())
    assert made.s3 == "hello"  # an optional field's default is kept
    assert made.d == Decimal("1.5") and made.n2 == 3 and made.b is False
    assert made.color == kinds.ThingColor.upper_ == "upper"  # a member that would hide str.upper is renamed
    assert made.json_ is None and made.schema_ == 1  # names pydantic's BaseModel has are aliased
    with pytest.raises(pydantic.ValidationError, match="tags"):
        kinds.ThingCreate.model_validate(_thing(tags=["x" * 256]))  # each item keeps its limits
    with pytest.raises(pydantic.ValidationError, match="tags"):
        kinds.ThingCreate.model_validate(_thing(tags=[]))
    with pytest.raises(pydantic.ValidationError, match="s2"):
        kinds.ThingCreate.model_validate(_thing(s2="a"))
    with pytest.raises(pydantic.ValidationError, match="extra"):
        kinds.ThingCreate.model_validate(_thing(unknown=1))
    with pytest.raises(pydantic.ValidationError, match="d"):
        kinds.ThingCreate.model_validate(_thing(d="0.004"))
    with pytest.raises(pydantic.ValidationError, match="prices"):
        kinds.ThingCreate.model_validate(_thing(prices=["1.234"]))  # a decimal item has its scale
    assert kinds.ThingCreate.model_validate(_thing(json="j")).json_ == "j"


@pytest.mark.parametrize(("field", "value"), [("t2", "x" * 21), ("t2", "xy"), ("mail2", "a@ex.com")])
def test_a_text_and_an_email_keep_their_length_limits(kinds: types.ModuleType, field: str, value: str) -> None:
    """The limits the spec allows on a text (min_length, max_length) and an email (min_length) hold in a body,
    as they do in a query parameter and the contract."""
    kinds.ThingCreate.model_validate(_thing(t2="x" * 20, mail2="someone.else@example.com"))
    with pytest.raises(pydantic.ValidationError, match=field):
        kinds.ThingCreate.model_validate(_thing(**{field: value}))


def test_the_example_body_keeps_every_limit(kinds: types.ModuleType) -> None:
    """The generated tests send the example body: an email's min_length too makes it longer."""
    system = _system(EVERY_KIND)
    service = system.service("sink")
    body = full_example(service.entity("Thing"), service)
    assert len(body["mail2"]) >= 24
    kinds.ThingCreate.model_validate(body)


def test_decimal_bounds_are_exact(kinds: types.ModuleType) -> None:
    place = kinds.Place.model_validate({"name": "p", "lng": "-180.5"})
    assert place.lng == Decimal("-180.5")
    for wrong in ("-180.500001", "180.250001"):
        with pytest.raises(pydantic.ValidationError):
            kinds.Place.model_validate({"name": "p", "lng": wrong})


def test_a_patch_refuses_null_for_a_required_field_under_its_alias(kinds: types.ModuleType) -> None:
    assert kinds.ThingUpdate.non_nullable >= {"s", "schema_"}
    assert "json_" not in kinds.ThingUpdate.non_nullable
    assert kinds.ThingUpdate.model_validate({"json": None}).json_ is None
    with pytest.raises(pydantic.ValidationError, match="schema_ cannot be null"):
        kinds.ThingUpdate.model_validate({"schema": None})


def test_the_served_schema_names_no_class_the_contract_lacks(kinds: types.ModuleType) -> None:
    served = kinds.ThingCreate.model_json_schema()
    assert set(served.get("$defs", {})) == {"Place", "ThingColor"}
    tags = served["properties"]["tags"]
    assert tags["items"] == {"maxLength": 255, "pattern": "^[^\\x00]*$", "type": "string"}


def test_spec_text_is_escaped(kinds: types.ModuleType) -> None:
    assert kinds.ThingRead.__doc__ == "A Thing as clients see it."
    assert kinds.ThingCreate.model_fields["s2"].description == 'It\'s a "string"'


@pytest.mark.parametrize(
    "spec", [ROOT / "examples/shop.yaml", ROOT / "examples/courier.yaml", ROOT / "tests/fixtures/ledger.yaml", None]
)
def test_a_frozen_contract_reads_back_to_the_classes_of_the_model(spec: Path | None) -> None:
    """An older API version's models (from its contract only) are the classes the model gave that version."""
    system = _system(spec.read_text(), str(spec)) if spec else _system(EVERY_KIND)
    for service in system.services:
        from_model = classes_code(service_classes(service))
        assert classes_code(contract_classes(openapi_document(system, service))) == from_model, service.name


def test_a_service_has_one_class_per_value_object(tmp_path: Path) -> None:
    """The order service's events carry the OrderLine of its schemas.py: a body's lines go into an event as they are."""
    service = ROOT / "tests/golden/shop/services/order"
    code = """
        from decimal import Decimal
        from uuid import uuid4
        from order_service import events, schemas
        assert events.OrderLine is schemas.OrderLine
        body = schemas.OrderCreate.model_validate({
            "user_id": str(uuid4()), "email": "a@example.com", "amount": "10.00",
            "lines": [{"product_id": str(uuid4()), "quantity": 2, "unit_price": "5.00"}],
        })
        event = events.OrderCreated(order_id=uuid4(), user_id=body.user_id, email=body.email, amount=body.amount,
                                    currency="EUR", lines=body.lines)
        assert event.lines[0] is body.lines[0]
        decoded = events.ORDER_CREATED.decode(events.ORDER_CREATED.encode(event))
        assert decoded == event and type(decoded.lines[0]) is schemas.OrderLine
        print("result: ok")
    """
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",  # the golden tree stays as committed
        "PYTHONPATH": os.pathsep.join([str(service), os.environ.get("PYTHONPATH", "")]),
    }
    done = run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "result: ok" in done.stdout


@pytest.mark.parametrize(
    ("where", "hostile"),
    [
        ("property", 'x: int = 0\n    __import__("os").system("touch PWNED")\n    y'),
        ("enum", 'EUR = "EUR"\n    import os'),
        ("class", "Thing(RequestModel):\n    pass\nimport os\nclass X"),
        ("default", "nope"),
        ("number", "1) ; import os ; (1"),
    ],
)
def test_a_frozen_contract_with_names_msgen_never_writes_is_refused(where: str, hostile: str) -> None:
    """An older version's contract is a file of the project: what would become code is checked, never pasted."""
    system = _system(EVERY_KIND)
    contract = copy.deepcopy(openapi_document(system, system.service("sink")))
    schemas = contract["components"]["schemas"]
    if where == "property":
        schemas["ThingCreate"]["properties"][hostile] = {"type": "string"}
    elif where == "enum":
        schemas["ThingCreate"]["properties"]["color"]["enum"].append(hostile)
    elif where == "class":
        schemas[hostile] = schemas.pop("Place")
    elif where == "default":
        schemas["ThingCreate"]["properties"]["color"]["default"] = hostile
    else:
        schemas["ThingCreate"]["properties"]["n"]["minimum"] = hostile
    with pytest.raises(FrozenContractError, match=r"^contracts/openapi/sink\.v1\.yaml: ") as refused:
        contract_models(contract, '"""v1."""', "contracts/openapi/sink.v1.yaml")
    assert "\n" not in str(refused.value)  # one line: a name is quoted, never echoed raw
