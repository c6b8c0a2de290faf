"""The SDKs' consumer contracts with the gateway: what a client places, reads and follows.

Each SDK gets a consumer Pact test (`sdk/python/tests/test_pact_consumer.py`,
`sdk/typescript/test/pact.test.mjs`) that drives its own calls against Pact's mock
server and writes `pacts/<system>-sdk-<language>-gateway.json`. The flow is the
system's main one: the entity of the first saga (else the first entity the API both
creates and reads) is created, read, followed to a final status when its creation is
asynchronous, and read where it does not exist (a problem+json 404, a typed error).

The gateway's side (`gateway/pact_provider.py`) seeds each provider state in the
owning service's database: the rows the created entity refers to, the entity itself,
and its absence. `msgen contracts verify` replays the SDKs' pacts against the gateway
with the services behind it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen.names import snake
from msgen.render.common import path_pattern, sdk_package
from msgen.render.examples import EXAMPLE_UUID, field_example
from msgen.render.pact import empty_state_name, formats, full_example, read_example, state_name
from msgen.render.python import json_fields
from msgen_runtime.contracts import FORMATS

GATEWAY = "gateway"  # the provider's name in the SDKs' pacts
MISSING_UUID = "00000000-0000-4000-8000-000000000404"


def consumer_name(system: m.System, language: str) -> str:
    return f"{system.name.replace('_', '-')}-sdk-{language}"


@dataclass(frozen=True)
class Flow:
    service: m.Service
    entity: m.Entity
    create: m.Operation
    get: m.Operation
    final: str | None  # the saga's completed status, when the creation is followed
    status_field: str = "status"


def flow(system: m.System) -> Flow | None:
    """The create and read of the system's main entity, or None when the API has no such pair."""
    candidates: list[tuple[m.Service, m.Entity]] = []
    for s in system.sagas:
        if s.orchestrator_service is not None and s.entity is not None:
            candidates.append((s.orchestrator_service, s.entity))
    candidates += [(s, e) for s in system.services for e in s.entities]
    for service, entity in candidates:
        ops = [op for op in service.operations if op.entity is entity]
        create = next((op for op in ops if op.action == m.Action.CREATE), None)
        get = next((op for op in ops if op.action == m.Action.GET), None)
        if create is None or get is None or create.query or get.query or create.path_params:
            continue
        if len(get.path_params) != 1:
            continue
        saga = next((s for s in system.sagas if s.entity is entity), None)
        final = saga.status_completed if saga is not None and create.is_async else None
        field = saga.status_field if saga is not None else "status"
        return Flow(service, entity, create, get, final, field)
    return None


def _path(op: m.Operation, value: str) -> str:
    path = op.path
    for param in op.path_params:
        path = path.replace("{" + param + "}", value)
    return path


def _refs(f: Flow) -> list[tuple[m.Service, m.Entity]]:
    """The rows the created entity refers to (each seeded with the example id), in a stable order."""
    found: dict[tuple[str, str], tuple[m.Service, m.Entity]] = {}
    for _, field in m.entity_refs(f.entity, f.service.value_objects):
        if field.ref is not None and field.ref_service is not None and field.entity is not None:
            found.setdefault(field.ref, (field.ref_service, field.entity))
    return [found[key] for key in sorted(found)]


def _create_states(system: m.System, f: Flow) -> list[tuple[str, dict[str, Any]]]:
    """The rows a create refers to, and no row of its own entity (its unique fields are free)."""
    refs = _refs(f)
    states: list[tuple[str, dict[str, Any]]] = [(state_name(e.name), {"id": EXAMPLE_UUID}) for _, e in refs]
    if all(e.name != f.entity.name or s.name != f.service.name for s, e in refs):
        states.append((empty_state_name(f.entity.name), {}))
    return states


def _create_body(system: m.System, f: Flow) -> dict[str, Any]:
    """Every writable field set; beside a stored row of its own entity (a self-reference), other unique values."""
    body = full_example(f.entity, f.service)
    if any(e.name == f.entity.name and s.name == f.service.name for s, e in _refs(f)):
        for field in f.entity.writable_fields:
            if field.unique:
                body[field.name] = field_example(field, f.service.value_objects, seed=1)
    return body


def _read(f: Flow) -> tuple[dict[str, Any], dict[str, Any]]:
    """The entity as the gateway answers it, and what its values must look like."""
    body = read_example(f.entity, f.service)
    if f.final is not None:  # the answer a follower stops at: any of the statuses verifies
        body[f.status_field] = f.final
    rules = formats(f.entity.fields, f.service.value_objects, id="uuid", created_at="datetime", updated_at="datetime")
    return body, rules


def interactions(system: m.System) -> list[dict[str, Any]] | None:
    """The SDKs' interactions with the gateway, as data both tests lay out; None without a flow."""
    f = flow(system)
    if f is None:
        return None
    read, rules = _read(f)
    created: Any = read
    if f.create.is_async:
        created = {"id": EXAMPLE_UUID, "status_url": _path(f.get, EXAMPLE_UUID)}
    problem = {"type": "about:blank", "title": "Not Found", "status": 404}
    return [
        {
            "key": "create",
            "description": f"{f.create.op_id}: {f.create.method} {f.create.path}",
            "states": _create_states(system, f),
            "method": f.create.method,
            "path": _path(f.create, EXAMPLE_UUID),
            "idempotent": f.create.idempotent,
            "body": _create_body(system, f),
            "body_formats": formats(f.entity.fields, f.service.value_objects),
            "status": f.create.status,
            "response": created,
            "formats": {"id": "uuid", "status_url": {"regex": f"^{path_pattern(f.get.path)}$"}}
            if f.create.is_async
            else rules,
            "content_type": "application/json",
        },
        {
            "key": "get",
            "description": f"{f.get.op_id}: {f.get.method} {f.get.path}",
            "states": [(state_name(f.entity.name), {"id": EXAMPLE_UUID})],
            "method": f.get.method,
            "path": _path(f.get, EXAMPLE_UUID),
            "idempotent": True,
            "body": None,
            "body_formats": {},
            "status": f.get.status,
            "response": read,
            "formats": rules,
            "content_type": "application/json",
        },
        {
            "key": "missing",
            "description": f"{f.get.op_id} of a missing {f.entity.name}: a problem",
            "states": [(empty_state_name(f.entity.name), {})],
            "method": f.get.method,
            "path": _path(f.get, MISSING_UUID),
            "idempotent": True,
            "body": None,
            "body_formats": {},
            "status": 404,
            "response": problem,
            "formats": {},
            "content_type": "application/problem+json",
        },
    ]


@dataclass(frozen=True)
class Matcher:
    """A Pact matcher for an example value, in no language: an object of matchers (`entries`), a list of at
    least one item like `item` (`each`), an empty list, null, a string matching `pattern` (`regex`), or a value
    matched by its JSON type (`like`). The macros `matcher` of the SDKs' Pact tests write it for pact-python
    and for Pact JS (MatchersV3)."""

    kind: str
    value: Any = None
    pattern: str = ""
    entries: tuple[tuple[str, Matcher], ...] = ()
    item: Matcher | None = None


def matcher(example: Any, rules: dict[str, Any], key: str = "") -> Matcher:
    """The matchers for `example`: by JSON type, and by format where `rules` says.

    The same rules as msgen_runtime.contracts.matching, written out so the SDK's test reads on its own.
    """
    if isinstance(example, dict):
        return Matcher("object", entries=tuple((k, matcher(v, rules, k)) for k, v in example.items()))
    if isinstance(example, list):
        return Matcher("each", item=matcher(example[0], rules, key)) if example else Matcher("empty")
    if example is None:
        return Matcher("null")
    rule = rules.get(key)
    if isinstance(example, str) and rule is not None:
        return Matcher("regex", example, _pattern(rule))
    return Matcher("like", example)


def _pattern(rule: Any) -> str:
    """A value's regular expression: one of an enum's values, a named format, or a given expression."""
    if isinstance(rule, list):
        return "^(" + "|".join(re.escape(v) for v in rule) + ")$"
    if isinstance(rule, dict):
        return str(rule["regex"])
    return FORMATS[rule]


@dataclass(frozen=True)
class SdkInteraction:
    """One interaction of the SDKs' pacts, laid out by both tests: its facts, its bodies' matchers, and its
    request body as Python and JSON literals. The description, method, path and states are escaped by the
    template of each language (`pystr`, `ts`)."""

    key: str  # create, get or missing: the interaction's function in the TypeScript test
    description: str
    states: tuple[tuple[str, str], ...]  # (provider state, its parameters as a Python literal)
    js_states: tuple[tuple[str, str], ...]  # the same as JavaScript (JSON) literals
    method: str
    path: str
    idempotent: bool
    status: int
    content_type: str
    python_body: str | None  # the request body, a Python literal
    request: Matcher | None  # its matchers
    response: Matcher
    json_body: str | None  # the request body as JSON


@dataclass(frozen=True)
class PactSeed:
    """A provider state the gateway's pact provider stores: one row of a service's entity, from its example."""

    state: str
    service: str
    package: str
    model: str
    create: str
    example: str  # Python literal
    json_fields: str  # Python literal


@dataclass(frozen=True)
class SdkPactView:
    """The SDKs' consumer tests of the gateway and the gateway's provider states."""

    package: str
    python_consumer: str
    typescript_consumer: str
    provider: str
    create: SdkInteraction
    get: SdkInteraction
    missing: SdkInteraction
    uuid: str
    example_id: str
    missing_id: str
    create_module: str
    get_module: str
    create_model: str
    create_path: str
    get_path: str
    get_param: str
    status_url: str
    final: str | None
    entity: str
    empty_state: str
    empty_service: str
    seeds: tuple[PactSeed, ...]
    services: tuple[str, ...]

    @property
    def items(self) -> tuple[SdkInteraction, ...]:
        return (self.create, self.get, self.missing)


def _interaction(item: dict[str, Any]) -> SdkInteraction:
    body = item["body"]
    return SdkInteraction(
        key=item["key"],
        description=item["description"],
        states=tuple((state, repr(params)) for state, params in item["states"]),
        js_states=tuple(
            (json.dumps(state, ensure_ascii=True), json.dumps(params, ensure_ascii=True))
            for state, params in item["states"]
        ),
        method=item["method"],
        path=item["path"],
        idempotent=item["idempotent"],
        status=item["status"],
        content_type=item["content_type"],
        python_body=repr(body) if body is not None else None,
        # the body the SDK sends is matched by type and format: its generated models write values their own way
        request=matcher(body, item["body_formats"]) if body is not None else None,
        response=matcher(item["response"], item["formats"]),
        json_body=json.dumps(body, ensure_ascii=True) if body is not None else None,
    )


def sdk_pact_view(system: m.System) -> SdkPactView | None:
    """Data for the SDKs' consumer tests and the gateway's provider side, or None without a flow."""
    items = interactions(system)
    f = flow(system)
    if items is None or f is None:
        return None
    create, get, missing = (_interaction(item) for item in items)
    tag = snake(f.entity.name)  # the operations' OpenAPI tag, the generated calls' module (generated/api/<tag>/)
    seeds: list[PactSeed] = []
    for service, entity in [*_refs(f), (f.service, f.entity)]:
        if any(seed.state == state_name(entity.name) for seed in seeds):
            continue  # a self-reference: the same state (entities of two services with one name: the first)
        seeds.append(
            PactSeed(
                state=state_name(entity.name),
                service=service.name,
                package=f"{service.name}_service",
                model=entity.name,
                create=f"{entity.name}Create",
                example=repr(full_example(entity, service)),
                json_fields=repr(json_fields(entity)),
            )
        )
    return SdkPactView(
        package=sdk_package(system),
        python_consumer=consumer_name(system, "python"),
        typescript_consumer=consumer_name(system, "typescript"),
        provider=GATEWAY,
        create=create,
        get=get,
        missing=missing,
        uuid=FORMATS["uuid"],
        example_id=EXAMPLE_UUID,
        missing_id=MISSING_UUID,
        create_module=f"{tag}.{f.create.function}",
        get_module=f"{tag}.{f.get.function}",
        create_model=f.create.request or f"{f.entity.name}Create",
        create_path=f.create.path,
        get_path=f.get.path,
        get_param=f.get.path_params[0],
        status_url=_path(f.get, EXAMPLE_UUID),
        final=f.final,
        entity=f.entity.name,
        empty_state=empty_state_name(f.entity.name),
        empty_service=f.service.name,
        seeds=tuple(seeds),
        services=tuple(sorted({s.service for s in seeds})),
    )
