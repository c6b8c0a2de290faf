"""Consumer-driven contracts: what each service expects of the services it calls and the events it reads.

One `Expectations` per consumer/provider pair, from the spec: an HTTP
interaction per call (with the provider state it needs) and a message per
event the consumer reads. The same data is rendered into the consumer's
`tests/test_pact_consumer.py` (which exercises the real client and event models
against it and writes the pact) and turned into `pacts/<consumer>-<provider>.json`
here, through pact-python, so the committed pact is exactly what that test writes.
The provider's `tests/test_pact_provider.py` gets the states and messages to
replay them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen.render.events import const, uses_messaging
from msgen.render.examples import EXAMPLE_UUID, field_example, update_payload
from msgen.render.python import json_fields
from msgen_runtime.contracts import Expectations, HttpExpectation, MessageExpectation, pact_text

READ_STAMP = "2026-01-01T10:00:00Z"
# Calls whose answer depends on logic the user writes (custom operations) have no default
# interaction: the consumer adds its own expectation to its test when the logic exists.
PACT_ACTIONS = ("list", "get", "create", "update", "delete")


def participant(service: m.Service) -> str:
    """A service's name in pacts: its deployment name (order-service)."""
    return service.kebab


def state_name(entity: str) -> str:
    return f"a {entity} exists"


def empty_state_name(entity: str) -> str:
    return f"no {entity} exists"


def _value(f: m.Field, value_objects: tuple[m.ValueObject, ...]) -> Any:
    """An example of `f` with every field of its value objects set, optional ones too."""
    t = f.type
    if t.kind == "object" and t.value_object:
        return _object(t.value_object, value_objects)
    if t.kind == "list" and t.item is not None and t.item.kind == "object" and t.item.value_object:
        count = max(1, int(f.constraints.get("min_items", 1)))
        return [_object(t.item.value_object, value_objects) for _ in range(count)]
    return field_example(f, value_objects)


def _object(name: str, value_objects: tuple[m.ValueObject, ...]) -> dict[str, Any]:
    vo = next(v for v in value_objects if v.name == name)
    return {f.name: _value(f, value_objects) for f in vo.fields}


def full_example(entity: m.Entity, service: m.Service) -> dict[str, Any]:
    """Every writable field of `entity` set, optional ones included: what a provider state stores."""
    return {f.name: _value(f, service.value_objects) for f in entity.writable_fields}


def read_example(entity: m.Entity, service: m.Service) -> dict[str, Any]:
    """An entity as its provider answers it for the row `full_example` stored."""
    body: dict[str, Any] = {"id": EXAMPLE_UUID}
    for f in entity.fields:
        # a read-only field is set by the provider's own logic: a stored row has its default, or nothing
        unset = f.read_only and not f.has_default
        body[f.name] = None if unset else _value(f, service.value_objects)
    body["created_at"] = READ_STAMP
    body["updated_at"] = READ_STAMP
    return body


def event_body(event: m.Event) -> dict[str, Any]:
    """An event's payload with every field set, optional ones included."""
    return {f.name: _value(f, event.value_objects) for f in event.fields}


_FORMAT_OF_KIND = {"uuid": "uuid", "ref": "uuid", "datetime": "datetime", "date": "date", "decimal": "decimal"}


def formats(fields: tuple[m.Field, ...], value_objects: tuple[m.ValueObject, ...], **extra: Any) -> dict[str, Any]:
    """What each field name's values must look like beyond their JSON type (see msgen_runtime.contracts.matching).

    Nested value objects' fields are included; a name two fields use differently is left to type matching.
    """
    found: dict[str, Any] = dict(extra)
    clashes: set[str] = set()
    seen: set[str] = set()

    def add(name: str, rule: Any) -> None:
        if name in found and found[name] != rule:
            clashes.add(name)
        found[name] = rule

    def visit(name: str, t: m.FieldType) -> None:
        if t.kind == "list" and t.item is not None:
            visit(name, t.item)
        elif t.kind == "object" and t.value_object:
            if t.value_object not in seen:
                seen.add(t.value_object)
                vo = next(v for v in value_objects if v.name == t.value_object)
                for g in vo.fields:
                    visit(g.name, g.type)
        elif t.kind == "enum":
            add(name, list(t.enum_values))
        elif t.kind in _FORMAT_OF_KIND:
            add(name, _FORMAT_OF_KIND[t.kind])

    for f in fields:
        visit(f.name, f.type)
    return {name: rule for name, rule in sorted(found.items()) if name not in clashes}


def _http(provider: m.Service, op: m.Operation) -> HttpExpectation | None:
    action = op.action
    if action not in PACT_ACTIONS or op.entity is None:
        return None
    entity = provider.entity(op.entity)
    path = op.path
    for param in op.path_params:
        path = path.replace("{" + param + "}", EXAMPLE_UUID)
    response: Any = read_example(entity, provider)
    body: Any = None
    query: dict[str, str] = {}
    if action == "list":
        response = {"items": [response], "total": 1, "limit": op.page_size, "offset": 0}
        query = {"limit": str(op.page_size), "offset": "0"}
    elif action == "create":
        body = full_example(entity, provider)
        if op.is_async:
            response = {"id": EXAMPLE_UUID, "status_url": f"{op.path.rstrip('/')}/{EXAMPLE_UUID}"}
    elif action == "update" and not op.sets:
        body = update_payload(entity, provider)  # one field changed, as a real update would
    elif action == "delete":
        response = None
    for q in op.query:  # the parameters a caller must send, with an example value each
        if q.required and not q.has_default:
            value = field_example(q, provider.value_objects)
            query[q.name] = "true" if value is True else "false" if value is False else str(value)
    needs_row = action in ("list", "get", "update", "delete")
    return HttpExpectation(
        description=f"{op.op_id}: {op.method} {op.path}",
        state=state_name(entity.name) if needs_row else empty_state_name(entity.name),
        params={"id": EXAMPLE_UUID} if needs_row else {},
        method=op.method,
        path=path,
        query=query,
        body=body,
        status=op.status,
        response=response,
        formats=formats(entity.fields, provider.value_objects, id="uuid", created_at="datetime", updated_at="datetime")
        if response is not None
        else {},
    )


@dataclass(frozen=True)
class Pair:
    """A consumer's expectations of one provider, with the provider's operation behind each HTTP one."""

    provider: m.Service
    expected: Expectations
    operations: tuple[m.Operation, ...]  # in the order of expected.http


_last: tuple[m.System, dict[str, list[Pair]]] | None = None


def expectations(system: m.System, consumer: m.Service) -> list[Pair]:
    """The consumer's expectations, one pair per provider it calls or reads events from, by provider name.

    Every service's test views ask for them, so they are worked out once per system (the last one
    rendered is kept, compared by identity).
    """
    global _last
    if _last is None or _last[0] is not system:
        _last = (system, {service.name: _expectations(system, service) for service in system.services})
    return _last[1][consumer.name]


def _expectations(system: m.System, consumer: m.Service) -> list[Pair]:
    http: dict[str, list[tuple[m.Operation, HttpExpectation]]] = {}
    for call in consumer.calls:
        provider = system.service(call.service)
        op = _operation(system, call)
        item = _http(provider, op)
        if item is not None:
            http.setdefault(provider.name, []).append((op, item))
    messages: dict[str, list[MessageExpectation]] = {}
    for name in consumer.consumes:
        event = system.event(name)
        if event.publisher == consumer.name:
            continue  # an orchestrator hearing its own events needs no contract with itself
        messages.setdefault(event.publisher, []).append(
            MessageExpectation(
                description=f"{event.name} v{event.version}",
                event=event.name,
                version=event.version,
                body=event_body(event),
                formats=formats(event.fields, event.value_objects),
            )
        )
    pairs = []
    for name in sorted(set(http) | set(messages)):
        provider = system.service(name)
        calls = http.get(name, [])
        expected = Expectations(
            consumer=participant(consumer),
            provider=participant(provider),
            http=tuple(item for _, item in calls),
            messages=tuple(messages.get(name, ())),
        )
        pairs.append(Pair(provider, expected, tuple(op for op, _ in calls)))
    return pairs


def render_pacts(system: m.System) -> dict[str, str]:
    """pacts/<consumer>-<provider>.json for every pair, as the consumers' tests write them."""
    files = {}
    for consumer in system.services:
        for pair in expectations(system, consumer):
            files[f"pacts/{pair.expected.consumer}-{pair.expected.provider}.json"] = pact_text(pair.expected)
    return files


def _client_call(op: m.Operation, item: HttpExpectation) -> dict[str, Any]:
    """The consumer's real client making the request of `item` to `op`, and what its answer must say."""
    args = [f'UUID("{EXAMPLE_UUID}")' for _ in op.path_params]
    if op.request and item["body"] is not None:
        args.append(f"{op.request}.model_validate({item['body']!r})")
    call = f"await client.{op.function}({', '.join(args)})"
    if op.action == "list":
        statement = f"assert ({call}).total == 1"
    elif op.response is None:
        statement = call
    else:
        statement = f'assert ({call}).id == UUID("{EXAMPLE_UUID}")'
    return {"statement": statement, "request": op.request}


def consumer_tests_view(system: m.System, consumer: m.Service) -> dict[str, Any] | None:
    """Data for tests/test_pact_consumer.py, or None when the service expects nothing of anyone."""
    pairs: list[dict[str, Any]] = []
    event_consts: set[str] = set()
    found = expectations(system, consumer)
    covered = {(p.provider.name, op.op_id) for p in found for op in p.operations}
    skipped = [f"{c.service}.{c.operation}" for c in consumer.calls if (c.service, c.operation) not in covered]
    for pair in found:
        calls = [_client_call(op, item) for op, item in zip(pair.operations, pair.expected.http, strict=True)]
        consts = [const(message["event"]) for message in pair.expected.messages]
        event_consts.update(consts)
        pairs.append(
            {
                "provider": pair.provider.name,
                "constant": pair.provider.name.upper(),
                "client_module": pair.provider.name,
                "client_class": f"{pair.provider.title}Client",
                "expectations": pair.expected,
                "calls": calls,
                "events": consts,
            }
        )
    if not pairs:
        return None
    clients = sorted({(p["client_module"], p["client_class"]) for p in pairs if p["calls"]})
    request_imports = sorted(
        {(p["client_module"], c["request"]) for p in pairs for c in p["calls"] if c["request"]},
    )
    return {
        "pairs": pairs,
        "clients": clients,
        "request_imports": request_imports,
        "event_consts": sorted(event_consts),
        "skipped": skipped,
    }


def _operation(system: m.System, call: m.Call) -> m.Operation:
    return next(o for o in system.service(call.service).operations if o.op_id == call.operation)


def provider_tests_view(system: m.System, provider: m.Service) -> dict[str, Any] | None:
    """Data for tests/test_pact_provider.py: the states its consumers need and the messages it sends."""
    states: dict[str, dict[str, Any]] = {}
    messages: dict[str, dict[str, Any]] = {}
    consumers: set[str] = set()
    for consumer in system.services:
        for pair in expectations(system, consumer):
            if pair.provider.name != provider.name:
                continue
            consumers.add(consumer.name)
            for op, item in zip(pair.operations, pair.expected.http, strict=True):
                if item["state"] is None or item["state"] in states or op.entity is None:
                    continue
                entity = provider.entity(op.entity)
                states[item["state"]] = {
                    "model": entity.name,
                    "empty": op.action == "create",  # "no X exists": the table is emptied
                    "create": f"{entity.name}Create",
                    "values": repr(full_example(entity, provider)),
                    "json_fields": repr(json_fields(entity)),
                }
            for message in pair.expected.messages:
                event = system.event(message["event"])
                messages[message["description"]] = {"const": const(event.name), "example": repr(event_body(event))}
    if not consumers:
        return None
    return {
        "states": dict(sorted(states.items())),
        "messages": dict(sorted(messages.items())),
        "consumers": sorted(consumers),
        "consumer_names": sorted(system.service(name).kebab for name in consumers),
        "http": bool(states),  # every HTTP interaction names a state
        "messaging": uses_messaging(provider),
        "models": sorted({s["model"] for s in states.values()}),
        "creates": sorted({s["create"] for s in states.values() if not s["empty"]}),
        "seeds": any(not s["empty"] for s in states.values()),
        "clears": any(s["empty"] for s in states.values()),
    }
