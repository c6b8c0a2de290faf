"""Views for a service's event code: payload models, event types, handlers, messaging wiring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from msgen import model as m
from msgen.names import a
from msgen.render.avro import avro_schema
from msgen.render.escape import mail_text_literal, py_docstring_text, py_string
from msgen.render.py_base import ImportLines
from msgen.render.python import Imports
from msgen.render.schemas import ModelClass, event_models, imports_of


def uses_messaging(service: m.Service) -> bool:
    return bool(service.publishes or service.consumes)


def orchestrated(system: m.System, service: m.Service) -> list[m.Saga]:
    return [saga for saga in system.sagas if saga.orchestrator == service.name]


def saga_events(system: m.System, service: m.Service) -> set[str]:
    """Events the service consumes only as a saga orchestrator (the runtime handles them)."""
    names: set[str] = set()
    for saga in orchestrated(system, service):
        for step in saga.steps:
            names |= {step.success, *(e for e in (step.failure, step.compensation_done) if e)}
    return names & set(service.consume_names)


def const(event: str) -> str:
    return event.upper().replace(".", "_")


def participant_steps(system: m.System, service: m.Service) -> list[tuple[m.Saga, m.SagaStep]]:
    """The saga steps this service performs."""
    return [(saga, step) for saga in system.sagas for step in saga.steps if step.service == service.name]


def participant_const(saga: m.Saga, step: m.SagaStep) -> str:
    return f"{saga.const}_{step.name.upper()}"


def _service_events(system: m.System, service: m.Service) -> list[m.Event]:
    wanted = {id(e) for e in (*service.publishes, *service.consumes)}
    return [e for e in system.events if id(e) in wanted]


@dataclass(frozen=True)
class EventTypeView:
    """One event's `EventType`: its constant, name and key as Python literals, its Avro schema's literal."""

    const: str
    name: str  # the event's name (an identifier-like dotted name)
    literal: str  # the same name as a Python literal
    version: int
    model: str
    key: str  # Python literal (None or the key field)
    schema: str


@dataclass(frozen=True)
class ParticipantView:
    """The ledger of a saga step this service performs: `CONST = Participant(saga=..., step=..., ledger=SagaStep)`."""

    const: str
    saga: str  # Python literal
    step: str  # Python literal


@dataclass(frozen=True)
class CallStepView:
    """The function a saga's call step runs: `clients().<callee>.<function>(args)`, its arguments from the context."""

    name: str
    doc: str  # the docstring, quotes included
    callee: str
    function: str
    params: tuple[tuple[str, bool], ...]  # each path parameter's name (a Python literal) and whether it is the id
    request: str | None  # the request model, validated from the whole context
    query: tuple[str, ...] | None  # the query parameters' names (Python literals), taken from the context when there
    answers: bool  # whether the operation answers a body (else the step answers an empty ClientModel)


@dataclass(frozen=True)
class SagaStepView:
    """One `Step(...)` of a saga definition: every value a Python literal, the optional ones None when unset."""

    name: str
    success: str
    failure: str
    timeout: str
    compensation_triggers: str
    compensation_done: str
    status: str
    trigger: str | None = None
    call: str | None = None  # the call step's function
    publishes: str | None = None
    records: str | None = None


@dataclass(frozen=True)
class EntityStatusView:
    """`EntityStatus(...)`: the saga's entity table and its status field and values, as Python literals."""

    table: str
    field: str
    started: str
    completed: str
    failed: str


@dataclass(frozen=True)
class SagaView:
    const: str
    name: str  # Python literal, as are start, key, on_success and on_failure
    start: str
    start_event: str  # the start event's name, to find its type among the published
    key: str
    steps: tuple[SagaStepView, ...]
    on_success: str
    on_failure: str
    events: tuple[tuple[str, str], ...]  # (the event's name as a literal, its EventType constant) it publishes
    entity: EntityStatusView | None


@dataclass(frozen=True)
class EventsView:
    """events.py: the payload models' code, an EventType per event, the saga definitions and `publish`."""

    imports: ImportLines
    models: tuple[ModelClass, ...]  # the payload models, written by templates/macros/models.py.j2
    types: tuple[EventTypeView, ...]
    published: tuple[EventTypeView, ...]
    participants: tuple[ParticipantView, ...]
    calls: tuple[CallStepView, ...]
    sagas: tuple[SagaView, ...]
    publish_union: str


def events_view(system: m.System, service: m.Service) -> EventsView:
    """events.py: a payload model and an EventType per event, and `publish`."""
    imports = Imports()
    imports.add("msgen_runtime.messaging.codec", "EventType")
    events = _service_events(system, service)
    # The payload classes come from msgen's one model generator; those schemas.py has are imported from it.
    shared, models = event_models(system, service, events)
    if shared:
        imports.add(f"{service.package}.schemas", *shared)
    for module, name in imports_of(models):
        imports.add(module, name)
    types = tuple(
        EventTypeView(
            const=const(event.name),
            name=event.name,
            literal=py_string(event.name),
            version=event.version,
            model=event.class_name,
            key=repr(event.key),
            schema=repr(avro_schema(event)),
        )
        for event in events
    )
    published = tuple(t for t in types if t.name in service.publish_names)
    sagas = orchestrated(system, service)
    if published:
        imports.add("sqlalchemy.ext.asyncio", "AsyncSession")
        imports.add("msgen_runtime.messaging.outbox", "stage")
        imports.add(f"{service.package}.models", "OutboxMessage")
    saga_views = []
    calls: list[CallStepView] = []
    for saga in sagas:
        imports.add("msgen_runtime.messaging.saga", "SagaDefinition", "Step")
        imports.add(f"{service.package}.models", "SagaState")
        entity = None
        if saga.entity:
            imports.add("msgen_runtime.messaging.saga", "EntityStatus")
            imports.add(f"{service.package}.models", saga.entity.name, "StatusLog")
            entity = EntityStatusView(
                table=saga.entity.name,
                field=repr(saga.status_field),
                started=repr(saga.status_started),
                completed=repr(saga.status_completed),
                failed=repr(saga.status_failed),
            )
        steps = []
        for s in saga.steps:
            if s.call is not None:
                calls.append(_call_view(system, service, saga, s, imports))
            steps.append(
                SagaStepView(
                    name=py_string(s.name),
                    success=repr(s.success),
                    failure=repr(s.failure),
                    timeout=repr(s.timeout),
                    compensation_triggers=repr(s.compensation_triggers),
                    compensation_done=repr(s.compensation_done),
                    status=repr(s.status),
                    trigger=repr(s.trigger)
                    if s.trigger and s.trigger in service.publish_names and s.trigger != saga.start
                    else None,
                    call=_call_function(saga, s) if s.call is not None else None,
                    publishes=repr(s.publishes) if s.publishes else None,
                    records=repr(s.records) if s.records else None,
                )
            )
        saga_views.append(
            SagaView(
                const=saga.const,
                name=py_string(saga.name),
                start=py_string(saga.start),
                start_event=saga.start,
                key=py_string(saga.key),
                steps=tuple(steps),
                on_success=py_string(saga.on_success),
                on_failure=py_string(saga.on_failure),
                events=tuple((t.literal, t.const) for t in published),
                entity=entity,
            )
        )
    participants = []
    for saga, step in participant_steps(system, service):
        imports.add("msgen_runtime.messaging.participant", "Participant")
        imports.add(f"{service.package}.models", "SagaStep")
        participants.append(ParticipantView(participant_const(saga, step), py_string(saga.name), py_string(step.name)))
    return EventsView(
        imports=imports.lines(),
        models=tuple(models),
        types=types,
        published=published,
        participants=tuple(participants),
        calls=tuple(calls),
        sagas=tuple(saga_views),
        publish_union=" | ".join(t.model for t in published),
    )


def _call_function(saga: m.Saga, step: m.SagaStep) -> str:
    return f"_call_{saga.name}_{step.name}"


def _call_view(system: m.System, service: m.Service, saga: m.Saga, step: m.SagaStep, imports: Imports) -> CallStepView:
    """The function a call step runs: the callee's operation, its arguments taken from the saga's context."""

    callee = step.participant
    op = step.operation
    assert op is not None and callee is not None  # a call step's operation, resolved with the saga
    imports.add("typing", "Any")
    imports.add("pydantic", "BaseModel")
    imports.add(f"{service.package}.clients", "clients")
    params = []
    for param in op.path_params:
        if param == "id":
            imports.add("uuid", "UUID")
        params.append((py_string(param), param == "id"))
    if op.request:
        imports.add(f"{service.package}.clients.{callee.name}", op.request)
    query = tuple(py_string(q.name) for q in op.query) if op.query else None
    if op.response is None:
        imports.add("msgen_runtime.schemas", "ClientModel")
    doc = f"Step '{step.name}' of saga '{saga.name}': {op.method} {op.path} of the {callee.name} service, filled from the saga."
    return CallStepView(
        name=_call_function(saga, step),
        doc=f'"""{py_docstring_text(doc)}"""',
        callee=callee.name,
        function=op.function,
        params=tuple(params),
        request=op.request,
        query=query,
        answers=op.response is not None,
    )


@dataclass(frozen=True)
class Build:
    """`Class.model_validate({...})`: each key a Python literal, each value an expression or a placeholder."""

    class_name: str
    entries: tuple[tuple[str, str | Placeholder], ...]


def _build(
    target: m.Event, source: m.Event | None, var: str, imports: Imports, *, recorded: frozenset[str] = frozenset()
) -> Build:
    """`Target.model_validate({...})` from the fields of `source` (by name), defaults for the rest.

    An optional field is left out, unless the saga's orchestrator `records` it (`recorded`): then it
    gets a placeholder like a required one, so that the default step has something to record.
    """
    have = {f.name for f in source.fields} if source else set()
    parts: list[tuple[str, str | Placeholder]] = []
    for f in target.fields:
        if f.name in have:
            parts.append((py_string(f.name), f"{var}.{f.name}"))
        elif not f.required and f.name not in recorded:
            continue
        elif f.name.endswith("_id") and f.type.kind in ("uuid", "ref"):
            imports.add("uuid", "uuid4")
            parts.append((py_string(f.name), _NEW_ID))
        else:
            parts.append((py_string(f.name), _placeholder(f, imports)))
    return Build(target.class_name, tuple(parts))


@dataclass(frozen=True)
class Placeholder:
    """A value the default handler gives a field nothing fills: by the field's kind (`uuid` for a new id), an
    enum's first value (a Python literal); the macro `value` of handlers/events.py.j2 writes it."""

    what: ClassVar[str] = "placeholder"
    kind: str
    enum_value: str | None = None


_NEW_ID = Placeholder("uuid")


def _placeholder(f: m.Field, imports: Imports) -> Placeholder:
    kind = f.type.kind
    if kind in ("datetime", "date"):
        imports.add("datetime", "UTC", "datetime")
    if kind in ("uuid", "ref"):
        imports.add("uuid", "uuid4")
        return _NEW_ID
    if kind == "enum":
        return Placeholder("enum", py_string(f.type.enum_values[0]))
    return Placeholder(str(kind))


def _compatible(target: m.Field, source: m.Field) -> bool:
    """Whether `source`'s value can be stored as `target` as it is."""
    ids = ("uuid", "ref")
    if target.type.kind in ids and source.type.kind in ids:
        return True
    if target.type.kind != source.type.kind:
        return False
    if target.type.kind == "enum":
        return set(source.type.enum_values) <= set(target.type.enum_values)
    if target.type.kind == "list":
        return (
            target.type.item is not None
            and source.type.item is not None
            and (target.type.item.kind == source.type.item.kind)
        )
    return True


@dataclass(frozen=True)
class Copied:
    """A field of the event stored in the row: as it is, dumped to JSON (`object`), or each item dumped with
    only the fields the row's value object has (`items`, those names Python literals)."""

    what: ClassVar[str] = "copied"

    source: str  # the expression read: `event.lines`
    dump: str = ""  # "", "object" or "items"
    include: tuple[str, ...] = ()


def _copy(target: m.Field, source: m.Field, var: str, vos: dict[str, m.ValueObject]) -> Copied | None:
    """How `var.<source>` is stored in the entity field `target`, None when it cannot be copied."""
    if not _compatible(target, source):
        return None
    value = f"{var}.{source.name}"
    item = target.type.item
    if target.type.kind == "list" and item is not None and item.kind == "object":
        wanted = vos.get(item.value_object.name if item.value_object else "")
        have = (
            vos.get(source.type.item.value_object.name if source.type.item.value_object else "")
            if source.type.item
            else None
        )
        if (
            wanted is None
            or have is None
            or not {f.name for f in wanted.fields if f.required} <= {f.name for f in have.fields}
        ):
            return None
        names = tuple(py_string(f.name) for f in wanted.fields if f.name in {h.name for h in have.fields})
        return Copied(value, "items", names)
    if target.type.kind == "object":
        return Copied(value, "object")
    return Copied(value)


@dataclass(frozen=True)
class _Books:
    """What a step's default handlers write: its entity, the row's variable, the saga key field."""

    entity: m.Entity
    books: m.StepBooks
    var: str


def _books(service: m.Service, step: m.SagaStep) -> _Books | None:
    if step.books is None:
        return None
    entity = step.books.entity
    var = entity.snake if entity.snake not in ("event", "session", "item", "sa", "logging") else "row"
    return _Books(entity, step.books, var)


@dataclass(frozen=True)
class NewRow:
    """`Entity(field=value, ...)`: each value copied from the event, or a placeholder expression."""

    entity: str
    args: tuple[tuple[str, Copied | Placeholder | str], ...]


def _new_row(
    books: _Books,
    event: m.Event,
    vos: dict[str, m.ValueObject],
    imports: Imports,
    *,
    needed: frozenset[str] = frozenset(),
) -> NewRow:
    """`Entity(...)` built from the trigger `event`: same-named fields copied, the applied status set.

    An optional field without a default that the success event takes from the row (`needed`: one it
    requires, or one the orchestrator `records`) gets a placeholder, as a required one does.
    """
    have = {f.name: f for f in event.fields}
    args: list[tuple[str, Copied | Placeholder | str]] = []
    for f in books.entity.fields:
        if f.name == books.books.field:
            args.append((f.name, py_string(books.books.applied)))
            continue
        value = _copy(f, have[f.name], "event", vos) if f.name in have else None
        if value is None and (f.has_default or (not f.required and f.name not in needed)):
            continue
        args.append((f.name, value if value is not None else _placeholder(f, imports)))
    return NewRow(books.entity.name, tuple(args))


def _build_from_row(target: m.Event, books: _Books, source: m.Event, imports: Imports, *, key: str) -> Build:
    """`Target.model_validate({...})`: the saga key from the event, the row's id and fields, then the event's."""
    row_fields = {f.name for f in books.entity.fields}
    have = {f.name for f in source.fields}
    parts: list[tuple[str, str | Placeholder]] = []
    for f in target.fields:
        if f.name == key and f.name in have:
            parts.append((py_string(f.name), f"event.{f.name}"))
        elif f.name == f"{books.entity.snake}_id":
            parts.append((py_string(f.name), f"{books.var}.id"))
        elif f.name in row_fields:
            parts.append((py_string(f.name), f"{books.var}.{f.name}"))
        elif f.name in have:
            parts.append((py_string(f.name), f"event.{f.name}"))
        elif not f.required:
            continue
        elif f.name.endswith("_id") and f.type.kind in ("uuid", "ref"):
            imports.add("uuid", "uuid4")
            parts.append((py_string(f.name), _NEW_ID))
        else:
            parts.append((py_string(f.name), _placeholder(f, imports)))
    return Build(target.class_name, tuple(parts))


@dataclass(frozen=True)
class LogIds:
    """`logging.getLogger(__name__).info(message, extra={...})` with ids only: never a whole payload (it may
    hold personal data). The message and keys are Python literals, the values expressions."""

    message: str
    ids: tuple[tuple[str, str], ...]


def _log_ids(name: str, ids: list[tuple[str, str]]) -> LogIds:
    return LogIds(py_string(name), tuple((py_string(k), v) for k, v in ids))


@dataclass(frozen=True)
class RowWrite:
    """The row a step's default handler adds: `var = Entity(...)`, flushed for its id."""

    var: str
    new: NewRow


@dataclass(frozen=True)
class RowUndo:
    """The row a compensation puts back: found by the saga key while it holds the applied status."""

    var: str
    entity: str
    key_field: str
    field: str
    applied: str  # Python literal
    compensated: str  # Python literal


@dataclass(frozen=True)
class StepAction:
    """A saga step's default handler: perform it once (its ledger says whether to), record it, publish its success."""

    ledger: str
    key: str  # the saga key's expression (`event.order_id`)
    row: RowWrite | None
    log: LogIds
    publish: Build  # the success event


@dataclass(frozen=True)
class CompensationAction:
    """Undo a step if it acted (once); if it never did, the ledger refuses it for good."""

    ledger: str
    key: str
    row: RowUndo | None
    log: LogIds
    publish: Build | None  # the compensation's done event, if it has one


@dataclass(frozen=True)
class MailLookup:
    """The recipient's address read from another service: `clients().<owner>.<function>(event.<to>).<field>`."""

    owner: str
    function: str
    field: str


@dataclass(frozen=True)
class MailAction:
    """`mail.send(...)`: to the event's field `to` (or the address looked up through it), subject and text literals."""

    to: str
    subject: str
    text: str
    lookup: MailLookup | None


@dataclass(frozen=True)
class EventHandler:
    """One consumed event's handler: its saga steps, compensations and mail, or a log line when it has none."""

    name: str
    event_class: str
    doc: str  # the docstring, quotes included
    steps: tuple[StepAction, ...]
    compensations: tuple[CompensationAction, ...]
    mail: MailAction | None
    log: LogIds | None


@dataclass(frozen=True)
class EventHandlersView:
    imports: ImportLines
    handlers: tuple[EventHandler, ...]


def _step_action(
    system: m.System, service: m.Service, saga: m.Saga, step: m.SagaStep, event: m.Event, imports: Imports
) -> StepAction:
    """Perform the step once (the ledger says whether to), record it, publish its success."""
    imports.module("logging")
    ledger = participant_const(saga, step)
    imports.add(f"{service.package}.events", ledger)
    success = step.success_event
    assert success is not None  # an event step's success, resolved with the saga
    imports.add(f"{service.package}.events", success.class_name, "publish")
    key = f"event.{saga.key}"
    books = _books(service, step)
    vos = {vo.name: vo for vo in (*service.value_objects, *event.value_objects)}
    recorded = frozenset(source for source, _ in step.records)
    if books is None:
        log = _log_ids(f"{step.name}.applied", [(saga.key, key)])
        return StepAction(ledger, key, None, log, _build(success, event, "event", imports, recorded=recorded))
    imports.add(f"{service.package}.models", books.entity.name)
    needed = recorded | {f.name for f in success.fields if f.required and not f.has_default}
    row = RowWrite(books.var, _new_row(books, event, vos, imports, needed=needed))
    log = _log_ids(f"{step.name}.applied", [(saga.key, key), (f"{books.entity.snake}_id", f"{books.var}.id")])
    return StepAction(ledger, key, row, log, _build_from_row(success, books, event, imports, key=saga.key))


def _compensation_action(
    system: m.System, service: m.Service, saga: m.Saga, step: m.SagaStep, event: m.Event, imports: Imports
) -> CompensationAction:
    """Undo the step if it acted (once); if it never did, the ledger refuses it for good."""
    imports.module("logging")
    ledger = participant_const(saga, step)
    imports.add(f"{service.package}.events", ledger)
    key = f"event.{saga.key}"
    books = _books(service, step)
    done = step.compensation_done_event
    if done is not None:
        imports.add(f"{service.package}.events", done.class_name, "publish")
    if books is None:
        log = _log_ids(f"{step.name}.compensated", [(saga.key, key)])
        publish = _build(done, event, "event", imports) if done is not None else None
        return CompensationAction(ledger, key, None, log, publish)
    imports.module("sqlalchemy as sa")
    imports.add(f"{service.package}.models", books.entity.name)
    # only a row the step holds is undone: a failure path that recorded another status has nothing to undo
    row = RowUndo(
        var=books.var,
        entity=books.entity.name,
        key_field=books.books.key_field,
        field=books.books.field,
        applied=repr(books.books.applied),
        compensated=repr(books.books.compensated),
    )
    log = _log_ids(f"{step.name}.compensated", [(saga.key, key), (f"{books.entity.snake}_id", f"{books.var}.id")])
    publish = _build_from_row(done, books, event, imports, key=saga.key) if done is not None else None
    return CompensationAction(ledger, key, row, log, publish)


def event_handlers_view(system: m.System, service: m.Service) -> EventHandlersView:
    """handlers/events.py: one function per consumed event (outside the saga orchestration), with a default."""
    imports = Imports()
    imports.add("sqlalchemy.ext.asyncio", "AsyncSession")
    handlers: list[EventHandler] = []
    mine = participant_steps(system, service)
    emails = {rule.event.name: rule for rule in service.emails}
    for event in service.consumes:
        name = event.name
        if name in saga_events(system, service):
            continue
        imports.add(f"{service.package}.events", event.class_name)
        steps: list[StepAction] = []
        compensations: list[CompensationAction] = []
        docs: list[str] = []
        for saga, step in mine:
            if step.trigger != name:
                continue
            books = f", recording {a(step.books.entity.name)} {step.books.applied}" if step.books else ""
            docs.append(
                f"Step '{step.name}' of saga '{saga.name}': publish {step.success} when it succeeds"
                + (f", {step.failure} when it fails" if step.failure else "")
                + f". The default always succeeds{books}."
            )
            steps.append(_step_action(system, service, saga, step, event, imports))
        for saga, step in mine:
            if name not in step.compensation_triggers:
                continue
            then = f", then publish {step.compensation_done}" if step.compensation_done else ""
            docs.append(
                f"Compensation of step '{step.name}' (saga '{saga.name}'): undo it{then}; nothing when it never acted."
            )
            compensations.append(_compensation_action(system, service, saga, step, event, imports))
        doc = " ".join(docs) or f"React to {name}."
        mail = None
        if name in emails:
            rule = emails[name]
            imports.add("msgen_runtime", "mail")
            doc = f"Mail the customer about {name}." if doc == f"React to {name}." else doc
            lookup = None
            if rule.lookup is not None:
                imports.add(f"{service.package}.clients", "clients")
                lookup = MailLookup(*rule.lookup)
            mail = MailAction(rule.to, mail_text_literal(rule.subject), mail_text_literal(rule.body), lookup)
        log = None
        if not (steps or compensations or mail):
            imports.module("logging")
            log = _log_ids(f"{name}.received", [(event.key, f"event.{event.key}")] if event.key else [])
        handlers.append(
            EventHandler(
                name=f"on_{const(name).lower()}",
                event_class=event.class_name,
                doc=f'"""{py_docstring_text(doc)}"""',
                steps=tuple(steps),
                compensations=tuple(compensations),
                mail=mail,
                log=log,
            )
        )
    return EventHandlersView(imports.lines(), tuple(handlers))


@dataclass(frozen=True)
class SubscriptionView:
    """`Subscription(CONST, handler)`: a saga orchestrator's handler for the event's name, or the event handler."""

    const: str
    saga: str | None  # the saga's constant when the orchestrator handles it
    event: str  # the event's name as a Python literal
    handler: str  # handlers/events.py's function otherwise
    alone: bool = False  # handled one message per transaction, never in a batch (its handler sends mail)


@dataclass(frozen=True)
class MessagingView:
    """messaging.py: what the service publishes, its subscriptions, its sagas."""

    imports: ImportLines
    system: str  # Python literal
    broker: str  # Python literal
    topics: str  # Python literal of the sorted topics
    subscriptions: tuple[SubscriptionView, ...]
    published: tuple[str, ...]
    sagas: tuple[str, ...]
    has_outbox: bool
    has_inbox: bool


def messaging_view(system: m.System, service: m.Service) -> MessagingView:
    """messaging.py: what the service publishes, its subscriptions, its sagas."""
    imports = Imports()
    imports.add("msgen_runtime.messaging.runtime", "MessagingConfig")
    subscriptions = []
    orchestrator_events = saga_events(system, service)
    mailed = {rule.event.name for rule in service.emails}
    for name in service.consume_names:
        imports.add(f"{service.package}.events", const(name))
        handler = f"on_{const(name).lower()}"
        if name in orchestrator_events:
            saga = next(
                s
                for s in orchestrated(system, service)
                if name in {x for st in s.steps for x in (st.success, st.failure, st.compensation_done)}
            )
            imports.add("msgen_runtime.messaging.saga", "saga_handler")
            imports.add(f"{service.package}.events", saga.const)
            subscriptions.append(SubscriptionView(const(name), saga.const, py_string(name), handler))
        else:
            imports.add(f"{service.package}.handlers", "events")
            # a mail is an effect outside the database: its message is never in a batch that a later
            # message's failure could roll back and run again
            subscriptions.append(SubscriptionView(const(name), None, py_string(name), handler, alone=name in mailed))
    if subscriptions:
        imports.add("msgen_runtime.messaging.consumer", "Subscription")
        imports.add(f"{service.package}.models", "DeadLetter", "InboxMessage")
    published = tuple(const(n) for n in service.publish_names)
    for c in published:
        imports.add(f"{service.package}.events", c)
    if published:
        imports.add(f"{service.package}.models", "OutboxMessage", "OutboxPartition")
    sagas = tuple(s.const for s in orchestrated(system, service))
    for s in sagas:
        imports.add(f"{service.package}.events", s)
    return MessagingView(
        imports=imports.lines(),
        system=py_string(system.name),
        broker=py_string(system.broker),
        topics=repr(sorted(e.topic for e in system.events)),
        subscriptions=tuple(subscriptions),
        published=published,
        sagas=sagas,
        has_outbox=bool(published),
        has_inbox=bool(subscriptions),
    )


def event_example(event: m.Event, **overrides: Any) -> dict[str, Any]:
    """A valid payload of `event` (deterministic), with some fields set."""
    from msgen.render.examples import field_example

    payload = {f.name: field_example(f, event.value_objects) for f in event.fields if f.required or f.has_default}
    payload.update(overrides)
    return payload


@dataclass(frozen=True)
class ConsumedSample:
    """An event the service consumes: its topic, its EventType constant, a valid payload (a Python literal)."""

    topic: str
    const: str
    sample: str


@dataclass(frozen=True)
class PublishedSample:
    """The first event the service publishes: its topic, model and a valid payload (a Python literal)."""

    topic: str
    model: str
    sample: str


@dataclass(frozen=True)
class SagaFailure:
    """A saga's failing walk: the successes before the failing step, its failure, the compensations after."""

    before: tuple[str, ...]
    fail: str
    compensations: tuple[str, ...]


@dataclass(frozen=True)
class SagaWalk:
    """What tests/test_messaging.py feeds a saga this service orchestrates, and the statuses it must go through."""

    name: str
    create_path: str
    create_status: int
    payload: str  # Python literal
    key: str
    happy: tuple[str, ...]  # the events of the successful walk, in order
    failure: SagaFailure | None
    samples: tuple[tuple[str, str], ...]  # (event, a valid payload as a Python literal)
    field: str
    statuses: str  # Python literal of the list of statuses the entity goes through
    final_status: str | None
    failed_status: str | None
    on_success: str
    on_failure: str
    path: str


@dataclass(frozen=True)
class MessagingTestsView:
    consumed: tuple[ConsumedSample, ...]
    published: PublishedSample | None
    sagas: tuple[SagaWalk, ...]


def messaging_tests_view(system: m.System, service: m.Service) -> MessagingTestsView:
    """Data for tests/test_messaging.py: consumed samples, a published sample, saga walks."""
    consumed = tuple(ConsumedSample(e.name, const(e.name), repr(event_example(e))) for e in service.consumes)
    published = None
    if service.publishes:
        event = service.publishes[0]
        published = PublishedSample(event.name, event.class_name, repr(event_example(event)))
    sagas = []
    for saga in orchestrated(system, service):
        if not saga.entity or any(step.call for step in saga.steps):
            # a call step needs the called service running: tests/ of msgen run such sagas end to end
            continue
        entity = saga.entity
        create = next((op for op in service.operations if op.entity is entity and op.action == "create"), None)
        if create is None:
            continue
        from msgen.render.examples import example_payload

        failing_index = max((i for i, s in enumerate(saga.steps) if s.failure), default=None)
        failure = None
        if failing_index is not None:
            failure = SagaFailure(
                before=tuple(s.success for s in saga.steps[:failing_index]),
                fail=saga.steps[failing_index].failure or "",
                compensations=tuple(
                    s.compensation_done for s in reversed(saga.steps[:failing_index]) if s.compensation_done
                ),
            )
        walked = {x for st in saga.steps for x in (st.success, st.failure, st.compensation_done) if x}
        statuses = [saga.status_started] + [s.status for s in saga.steps if s.status] + [saga.status_completed]
        sagas.append(
            SagaWalk(
                name=saga.name,
                create_path=create.path,
                create_status=create.status,
                payload=repr(example_payload(entity, service)),
                key=saga.key,
                happy=tuple(step.success for step in saga.steps),
                failure=failure,
                samples=tuple((e.name, repr(event_example(e))) for e in system.events if e.name in walked),
                field=saga.status_field,
                statuses=repr(statuses),
                final_status=statuses[-1],
                failed_status=saga.status_failed,
                on_success=saga.on_success,
                on_failure=saga.on_failure,
                path=f"/{system.api_version}{entity.resource}",
            )
        )
    return MessagingTestsView(consumed, published, tuple(sagas))
