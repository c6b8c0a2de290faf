"""The views of a service's generated test suite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen.render.escape import py_string
from msgen.render.examples import example_payload, update_payload


def _vary(entity: m.Entity, service: m.Service, payload: dict[str, Any]) -> tuple[str, str]:
    """A field of the create body and another valid value for it (a Python literal), to send a different body."""
    changed = update_payload(entity, service)
    if changed:
        name, value = next(iter(changed.items()))
        return name, repr(value)
    name = next(iter(payload), "")
    return name, repr(payload.get(name))


@dataclass(frozen=True)
class DownstreamRead:
    """One entity read of a callee, as the suite's stand-in answers it: both Python literals."""

    prefix: str  # the read's path before the id
    body: str  # the entity it answers


@dataclass(frozen=True)
class DownstreamService:
    """A service this one calls, with the entity reads its stand-in answers."""

    service: str
    reads: tuple[DownstreamRead, ...]


@dataclass(frozen=True)
class ConftestView:
    """tests/conftest.py: whether the app has a broker, and the callees the suite stands in."""

    messaging: bool
    downstream: tuple[DownstreamService, ...]


@dataclass(frozen=True)
class ContractTestView:
    """tests/test_contract.py: the operations awaiting the user's logic, the callees stood in."""

    awaiting: tuple[str, ...]
    downstream: tuple[DownstreamService, ...]
    messaging: bool


def conftest_view(service: m.Service, system: m.System, *, messaging: bool) -> ConftestView:
    return ConftestView(messaging, downstream_view(service, system))


def contract_test_view(service: m.Service, system: m.System, *, messaging: bool) -> ContractTestView:
    awaiting = tuple(op.op_id for op in service.operations if op.is_custom)
    return ContractTestView(awaiting, downstream_view(service, system), messaging)


def downstream_view(service: m.Service, system: m.System) -> tuple[DownstreamService, ...]:
    """The entity reads this service's default code makes (its ref checks): per callee, the path before
    the id and an entity the callee could answer, for the test suite's stand-ins of the callees."""
    from msgen.render.examples import EXAMPLE_UUID, field_example

    found: dict[str, list[DownstreamRead]] = {}
    for call in service.calls:
        callee = call.callee
        op = call.target
        if callee is None or op is None or op.action != m.Action.GET or op.response_body is None:
            continue
        entity = op.response_body.entity
        assert entity is not None  # a get's answer is its entity's Read model
        read = {f.name: field_example(f, callee.value_objects) for f in entity.fields}
        stamp = "2026-01-01T00:00:00Z"
        body = {"id": EXAMPLE_UUID, **read, "created_at": stamp, "updated_at": stamp}
        found.setdefault(callee.name, []).append(DownstreamRead(py_string(op.path.removesuffix("{id}")), repr(body)))
    return tuple(DownstreamService(name, tuple(reads)) for name, reads in found.items())


@dataclass(frozen=True)
class RefCheckExample:
    """The ref of the example create body the suite points at a missing entity."""

    loc: str  # the error's location, a Python literal
    subscript: tuple[
        str, ...
    ]  # where the ref is in the body, each key a Python literal: `"lines"`, `0`, `"product_id"`
    service: str  # the service owning the referred entity
    entity: str  # "a Product"


def _ref_check_example(service: m.Service, entity: m.Entity, payload: dict[str, Any]) -> RefCheckExample | None:
    """The first ref of the example body the default create checks: where it is, whose entity."""
    for path, f in m.checked_refs(service, entity):
        assert f.ref is not None
        if path[0] not in payload:
            continue
        loc: list[str] = ["body", path[0]]
        subscript = [py_string(path[0])]
        if len(path) == 2:
            if isinstance(payload[path[0]], list):
                loc.append("0")
                subscript.append("0")
            loc.append(path[1])
            subscript.append(py_string(path[1]))
        return RefCheckExample(repr(loc), tuple(subscript), f.ref[0], f"a {f.ref[1]}")
    return None


@dataclass(frozen=True)
class TestEntity:
    """What the generated test suite checks of one entity's operations, with sample bodies as literals."""

    name: str
    snake: str
    path: str
    create_path: str | None
    create_status: int | None
    create_async: bool
    payload: str
    patch_body: str
    has_list: bool
    has_get: bool
    has_update: bool
    has_delete: bool
    unique: bool
    table: str
    idempotent_op: bool
    cached: bool
    vary_field: str
    vary_value: str
    required: tuple[str, ...]
    ref_check: RefCheckExample | None


@dataclass(frozen=True)
class CustomOp:
    """A custom operation the suite calls once, expecting 501 until its handler is written."""

    op_id: str
    method: str
    path: str
    body: str | None


@dataclass(frozen=True)
class TestsView:
    entities: tuple[TestEntity, ...]
    custom: tuple[CustomOp, ...]
    messaging: bool


def tests_view(service: m.Service, system: m.System) -> TestsView:
    """Data for the generated test suite: sample bodies and what to expect of each operation."""
    entities = []
    for entity in service.entities:
        ops = {op.action: op for op in service.operations if op.entity is entity and op.action}
        if not ops:
            continue
        create_op = ops.get(m.Action.CREATE)
        payload = example_payload(entity, service)
        unique = [f.name for f in entity.writable_fields if f.unique]
        vary_field, vary_value = _vary(entity, service, payload)
        entities.append(
            TestEntity(
                name=entity.name,
                snake=entity.snake,
                path=f"/{system.api_version}{entity.resource}",
                create_path=create_op.path if create_op else None,
                create_status=create_op.status if create_op else None,
                create_async=bool(create_op and create_op.is_async),
                payload=repr(payload),
                patch_body=repr(update_payload(entity, service)),
                has_list="list" in ops,
                has_get="get" in ops,
                has_update="update" in ops,
                has_delete="delete" in ops,
                unique=bool(unique),
                table=entity.table,
                idempotent_op=bool(create_op and create_op.idempotent),
                cached=any(op.action == m.Action.GET and op.cache_ttl for op in ops.values()),
                vary_field=vary_field,
                vary_value=vary_value,
                required=tuple(f.name for f in entity.writable_fields if f.required and not f.has_default),
                ref_check=_ref_check_example(service, entity, payload) if create_op else None,
            )
        )
    custom = tuple(
        CustomOp(
            op_id=op.op_id,
            method=op.method,
            path=op.path.replace("{id}", "00000000-0000-4000-8000-000000000000"),
            body="{}" if op.request else None,
        )
        for op in service.operations
        if op.is_custom
        and not any("{" + p + "}" in op.path for p in op.path_params if p != "id")
        and not op.request
        and not any(q.required and not q.has_default for q in op.query)
    )
    return TestsView(tuple(entities), custom, bool(service.publishes or service.consumes))
