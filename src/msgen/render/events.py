"""Views for a service's event code: payload models, event types, handlers, messaging wiring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen.names import a
from msgen.render.avro import avro_schema
from msgen.render.escape import mail_text_literal, plain
from msgen.render.python import Imports, ModelView, _enums, pydantic_line


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
    return names & set(service.consumes)


def const(event: str) -> str:
    return event.upper().replace(".", "_")


def participant_steps(system: m.System, service: m.Service) -> list[tuple[m.Saga, m.SagaStep]]:
    """The saga steps this service performs."""
    return [(saga, step) for saga in system.sagas for step in saga.steps if step.service == service.name]


def participant_const(saga: m.Saga, step: m.SagaStep) -> str:
    return f"{saga.const}_{step.name.upper()}"


def _service_events(system: m.System, service: m.Service) -> list[m.Event]:
    wanted = set(service.publishes) | set(service.consumes)
    return [e for e in system.events if e.name in wanted]


def events_view(system: m.System, service: m.Service) -> dict[str, Any]:
    """events.py: a payload model and an EventType per event, and `publish`."""
    imports = Imports()
    imports.add("msgen_runtime.messaging.codec", "EventType")
    imports.add("msgen_runtime.schemas", "EventPayload")
    models: list[ModelView] = []
    enums: dict[str, tuple[str, ...]] = {}
    seen_vos: set[str] = set()
    types = []
    for event in _service_events(system, service):
        for vo in event.value_objects:
            if vo.name in seen_vos:
                continue
            seen_vos.add(vo.name)
            enums.update(_enums(vo.fields))
            models.append(
                ModelView(
                    vo.name,
                    "EventPayload",
                    vo.description or f"{vo.name}, as events carry it.",
                    [pydantic_line(f, imports, mode="event") for f in vo.fields],
                )
            )
        enums.update(_enums(event.fields))
        models.append(
            ModelView(
                event.class_name,
                "EventPayload",
                f"{event.name} v{event.version}: " + plain(event.description),
                [pydantic_line(f, imports, mode="event") for f in event.fields],
            )
        )
        types.append(
            {
                "const": const(event.name),
                "name": event.name,
                "version": event.version,
                "model": event.class_name,
                "key": event.key,
                "schema": repr(avro_schema(event)),
            }
        )
    if enums:
        imports.add("enum", "StrEnum")
    published = [t for t in types if t["name"] in service.publishes]
    sagas = orchestrated(system, service)
    if published:
        imports.add("sqlalchemy.ext.asyncio", "AsyncSession")
        imports.add("msgen_runtime.messaging.outbox", "stage")
        imports.add(f"{service.package}.models", "OutboxMessage")
    saga_views = []
    calls: list[dict[str, Any]] = []
    for saga in sagas:
        imports.add("msgen_runtime.messaging.saga", "SagaDefinition", "Step")
        imports.add(f"{service.package}.models", "SagaState")
        entity_arg = "None"
        if saga.entity:
            imports.add("msgen_runtime.messaging.saga", "EntityStatus")
            imports.add(f"{service.package}.models", saga.entity, "StatusLog")
            entity_arg = (
                f"EntityStatus(table={saga.entity}, field={saga.status_field!r}, started={saga.status_started!r}, "
                f"completed={saga.status_completed!r}, failed={saga.status_failed!r})"
            )
        steps = []
        for s in saga.steps:
            extra = ""
            if s.trigger and s.trigger in service.publishes and s.trigger != saga.start:
                extra += f", trigger={s.trigger!r}"
            if s.call is not None:
                extra += f", call={_call_function(saga, s)}"
                calls.append(_call_view(system, service, saga, s, imports))
            if s.publishes:
                extra += f", publishes={s.publishes!r}"
            if s.records:
                extra += f", records={s.records!r}"
            steps.append(
                f"Step(name={s.name!r}, success={s.success!r}, failure={s.failure!r}, timeout={s.timeout!r}, "
                f"compensation_triggers={s.compensation_triggers!r}, compensation_done={s.compensation_done!r}, "
                f"status={s.status!r}{extra})"
            )
        own = list(published)
        saga_views.append(
            {
                "const": saga.const,
                "name": saga.name,
                "start": saga.start,
                "start_class": system.event(saga.start).class_name,
                "key": saga.key,
                "steps": steps,
                "on_success": saga.on_success,
                "on_failure": saga.on_failure,
                "events": "{" + ", ".join(f"{t['name']!r}: {t['const']}" for t in own) + "}",
                "entity": entity_arg,
                "status_log": "StatusLog" if saga.entity else "None",
            }
        )
    participants = []
    for saga, step in participant_steps(system, service):
        imports.add("msgen_runtime.messaging.participant", "Participant")
        imports.add(f"{service.package}.models", "SagaStep")
        participants.append(
            f"{participant_const(saga, step)} = Participant(saga={saga.name!r}, step={step.name!r}, ledger=SagaStep)"
        )
    return {
        "imports": imports.lines(),
        "participants": participants,
        "enums": [{"name": n, "members": v} for n, v in sorted(enums.items())],
        "models": models,
        "types": types,
        "published": published,
        "sagas": saga_views,
        "calls": calls,
        "publish_union": " | ".join(str(t["model"]) for t in published),
    }


def _call_function(saga: m.Saga, step: m.SagaStep) -> str:
    return f"_call_{saga.name}_{step.name}"


def _call_view(
    system: m.System, service: m.Service, saga: m.Saga, step: m.SagaStep, imports: Imports
) -> dict[str, Any]:
    """The function a call step runs: the callee's operation, its arguments taken from the saga's context."""

    callee = system.service(step.service)
    op = next(o for o in callee.operations if o.op_id == step.call)
    imports.add("typing", "Any")
    imports.add("pydantic", "BaseModel")
    imports.add(f"{service.package}.clients", "clients")
    args = []
    for param in op.path_params:
        if param == "id":
            imports.add("uuid", "UUID")
            args.append(f"UUID(str(context[{param!r}]))")
        else:
            args.append(f"str(context[{param!r}])")
    if op.request:
        imports.add(f"{service.package}.clients.{callee.name}", op.request)
        args.append(f"{op.request}.model_validate(context)")
    call = f"clients().{callee.name}.{op.function}({', '.join(args)}"
    if op.query:
        names = "(" + "".join(f"{q.name!r}, " for q in op.query) + ")"
        call += f"{', ' if args else ''}**{{name: context[name] for name in {names} if name in context}}"
    call += ")"
    if op.response is None:
        imports.add("msgen_runtime.schemas", "ClientModel")
        body = [f"await {call}", "return ClientModel()"]
    else:
        body = [f"return await {call}"]
    return {
        "name": _call_function(saga, step),
        "doc": f"\"\"\"Step '{step.name}' of saga '{saga.name}': {op.method} {op.path} of the {callee.name} "
        f'service, filled from the saga."""',
        "body": body,
    }


@dataclass(frozen=True)
class EventHandler:
    name: str
    event_class: str
    doc: str
    body: list[str]


def _build(
    target: m.Event, source: m.Event | None, var: str, imports: Imports, *, recorded: frozenset[str] = frozenset()
) -> str:
    """`Target.model_validate({...})` from the fields of `source` (by name), defaults for the rest.

    An optional field is left out, unless the saga's orchestrator `records` it (`recorded`): then it
    gets a placeholder like a required one, so that the default step has something to record.
    """
    have = {f.name for f in source.fields} if source else set()
    parts = []
    for f in target.fields:
        if f.name in have:
            parts.append(f"{f.name!r}: {var}.{f.name}")
        elif not f.required and f.name not in recorded:
            continue
        elif f.name.endswith("_id") and f.type.kind in ("uuid", "ref"):
            imports.add("uuid", "uuid4")
            parts.append(f"{f.name!r}: uuid4()")
        else:
            parts.append(f"{f.name!r}: {_placeholder(f, imports)}")
    return f"{target.class_name}.model_validate({{{', '.join(parts)}}})"


def _placeholder(f: m.Field, imports: Imports) -> str:
    kind = f.type.kind
    if kind in ("string", "text"):
        return repr("default: write the business logic in handlers/events.py")
    if kind in ("int", "decimal"):
        return "0"
    if kind == "bool":
        return "False"
    if kind == "enum":
        return repr(f.type.enum_values[0])
    if kind == "list":
        return "[]"
    if kind in ("datetime", "date"):
        imports.add("datetime", "UTC", "datetime")
        return "datetime.now(UTC)" if kind == "datetime" else "datetime.now(UTC).date()"
    if kind in ("uuid", "ref"):
        imports.add("uuid", "uuid4")
        return "uuid4()"
    if kind == "email":
        return repr("someone@example.com")
    if kind == "url":
        return repr("https://example.com")
    return "None"


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


def _copy(target: m.Field, source: m.Field, var: str, vos: dict[str, m.ValueObject]) -> str | None:
    """The expression storing `var.<source>` in the entity field `target`, None when it cannot be copied."""
    if not _compatible(target, source):
        return None
    value = f"{var}.{source.name}"
    item = target.type.item
    if target.type.kind == "list" and item is not None and item.kind == "object":
        wanted = vos.get(item.value_object or "")
        have = vos.get(source.type.item.value_object or "") if source.type.item else None
        if (
            wanted is None
            or have is None
            or not {f.name for f in wanted.fields if f.required} <= {f.name for f in have.fields}
        ):
            return None
        names = "{" + ", ".join(repr(f.name) for f in wanted.fields if f.name in {h.name for h in have.fields}) + "}"
        return f"[item.model_dump(mode='json', include={names}) for item in {value}]"
    if target.type.kind == "object":
        return f"{value}.model_dump(mode='json')"
    return value


@dataclass(frozen=True)
class _Books:
    """What a step's default handlers write: its entity, the row's variable, the saga key field."""

    entity: m.Entity
    books: m.StepBooks
    var: str


def _books(service: m.Service, step: m.SagaStep) -> _Books | None:
    if step.books is None:
        return None
    entity = service.entity(step.books.entity)
    var = entity.snake if entity.snake not in ("event", "session", "item", "sa", "logging") else "row"
    return _Books(entity, step.books, var)


def _new_row(
    books: _Books,
    event: m.Event,
    vos: dict[str, m.ValueObject],
    imports: Imports,
    *,
    needed: frozenset[str] = frozenset(),
) -> str:
    """`Entity(...)` built from the trigger `event`: same-named fields copied, the applied status set.

    An optional field without a default that the success event takes from the row (`needed`: one it
    requires, or one the orchestrator `records`) gets a placeholder, as a required one does.
    """
    have = {f.name: f for f in event.fields}
    args = []
    for f in books.entity.fields:
        if f.name == books.books.field:
            args.append(f"{f.name}={books.books.applied!r}")
            continue
        value = _copy(f, have[f.name], "event", vos) if f.name in have else None
        if value is None and (f.has_default or (not f.required and f.name not in needed)):
            continue
        args.append(f"{f.name}={value if value is not None else _placeholder(f, imports)}")
    return f"{books.entity.name}({', '.join(args)})"


def _build_from_row(target: m.Event, books: _Books, source: m.Event, imports: Imports, *, key: str) -> str:
    """`Target.model_validate({...})`: the saga key from the event, the row's id and fields, then the event's."""
    row_fields = {f.name for f in books.entity.fields}
    have = {f.name for f in source.fields}
    parts = []
    for f in target.fields:
        if f.name == key and f.name in have:
            parts.append(f"{f.name!r}: event.{f.name}")
        elif f.name == f"{books.entity.snake}_id":
            parts.append(f"{f.name!r}: {books.var}.id")
        elif f.name in row_fields:
            parts.append(f"{f.name!r}: {books.var}.{f.name}")
        elif f.name in have:
            parts.append(f"{f.name!r}: event.{f.name}")
        elif not f.required:
            continue
        elif f.name.endswith("_id") and f.type.kind in ("uuid", "ref"):
            imports.add("uuid", "uuid4")
            parts.append(f"{f.name!r}: uuid4()")
        else:
            parts.append(f"{f.name!r}: {_placeholder(f, imports)}")
    return f"{target.class_name}.model_validate({{{', '.join(parts)}}})"


def _log_ids(name: str, ids: list[tuple[str, str]]) -> str:
    """A log line with ids only: never a whole payload (it may hold personal data)."""
    extra = ", ".join(f"{k!r}: str({v})" for k, v in ids)
    return f"logging.getLogger(__name__).info({name!r}, extra={{{extra}}})"


def _step_body(
    system: m.System, service: m.Service, saga: m.Saga, step: m.SagaStep, event: m.Event, imports: Imports
) -> list[str]:
    """Perform the step once (the ledger says whether to), record it, publish its success."""
    imports.module("logging")
    ledger = participant_const(saga, step)
    imports.add(f"{service.package}.events", ledger)
    success = system.event(step.success)
    imports.add(f"{service.package}.events", success.class_name, "publish")
    key = f"event.{saga.key}"
    # not applied: done already, or the saga failed before this step acted
    body = [f"if await {ledger}.apply(session, {key}):"]
    books = _books(service, step)
    vos = {vo.name: vo for vo in (*service.value_objects, *event.value_objects)}
    recorded = frozenset(source for source, _ in step.records)
    if books is None:
        body.append("    " + _log_ids(f"{step.name}.applied", [(saga.key, key)]))
        body.append(f"    await publish(session, {_build(success, event, 'event', imports, recorded=recorded)})")
        return body
    imports.add(f"{service.package}.models", books.entity.name)
    needed = recorded | {f.name for f in success.fields if f.required and not f.has_default}
    body += [
        f"    {books.var} = {_new_row(books, event, vos, imports, needed=needed)}",
        f"    session.add({books.var})",
        "    await session.flush()  # gives the row its id",
        "    " + _log_ids(f"{step.name}.applied", [(saga.key, key), (f"{books.entity.snake}_id", f"{books.var}.id")]),
        f"    await publish(session, {_build_from_row(success, books, event, imports, key=saga.key)})",
    ]
    return body


def _compensation_body(
    system: m.System, service: m.Service, saga: m.Saga, step: m.SagaStep, event: m.Event, imports: Imports
) -> list[str]:
    """Undo the step if it acted (once); if it never did, the ledger refuses it for good."""
    imports.module("logging")
    ledger = participant_const(saga, step)
    imports.add(f"{service.package}.events", ledger)
    key = f"event.{saga.key}"
    body = [f"if await {ledger}.compensate(session, {key}):"]
    books = _books(service, step)
    done = system.event(step.compensation_done) if step.compensation_done else None
    if done is not None:
        imports.add(f"{service.package}.events", done.class_name, "publish")
    if books is None:
        body.append("    " + _log_ids(f"{step.name}.compensated", [(saga.key, key)]))
        if done is not None:
            body.append(f"    await publish(session, {_build(done, event, 'event', imports)})")
        return body
    imports.module("sqlalchemy as sa")
    imports.add(f"{service.package}.models", books.entity.name)
    entity = books.entity.name
    status = f"{entity}.{books.books.field}"
    # only a row the step holds is undone: a failure path that recorded another status has nothing to undo
    body += [
        f"    {books.var} = await session.scalar(sa.select({entity}).where("
        f"{entity}.{books.books.key_field} == {key}, {status} == {books.books.applied!r}))",
        f"    if {books.var} is not None:",
        f"        {books.var}.{books.books.field} = {books.books.compensated!r}",
        "        "
        + _log_ids(f"{step.name}.compensated", [(saga.key, key), (f"{books.entity.snake}_id", f"{books.var}.id")]),
    ]
    if done is not None:
        body.append(f"        await publish(session, {_build_from_row(done, books, event, imports, key=saga.key)})")
    return body


def event_handlers_view(system: m.System, service: m.Service) -> dict[str, Any]:
    """handlers/events.py: one function per consumed event (outside the saga orchestration), with a default."""
    imports = Imports()
    imports.add("sqlalchemy.ext.asyncio", "AsyncSession")
    handlers: list[EventHandler] = []
    mine = participant_steps(system, service)
    emails = {rule.event: rule for rule in service.emails}
    for name in service.consumes:
        if name in saga_events(system, service):
            continue
        event = system.event(name)
        imports.add(f"{service.package}.events", event.class_name)
        body: list[str] = []
        docs: list[str] = []
        for saga, step in mine:
            if step.trigger != name:
                continue
            books = f", recording {a(step.books.entity)} {step.books.applied}" if step.books else ""
            docs.append(
                f"Step '{step.name}' of saga '{saga.name}': publish {step.success} when it succeeds"
                + (f", {step.failure} when it fails" if step.failure else "")
                + f". The default always succeeds{books}."
            )
            body += _step_body(system, service, saga, step, event, imports)
        for saga, step in mine:
            if name not in step.compensation_triggers:
                continue
            then = f", then publish {step.compensation_done}" if step.compensation_done else ""
            docs.append(
                f"Compensation of step '{step.name}' (saga '{saga.name}'): undo it{then}; nothing when it never acted."
            )
            body += _compensation_body(system, service, saga, step, event, imports)
        doc = " ".join(docs) or f"React to {name}."
        if name in emails:
            rule = emails[name]
            imports.add("msgen_runtime", "mail")
            doc = f"Mail the customer about {name}." if doc == f"React to {name}." else doc
            subject, text = mail_text_literal(rule.subject), mail_text_literal(rule.body)
            if rule.lookup is None:
                body.append(f"await mail.send(str(event.{rule.to}), {subject}, {text})")
            else:
                owner, function, field = rule.lookup
                imports.add(f"{service.package}.clients", "clients")
                body += [
                    f"# the address is read from the {owner} service: a failed read fails the message, which is",
                    "# retried, then dead-lettered; no mail goes to nobody",
                    f"recipient = (await clients().{owner}.{function}(event.{rule.to})).{field}",
                    "if not recipient:",
                    f'    raise LookupError(f"{owner} has no {field} for {rule.to} {{event.{rule.to}}}")',
                    f"await mail.send(str(recipient), {subject}, {text})",
                ]
        if not body:
            imports.module("logging")
            ids = [(event.key, f"event.{event.key}")] if event.key else []
            body.append(_log_ids(f"{name}.received", ids))
        handlers.append(
            EventHandler(name=f"on_{const(name).lower()}", event_class=event.class_name, doc=f'"""{doc}"""', body=body)
        )
    return {"imports": imports.lines(), "handlers": handlers}


def messaging_view(system: m.System, service: m.Service) -> dict[str, Any]:
    """messaging.py: what the service publishes, its subscriptions, its sagas."""
    imports = Imports()
    imports.add("msgen_runtime.messaging.runtime", "MessagingConfig")
    subscriptions = []
    orchestrator_events = saga_events(system, service)
    for name in service.consumes:
        imports.add(f"{service.package}.events", const(name))
        if name in orchestrator_events:
            saga = next(
                s
                for s in orchestrated(system, service)
                if name in {x for st in s.steps for x in (st.success, st.failure, st.compensation_done)}
            )
            imports.add("msgen_runtime.messaging.saga", "saga_handler")
            imports.add(f"{service.package}.events", saga.const)
            subscriptions.append(f"Subscription({const(name)}, saga_handler({saga.const}, {name!r}))")
        else:
            imports.add(f"{service.package}.handlers", "events")
            subscriptions.append(f"Subscription({const(name)}, events.on_{const(name).lower()})")
    if subscriptions:
        imports.add("msgen_runtime.messaging.consumer", "Subscription")
        imports.add(f"{service.package}.models", "DeadLetter", "InboxMessage")
    published = [const(n) for n in service.publishes]
    for c in published:
        imports.add(f"{service.package}.events", c)
    if published:
        imports.add(f"{service.package}.models", "OutboxMessage", "OutboxPartition")
    sagas = [s.const for s in orchestrated(system, service)]
    for s in sagas:
        imports.add(f"{service.package}.events", s)
    return {
        "imports": imports.lines(),
        "system": system.name,
        "broker": system.broker,
        "topics": sorted(e.topic for e in system.events),
        "subscriptions": subscriptions,
        "published": published,
        "sagas": sagas,
        "has_outbox": bool(published),
        "has_inbox": bool(subscriptions),
    }


def event_example(event: m.Event, **overrides: Any) -> dict[str, Any]:
    """A valid payload of `event` (deterministic), with some fields set."""
    from msgen.render.examples import field_example

    payload = {f.name: field_example(f, event.value_objects) for f in event.fields if f.required or f.has_default}
    payload.update(overrides)
    return payload


def messaging_tests_view(system: m.System, service: m.Service) -> dict[str, Any]:
    """Data for tests/test_messaging.py: consumed samples, a published sample, saga walks."""
    consumed = []
    for name in service.consumes:
        event = system.event(name)
        consumed.append({"topic": name, "const": const(name), "sample": repr(event_example(event))})
    published = None
    if service.publishes:
        event = system.event(service.publishes[0])
        published = {"topic": event.name, "model": event.class_name, "sample": repr(event_example(event))}
    sagas = []
    for saga in orchestrated(system, service):
        if not saga.entity or any(step.call for step in saga.steps):
            # a call step needs the called service running: tests/ of msgen run such sagas end to end
            continue
        entity = service.entity(saga.entity)
        create = next((op for op in service.operations if op.entity == entity.name and op.action == "create"), None)
        if create is None:
            continue
        from msgen.render.examples import example_payload

        key = saga.key
        happy = [(step.success, const(step.success)) for step in saga.steps]
        failing_index = max((i for i, s in enumerate(saga.steps) if s.failure), default=None)
        failure = None
        if failing_index is not None:
            before = [(s.success, const(s.success)) for s in saga.steps[:failing_index]]
            fail = saga.steps[failing_index].failure or ""
            compensations = [
                (s.compensation_done, const(s.compensation_done))
                for s in reversed(saga.steps[:failing_index])
                if s.compensation_done
            ]
            failure = {"before": before, "fail": (fail, const(fail)), "compensations": compensations}
        sagas.append(
            {
                "name": saga.name,
                "create_path": create.path,
                "create_status": create.status,
                "payload": repr(example_payload(entity, service)),
                "key": key,
                "happy": happy,
                "failure": failure,
                "samples": {
                    e.name: repr(event_example(e))
                    for e in system.events
                    if e.name in {x for st in saga.steps for x in (st.success, st.failure, st.compensation_done) if x}
                },
                "field": saga.status_field,
                "statuses": [saga.status_started]
                + [s.status for s in saga.steps if s.status]
                + [saga.status_completed],
                "failed_status": saga.status_failed,
                "on_success": saga.on_success,
                "on_failure": saga.on_failure,
                "path": f"/{system.api_version}{entity.resource}",
            }
        )
    return {"consumed": consumed, "published": published, "sagas": sagas}
