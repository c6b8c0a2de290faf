"""The resolved model is typed: its closed sets are enums the spec's choices map onto one to one."""

from __future__ import annotations

import dataclasses
import typing
from enum import Enum
from pathlib import Path

import pytest

from msgen import model as m
from msgen import spec as s
from msgen.generate import generate
from msgen.loader import load_spec
from msgen.render.pytypes import column_type, mapped_type, python_type
from msgen.resolve import resolve
from tests.conftest import COURIER_SPEC, SHOP_SPEC


def _choices(model: type[s.Strict], name: str) -> set[str]:
    """The values a spec field's Literal allows (None of an optional field left out)."""
    annotation = typing.get_type_hints(model)[name]
    literals = [annotation] if typing.get_origin(annotation) is typing.Literal else typing.get_args(annotation)
    return {v for literal in literals for v in typing.get_args(literal) if isinstance(v, str)}


@pytest.mark.parametrize(
    ("enum", "model", "name"),
    [
        (m.Action, s.OperationSpec, "action"),
        (m.HttpMethod, s.OperationSpec, "method"),
        (m.Broker, s.SystemSpec, "broker"),
        (m.Compatibility, s.EventSpec, "compatibility"),
        (m.RateLimitBy, s.RateLimitSpec, "by"),
        (m.IngressKind, s.IngressSpec, "kind"),
        (m.Mesh, s.DeploySpec, "mesh"),
        (m.TemplateEngine, s.TemplateSpec, "engine"),
    ],
)
def test_each_enum_is_the_specs_choice(enum: type[Enum], model: type[s.Strict], name: str) -> None:
    assert {member.value for member in enum} == _choices(model, name)


def test_the_crud_actions_and_scalar_kinds_are_the_specs() -> None:
    assert set(typing.get_args(s.CrudAction)) == {a.value for a in m.Action}
    assert {k.value for k in m.SCALAR_KINDS} == set(s.SCALAR_TYPES)
    assert tuple(s.CRUD_OPERATIONS) == tuple(m.Action) and tuple(s.HTTP_METHODS) == tuple(m.HttpMethod)


def test_a_model_enum_writes_as_its_value() -> None:
    """Renderers write members into generated code as they wrote the strings: same text, same literal."""
    assert f"{m.HttpMethod.GET}" == "GET" and str(m.Action.LIST) == "list"
    assert repr(m.Kind.DECIMAL) == "'decimal'" and repr((m.HttpMethod.POST,)) == "('POST',)"
    assert m.Kind.ENUM == "enum" and {"enum": 1}[m.Kind.ENUM] == 1


@pytest.mark.parametrize("path", [SHOP_SPEC, COURIER_SPEC], ids=["shop", "courier"])
def test_the_resolved_model_holds_enums(path: Path) -> None:
    system = resolve(load_spec(path))
    assert type(system.broker) is m.Broker
    assert type(system.gateway.rate_limit_by) is m.RateLimitBy
    assert type(system.deploy.mesh) is m.Mesh and type(system.deploy.ingress_kind) is m.IngressKind
    for service in system.services:
        for op in service.operations:
            assert type(op.method) is m.HttpMethod
            assert op.action is None or type(op.action) is m.Action
        for entity in service.entities:
            for f in entity.fields:
                assert type(f.type.kind) is m.Kind
    for event in system.events:
        assert type(event.compatibility) is m.Compatibility
        assert all(type(f.type.kind) is m.Kind for f in event.fields)


def _field(kind: m.Kind, **constraints: typing.Any) -> m.Field:
    return m.Field("x", m.FieldType(kind), True, False, False, None, None, constraints)


def test_the_python_renderer_spells_the_neutral_types() -> None:
    """pydantic, SQLAlchemy and Mapped[] spellings come from the Python renderer, not from the model."""
    assert not {"python", "column", "mapped"} & {f.name for f in dataclasses.fields(m.FieldType)}
    line = m.ValueObject("OrderLine", (), None)
    lines = m.FieldType(m.Kind.LIST, item=m.FieldType(m.Kind.OBJECT, value_object=line))
    status = m.FieldType(m.Kind.ENUM, enum_class="OrderStatus", enum_values=("NEW", "SHIPPED"))
    assert python_type(lines) == "list[OrderLine]" and mapped_type(lines) == "list[Any]"
    assert python_type(status) == "OrderStatus" and mapped_type(status) == "str"
    assert python_type(m.FieldType(m.Kind.DATETIME)) == "AwareDatetime"
    assert mapped_type(m.FieldType(m.Kind.DATETIME)) == "datetime"
    assert column_type(m.Field("s", status, True, False, False, None, None, {})) == "sa.String(7)"
    assert column_type(_field(m.Kind.STRING)) == "sa.String(255)"
    assert column_type(_field(m.Kind.STRING, max_length=32)) == "sa.String(32)"
    assert column_type(_field(m.Kind.DECIMAL)) == "sa.Numeric(18, 2)"
    assert column_type(_field(m.Kind.DECIMAL, precision=12, scale=0)) == "sa.Numeric(12, 0)"
    assert column_type(_field(m.Kind.EMAIL)) == "sa.String(320)"


TWIN = """\
msgen: 1
system: { name: twin, broker: nats }
services:
  alpha:
    value_objects:
      Item:
        fields:
          label: { type: string, max_length: 40 }
    entities:
      Box:
        fields:
          name: { type: string, max_length: 40 }
    api:
      crud:
        Box: {}
      operations:
        echoItem: { method: POST, path: /items/echo, request: Item, response: Item }
  beta:
    value_objects:
      Box:
        fields:
          size: { type: int }
    entities:
      Item:
        fields:
          title: { type: string, max_length: 40 }
    api:
      crud:
        Item: {}
      operations:
        weighBox: { method: POST, path: /boxes/weigh, request: Box, response: Box }
        renameItem: { method: POST, path: "/items/{id}/rename", entity: Item, request: Item, response: Item }
  gamma:
    calls:
      - { service: alpha, operation: echoItem }
      - { service: beta, operation: getItem }
      - { service: beta, operation: renameItem }
"""


def test_a_type_name_means_the_type_of_its_own_service(tmp_path: Path) -> None:
    """`Item` is a value object of alpha and an entity of beta (`Box` the other way round): each service's
    operations use its own type, and a caller's clients each callee's."""
    path = tmp_path / "twin.yaml"
    path.write_text(TWIN)
    system = resolve(load_spec(path))
    alpha, beta, gamma = system.services
    echo = next(op for op in alpha.operations if op.op_id == "echoItem")
    assert echo.request == echo.response == "Item"
    assert echo.request_body is not None and echo.request_body.role is m.BodyRole.VALUE_OBJECT
    assert echo.request_body.value_object is alpha.value_objects[0]
    weigh = next(op for op in beta.operations if op.op_id == "weighBox")
    assert (weigh.request, weigh.response) == ("Box", "Box")
    rename = next(op for op in beta.operations if op.op_id == "renameItem")
    assert (rename.request, rename.response) == ("ItemCreate", "ItemRead")
    assert rename.response_body is not None and rename.response_body.entity is beta.entity("Item")
    get_box = next(op for op in alpha.operations if op.op_id == "getBox")
    assert get_box.response == "BoxRead" and get_box.response_body is not None
    assert get_box.response_body.entity is alpha.entity("Box")
    assert [c.target.op_id if c.target else None for c in gamma.calls] == ["echoItem", "getItem", "renameItem"]
    assert gamma.calls[0].target is echo
    box = next(e for e in alpha.entities if e.name == "Box")
    assert box is get_box.response_body.entity
    (items,) = beta.value_objects
    assert items.name == "Box" and weigh.request_body is not None and weigh.request_body.value_object is items

    generated = generate(path)
    files = generated.files
    alpha_schemas = files["services/alpha/alpha_service/schemas.py"]
    beta_schemas = files["services/beta/beta_service/schemas.py"]
    assert "class Item(" in alpha_schemas and "ItemRead" not in alpha_schemas
    assert "class ItemRead(" in beta_schemas and "class Box(" in beta_schemas and "BoxRead" not in beta_schemas
    assert "class BoxRead(" in alpha_schemas
    alpha_routes = files["services/alpha/alpha_service/api/routes.py"]
    assert "payload: Item) -> Item:" in alpha_routes
    beta_routes = files["services/beta/beta_service/api/routes.py"]
    assert "payload: Box) -> Box:" in beta_routes and "payload: ItemCreate) -> ItemRead:" in beta_routes
    to_alpha = files["services/gamma/gamma_service/clients/alpha.py"]
    to_beta = files["services/gamma/gamma_service/clients/beta.py"]
    assert "class Item(" in to_alpha and "ItemRead" not in to_alpha
    assert "class ItemRead(" in to_beta and "class ItemCreate(" in to_beta
    for name, text in files.items():
        if name.endswith(".py"):
            compile(text, name, "exec")  # every generated module is Python


def test_a_field_holds_its_value_object() -> None:
    """An object or list field refers to the value object itself, the one its service (and its event) holds."""
    system = resolve(load_spec(SHOP_SPEC))
    for service in system.services:
        for owner in (*service.entities, *service.value_objects):
            for f in owner.fields:
                target = (f.type.item or f.type).value_object
                if target is not None:
                    assert any(target is vo for vo in service.value_objects), (service.name, owner.name, f.name)
    for event in system.events:
        publisher = system.service(event.publisher)
        for vo in event.value_objects:
            assert any(vo is own for own in publisher.value_objects), (event.name, vo.name)
    user = system.service("user")
    address = next(f for f in user.entity("User").fields if f.name == "address")
    assert address.type.value_object is not None and address.type.value_object.name == "Address"
    assert {f.name for f in address.type.value_object.fields} == {"street", "city", "postcode", "country"}


def test_a_ref_field_holds_its_entity_and_service() -> None:
    """A `ref` field refers to the entity and the service the system holds, beside the names output prints;
    the back-reference is left out of comparison and repr (two entities may refer to each other)."""
    system = resolve(load_spec(SHOP_SPEC))
    seen = 0
    for service in system.services:
        for owner in (*service.entities, *service.value_objects):
            for f in owner.fields:
                if f.ref is None:
                    assert f.entity is None and f.ref_service is None
                    continue
                seen += 1
                assert f.ref_service is system.service(f.ref.service), (service.name, owner.name, f.name)
                assert f.entity is f.ref_service.entity(f.ref.entity)
                assert "Entity(" not in repr(f) and f == dataclasses.replace(f, entity=None, ref_service=None)
    assert seen >= 5


def test_an_event_holds_its_publisher_and_consumers() -> None:
    """An event refers to the services the system holds, which hold it back; neither side's == or repr loops."""
    system = resolve(load_spec(SHOP_SPEC))
    for event in system.events:
        assert event.publisher_service is system.service(event.publisher), event.name
        assert event in event.publisher_service.publishes
        assert [s.name for s in event.consumer_services] == list(event.consumers), event.name
        for consumer in event.consumer_services:
            assert consumer is system.service(consumer.name) and event in consumer.consumes
        assert "Service(" not in repr(event) and event == dataclasses.replace(event, publisher_service=None)


def test_the_python_macros_write_a_literal_type_and_a_page_dependency() -> None:
    """An enum query parameter's `Literal[...]` and a list route's page dependency are the macros' shape."""
    from msgen.render.py_base import Annotation, Dependency, Keyword, Param, PyType
    from msgen.render.templates import environment

    macros = environment().get_template("macros/python.py.j2").module
    literal = PyType("Literal", ("'a'", "'b'"), optional=True)
    assert str(macros.param(Param("kind", literal, "None"))) == "kind: Literal['a', 'b'] | None = None"
    query = Annotation(PyType("int"), "Query", (Keyword("ge", "1"),))
    assert str(macros.param(Param("n", query))) == "n: Annotated[int, Query(ge=1)]"
    page = Dependency("PageParams", "page_params", ("50", "200"))
    assert str(macros.param(Param("page", page))) == "page: Annotated[PageParams, Depends(page_params(50, 200))]"
