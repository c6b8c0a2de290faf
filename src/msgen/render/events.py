"""Views for a service's event code: payload models, event types, handlers, messaging wiring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msgen import model as m
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
        steps = [
            f"Step(name={s.name!r}, success={s.success!r}, failure={s.failure!r}, timeout={s.timeout!r}, "
            f"compensation_triggers={s.compensation_triggers!r}, compensation_done={s.compensation_done!r}, "
            f"status={s.status!r})"
            for s in saga.steps
        ]
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
    return {
        "imports": imports.lines(),
        "enums": [{"name": n, "members": v} for n, v in sorted(enums.items())],
        "models": models,
        "types": types,
        "published": published,
        "sagas": saga_views,
        "publish_union": " | ".join(str(t["model"]) for t in published),
    }


@dataclass(frozen=True)
class EventHandler:
    name: str
    event_class: str
    doc: str
    body: list[str]


def _build(target: m.Event, source: m.Event | None, var: str, imports: Imports) -> str:
    """`Target.model_validate({...})` from the fields of `source` (by name), defaults for the rest."""
    have = {f.name for f in source.fields} if source else set()
    parts = []
    for f in target.fields:
        if f.name in have:
            parts.append(f"{f.name!r}: {var}.{f.name}")
        elif not f.required:
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


def event_handlers_view(system: m.System, service: m.Service) -> dict[str, Any]:
    """handlers/events.py: one function per consumed event (outside the saga orchestration), with a default."""
    imports = Imports()
    imports.add("sqlalchemy.ext.asyncio", "AsyncSession")
    handlers: list[EventHandler] = []
    steps = {s.trigger: (saga, s) for saga in system.sagas for s in saga.steps if s.service == service.name}
    compensations = {
        trigger: (saga, s)
        for saga in system.sagas
        for s in saga.steps
        if s.service == service.name
        for trigger in s.compensation_triggers
    }
    emails = {rule.event: rule for rule in service.emails}
    for name in service.consumes:
        if name in saga_events(system, service):
            continue
        event = system.event(name)
        imports.add(f"{service.package}.events", event.class_name)
        body: list[str] = []
        if name in steps:
            saga, step = steps[name]
            success = system.event(step.success)
            imports.add(f"{service.package}.events", success.class_name, "publish")
            doc = (
                f"Step '{step.name}' of saga '{saga.name}': publish {step.success} when it succeeds"
                + (f", {step.failure} when it fails" if step.failure else "")
                + ". The default always succeeds."
            )
            body.append(f"await publish(session, {_build(success, event, 'event', imports)})")
        elif name in compensations:
            saga, step = compensations[name]
            done = system.event(step.compensation_done or "")
            imports.add(f"{service.package}.events", done.class_name, "publish")
            doc = f"Compensation of step '{step.name}' (saga '{saga.name}'): undo it, then publish {done.name}."
            body.append(f"await publish(session, {_build(done, event, 'event', imports)})")
        else:
            doc = f"React to {name}."
        if name in emails:
            rule = emails[name]
            imports.add("msgen_runtime", "mail")
            doc = f"Mail the customer about {name}." if doc == f"React to {name}." else doc
            subject, text = mail_text_literal(rule.subject), mail_text_literal(rule.body)
            body.append(f"await mail.send(str(event.{rule.to}), {subject}, {text})")
        if not body:
            imports.module("logging")
            body.append(
                f'logging.getLogger(__name__).info("{name}.received", extra={{"event": event.model_dump(mode="json")}})'
            )
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
        if not saga.entity:
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
