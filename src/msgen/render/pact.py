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

import hashlib
import json
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import util
from pathlib import Path
from typing import Any

import msgen_runtime.contracts
from msgen import model as m
from msgen.caches import cache_folder, read_checked, write_checked
from msgen.render.escape import py_string
from msgen.render.events import const, uses_messaging
from msgen.render.examples import EXAMPLE_UUID, field_example, update_payload
from msgen.render.formatting import scratch_root
from msgen.render.python import json_fields
from msgen_runtime.contracts import Expectations, HttpExpectation, MessageExpectation, build_pacts, pact_file

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
    if t.kind == m.Kind.OBJECT and t.value_object:
        return _object(t.value_object, value_objects)
    if t.kind == m.Kind.LIST and t.item is not None and t.item.kind == m.Kind.OBJECT and t.item.value_object:
        count = max(1, int(f.constraints.get("min_items", 1)))
        return [_object(t.item.value_object, value_objects) for _ in range(count)]
    return field_example(f, value_objects)


def _object(vo: m.ValueObject, value_objects: tuple[m.ValueObject, ...]) -> dict[str, Any]:
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
        if t.kind == m.Kind.LIST and t.item is not None:
            visit(name, t.item)
        elif t.kind == m.Kind.OBJECT and t.value_object:
            if t.value_object.name not in seen:
                seen.add(t.value_object.name)
                for g in t.value_object.fields:
                    visit(g.name, g.type)
        elif t.kind == m.Kind.ENUM:
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
    entity = op.entity
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
        method=op.method.value,  # a plain str: a pair whose values are all plain has its pact kept (_pact_key)
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
    events: tuple[m.Event, ...] = ()  # in the order of expected.messages


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
    providers: dict[str, m.Service] = {}
    http: dict[str, list[tuple[m.Operation, HttpExpectation]]] = {}
    for call in consumer.calls:
        provider, op = call.callee, call.target
        assert provider is not None and op is not None  # resolved with the system
        item = _http(provider, op)
        if item is not None:
            providers[provider.name] = provider
            http.setdefault(provider.name, []).append((op, item))
    messages: dict[str, list[tuple[m.Event, MessageExpectation]]] = {}
    for event in consumer.consumes:
        if event.publisher == consumer.name:
            continue  # an orchestrator hearing its own events needs no contract with itself
        assert event.publisher_service is not None  # resolved with the system
        providers[event.publisher] = event.publisher_service
        messages.setdefault(event.publisher, []).append(
            (
                event,
                MessageExpectation(
                    description=f"{event.name} v{event.version}",
                    event=event.name,
                    version=event.version,
                    body=event_body(event),
                    formats=formats(event.fields, event.value_objects),
                ),
            )
        )
    pairs = []
    for name in sorted(set(http) | set(messages)):
        provider = providers[name]
        calls = http.get(name, [])
        expected = Expectations(
            consumer=participant(consumer),
            provider=participant(provider),
            http=tuple(item for _, item in calls),
            messages=tuple(message for _, message in messages.get(name, ())),
        )
        events = tuple(event for event, _ in messages.get(name, ()))
        pairs.append(Pair(provider, expected, tuple(op for op, _ in calls), events))
    return pairs


def render_pacts(system: m.System) -> dict[str, str]:
    """pacts/<consumer>-<provider>.json for every pair, as the consumers' tests write them."""
    pairs = [pair.expected for consumer in system.services for pair in expectations(system, consumer)]
    return {f"pacts/{e.consumer}-{e.provider}.json": text for e, text in zip(pairs, pact_texts(pairs), strict=True)}


def pact_texts(pairs: list[Expectations]) -> list[str]:
    """Each pair's pact text, exactly as msgen_runtime.contracts.pact_text (the consumer's test) writes it.

    pact-python writes a pact only into a file, through its FFI: importing it and writing each pair
    cost a small project a tenth of its generation. A pair's text is kept in msgen's cache folder
    (pacts/), named by a digest of the pair's expectations and of the code that writes it (pact-python's
    and its FFI's versions, msgen_runtime.contracts); the pairs it does not hold are written together
    into one scratch folder, in memory where the machine has one.
    """
    folder = cache_folder("pacts")
    keys = [_pact_key(expected) if folder is not None else None for expected in pairs]
    texts: list[str | None] = [None] * len(pairs)
    for i, key in enumerate(keys):
        if folder is not None and key is not None:
            texts[i] = _kept_pact(folder, key)
    missing = [i for i, text in enumerate(texts) if text is None]
    if missing:
        with tempfile.TemporaryDirectory(prefix="msgen-pact-", dir=scratch_root()) as tmp:
            scratch = Path(tmp)
            for i in missing:
                expected = pairs[i]
                build_pacts(expected).write(scratch)
                text = texts[i] = pact_file(scratch, expected.consumer, expected.provider).read_text()
                key = keys[i]
                if folder is not None and key is not None:
                    write_checked(folder, f"{key}.json", text.encode())
    return [text for text in texts if text is not None]


def _kept_pact(folder: Path, key: str) -> str | None:
    data = read_checked(folder, f"{key}.json")
    if data is None:
        return None
    try:
        text = data.decode()
        json.loads(text)  # a damaged entry is written again
    except ValueError:
        return None
    return text


def _pact_key(expected: Expectations) -> str | None:
    """The cache key of a pair's pact; None when its expectations hold a value whose text does not say all of it."""
    writer = _pact_writer()
    if writer is None or not _plain(expected.http) or not _plain(expected.messages):
        return None
    return hashlib.sha256(writer + repr(expected).encode()).hexdigest()


def _plain(value: Any) -> bool:
    """Only JSON's kinds of values (and tuples), whose repr tells them apart exactly."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_plain(v) for v in value)
    return value is None or kind in (str, int, float, bool)


@cache
def _pact_writer() -> bytes | None:
    """What a pact's text depends on besides its expectations: pact-python's and its FFI's versions, and how
    msgen_runtime.contracts builds it (found without importing pact-python)."""
    parts = [Path(str(msgen_runtime.contracts.__file__)).read_bytes()]
    for package in ("pact", "pact_ffi"):
        spec = util.find_spec(package)
        locations = list(spec.submodule_search_locations or ()) if spec is not None else []
        if not locations:
            return None
        version = Path(locations[0]) / "__version__.py"
        if not version.is_file():
            return None
        parts.append(version.read_bytes())
    return b"\0".join(hashlib.sha256(part).digest() for part in parts)


@dataclass(frozen=True)
class ClientCall:
    """The consumer's real client making one expected request: `await client.<function>(args)`, and what its
    answer must say: a page of one (`page`), the example entity (`entity`), or nothing to check (`none`)."""

    function: str
    ids: int  # how many path parameters: each the example id
    body: str | None  # the request body, a Python literal validated into the request model
    answer: str
    request: str | None  # the request model, imported from the client module


@dataclass(frozen=True)
class ConsumerPair:
    """One provider's expectations in the consumer's tests: Python literals of each interaction and message."""

    provider: str
    constant: str
    client_module: str
    client_class: str
    consumer_literal: str
    provider_literal: str
    http: tuple[str, ...]
    messages: tuple[str, ...]
    calls: tuple[ClientCall, ...]
    events: tuple[str, ...]  # the EventType constants of the messages


@dataclass(frozen=True)
class ConsumerTestsView:
    """tests/test_pact_consumer.py: each pair's expectations, the client classes and models it imports."""

    pairs: tuple[ConsumerPair, ...]
    clients: tuple[tuple[str, str], ...]  # (client module, client class)
    request_imports: tuple[tuple[str, str], ...]  # (client module, request model)
    event_consts: tuple[str, ...]
    skipped: tuple[str, ...]  # `service.operation` of the calls to custom operations (no default expectation)
    example_id: str  # the example entity's id, a Python literal


def _client_call(op: m.Operation, item: HttpExpectation) -> ClientCall:
    """The consumer's real client making the request of `item` to `op`, and what its answer must say."""
    body = repr(item["body"]) if op.request and item["body"] is not None else None
    answer = "page" if op.action == m.Action.LIST else "none" if op.response is None else "entity"
    return ClientCall(op.function, len(op.path_params), body, answer, op.request)


def consumer_tests_view(system: m.System, consumer: m.Service) -> ConsumerTestsView | None:
    """Data for tests/test_pact_consumer.py, or None when the service expects nothing of anyone."""
    pairs: list[ConsumerPair] = []
    event_consts: set[str] = set()
    found = expectations(system, consumer)
    covered = {(p.provider.name, op.op_id) for p in found for op in p.operations}
    skipped = tuple(f"{c.service}.{c.operation}" for c in consumer.calls if (c.service, c.operation) not in covered)
    for pair in found:
        calls = tuple(_client_call(op, item) for op, item in zip(pair.operations, pair.expected.http, strict=True))
        consts = tuple(const(message["event"]) for message in pair.expected.messages)
        event_consts.update(consts)
        pairs.append(
            ConsumerPair(
                provider=pair.provider.name,
                constant=pair.provider.name.upper(),
                client_module=pair.provider.name,
                client_class=f"{pair.provider.title}Client",
                consumer_literal=py_string(pair.expected.consumer),
                provider_literal=py_string(pair.expected.provider),
                http=tuple(repr(item) for item in pair.expected.http),
                messages=tuple(repr(item) for item in pair.expected.messages),
                calls=calls,
                events=consts,
            )
        )
    if not pairs:
        return None
    clients = tuple(sorted({(p.client_module, p.client_class) for p in pairs if p.calls}))
    request_imports = tuple(sorted({(p.client_module, c.request) for p in pairs for c in p.calls if c.request}))
    return ConsumerTestsView(
        pairs=tuple(pairs),
        clients=clients,
        request_imports=request_imports,
        event_consts=tuple(sorted(event_consts)),
        skipped=skipped,
        example_id=py_string(EXAMPLE_UUID),
    )


@dataclass(frozen=True)
class ProviderState:
    """A provider state its consumers need: the table emptied (`empty`), or one row seeded from the example."""

    name: str  # Python literal
    model: str
    empty: bool
    create: str
    example: str  # Python literal
    json_fields: str  # Python literal


@dataclass(frozen=True)
class ProviderMessage:
    """A message its consumers expect: its description (a Python literal), its EventType, an example body."""

    description: str
    const: str
    example: str


@dataclass(frozen=True)
class ProviderTestsView:
    """tests/test_pact_provider.py: the states its consumers need and the messages it sends."""

    states: tuple[ProviderState, ...]
    messages: tuple[ProviderMessage, ...]
    event_consts: tuple[str, ...]
    consumers: tuple[str, ...]
    consumer_names: str  # Python literal of the consumers' sorted names in pacts
    http: bool
    messaging: bool
    models: tuple[str, ...]
    creates: tuple[str, ...]
    seeds: bool
    clears: bool


def provider_tests_view(system: m.System, provider: m.Service) -> ProviderTestsView | None:
    """Data for tests/test_pact_provider.py: the states its consumers need and the messages it sends."""
    states: dict[str, ProviderState] = {}
    messages: dict[str, ProviderMessage] = {}
    consumers: dict[str, m.Service] = {}
    for consumer in system.services:
        for pair in expectations(system, consumer):
            if pair.provider.name != provider.name:
                continue
            consumers[consumer.name] = consumer
            for op, item in zip(pair.operations, pair.expected.http, strict=True):
                if item["state"] is None or item["state"] in states or op.entity is None:
                    continue
                entity = op.entity
                states[item["state"]] = ProviderState(
                    name=py_string(item["state"]),
                    model=entity.name,
                    empty=op.action == m.Action.CREATE,  # "no X exists": the table is emptied
                    create=f"{entity.name}Create",
                    example=repr(full_example(entity, provider)),
                    json_fields=repr(json_fields(entity)),
                )
            for event, message in zip(pair.events, pair.expected.messages, strict=True):
                messages[message["description"]] = ProviderMessage(
                    py_string(message["description"]), const(event.name), repr(event_body(event))
                )
    if not consumers:
        return None
    kept = tuple(state for _, state in sorted(states.items()))
    return ProviderTestsView(
        states=kept,
        messages=tuple(message for _, message in sorted(messages.items())),
        event_consts=tuple(sorted({message.const for message in messages.values()})),
        consumers=tuple(sorted(consumers)),
        consumer_names=repr(sorted(consumer.kebab for consumer in consumers.values())),
        http=bool(states),  # every HTTP interaction names a state
        messaging=uses_messaging(provider),
        models=tuple(sorted({s.model for s in kept})),
        creates=tuple(sorted({s.create for s in kept if not s.empty})),
        seeds=any(not s.empty for s in kept),
        clears=any(s.empty for s in kept),
    )
