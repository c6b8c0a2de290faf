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

from typing import Any

from msgen import model as m
from msgen.render.events import const, event_example, uses_messaging
from msgen.render.examples import EXAMPLE_UUID, field_example
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


def full_example(entity: m.Entity, service: m.Service) -> dict[str, Any]:
    """Every writable field of `entity` set, optional ones included: what a provider state stores."""
    return {f.name: field_example(f, service.value_objects) for f in entity.writable_fields}


def read_example(entity: m.Entity, service: m.Service) -> dict[str, Any]:
    """An entity as its provider answers it (the example of a read model)."""
    body: dict[str, Any] = {"id": EXAMPLE_UUID}
    for f in entity.fields:
        body[f.name] = field_example(f, service.value_objects)
    body["created_at"] = READ_STAMP
    body["updated_at"] = READ_STAMP
    return body


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
    elif action == "update":
        body = {}
    elif action == "delete":
        response = None
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
    )


_last: tuple[m.System, dict[str, list[tuple[m.Service, Expectations]]]] | None = None


def expectations(system: m.System, consumer: m.Service) -> list[tuple[m.Service, Expectations]]:
    """The consumer's expectations, one per provider it calls or reads events from, by provider name.

    Every service's test views ask for them, so they are worked out once per system (the last one
    rendered is kept, compared by identity).
    """
    global _last
    if _last is None or _last[0] is not system:
        _last = (system, {service.name: _expectations(system, service) for service in system.services})
    return _last[1][consumer.name]


def _expectations(system: m.System, consumer: m.Service) -> list[tuple[m.Service, Expectations]]:
    http: dict[str, list[HttpExpectation]] = {}
    for call in consumer.calls:
        provider = system.service(call.service)
        op = next(o for o in provider.operations if o.op_id == call.operation)
        item = _http(provider, op)
        if item is not None:
            http.setdefault(provider.name, []).append(item)
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
                body=event_example(event),
            )
        )
    pairs = []
    for name in sorted(set(http) | set(messages)):
        provider = system.service(name)
        pairs.append(
            (
                provider,
                Expectations(
                    consumer=participant(consumer),
                    provider=participant(provider),
                    http=tuple(http.get(name, ())),
                    messages=tuple(messages.get(name, ())),
                ),
            )
        )
    return pairs


def render_pacts(system: m.System) -> dict[str, str]:
    """pacts/<consumer>-<provider>.json for every pair, as the consumers' tests write them."""
    files = {}
    for consumer in system.services:
        for _, expected in expectations(system, consumer):
            files[f"pacts/{expected.consumer}-{expected.provider}.json"] = pact_text(expected)
    return files


def _client_call(provider: m.Service, item: HttpExpectation, system: m.System, consumer: m.Service) -> dict[str, Any]:
    op = next(o for o in provider.operations if item["description"].startswith(f"{o.op_id}:"))
    args = [f'UUID("{EXAMPLE_UUID}")' for _ in op.path_params]
    if op.request and item["body"] is not None:
        args.append(f"{op.request}.model_validate({item['body']!r})")
    check = None
    if op.action == "get" or (op.action == "create" and not op.is_async) or op.action == "update":
        check = f'result.id == UUID("{EXAMPLE_UUID}")'
    elif op.action == "list":
        check = "result.total == 1"
    elif op.is_async:
        check = f'result.id == UUID("{EXAMPLE_UUID}")'
    return {"call": f"{op.function}({', '.join(args)})", "check": check, "request": op.request}


def consumer_tests_view(system: m.System, consumer: m.Service) -> dict[str, Any] | None:
    """Data for tests/test_pact_consumer.py, or None when the service expects nothing of anyone."""
    pairs: list[dict[str, Any]] = []
    event_consts: set[str] = set()
    skipped = [
        f"{call.service}.{call.operation}"
        for call in consumer.calls
        if _http(system.service(call.service), _operation(system, call)) is None
    ]
    for provider, expected in expectations(system, consumer):
        calls = [_client_call(provider, item, system, consumer) for item in expected.http]
        consts = [const(message["event"]) for message in expected.messages]
        event_consts.update(consts)
        pairs.append(
            {
                "provider": provider.name,
                "constant": provider.name.upper(),
                "client_module": provider.name,
                "client_class": f"{provider.title}Client",
                "expectations": expected,
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
    http = False
    for consumer in system.services:
        for prov, expected in expectations(system, consumer):
            if prov.name != provider.name:
                continue
            consumers.add(consumer.name)
            http = http or bool(expected.http)
            for item in expected.http:
                if not item["state"] or item["state"] in states:
                    continue
                name = item["state"]
                empty = name.startswith("no ")
                entity = provider.entity(name.removeprefix("no ").removeprefix("a ").removesuffix(" exists"))
                states[name] = {
                    "model": entity.name,
                    "empty": empty,
                    "create": f"{entity.name}Create",
                    "values": repr(full_example(entity, provider)),
                    "json_fields": repr(json_fields(entity)),
                }
            for message in expected.messages:
                event = system.event(message["event"])
                messages[message["description"]] = {"const": const(event.name), "example": repr(event_example(event))}
    if not consumers:
        return None
    return {
        "states": dict(sorted(states.items())),
        "messages": dict(sorted(messages.items())),
        "consumers": sorted(consumers),
        "consumer_names": sorted(system.service(name).kebab for name in consumers),
        "http": http,
        "messaging": uses_messaging(provider),
        "models": sorted({s["model"] for s in states.values()}),
        "creates": sorted({s["create"] for s in states.values() if not s["empty"]}),
        "seeds": any(not s["empty"] for s in states.values()),
        "clears": any(s["empty"] for s in states.values()),
    }
