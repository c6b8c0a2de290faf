"""Sagas: each step's events, calls, books and records, checked against the services and events."""

from __future__ import annotations

from typing import Any

from msgen import model as m
from msgen.errors import did_you_mean
from msgen.loader import Path_
from msgen.names import a, snake
from msgen.resolving.report import Reporter
from msgen.spec import EventSpec, duration_seconds


class SagaChecks(Reporter):
    """A saga of the spec, checked step by step and built (resolved_services and resolved_events are set)."""

    def check_saga_entity(self, name: str, spec: Any, orchestrator: str, path: Path_) -> None:
        for where, message in _saga_entity_problems(spec, self.spec.services[orchestrator], self.spec.events):
            self.error((*path, *where), message)

    def check_carries_key(self, saga: Any, event: str, service: str, where: Path_) -> None:
        """A participant's events of a saga carry the saga's key: its ledger is kept per key."""
        start = self.spec.events.get(saga.start)
        spec = self.spec.events.get(event)
        if start is None or not start.key or start.key not in start.fields or spec is None:
            return
        if start.key in spec.fields:
            return
        self.error(
            where,
            f"'{event}' has no field '{start.key}' (the saga's key): service '{service}' cannot tell which saga "
            "it is about",
        )

    def saga_using(self, name: str, orchestrator: str, event: str) -> str | None:
        """An earlier saga of `orchestrator` that also waits for `event` as a step result."""
        for other, spec in self.spec.sagas.items():
            if other == name:
                return None
            if spec.orchestrator != orchestrator:
                continue
            for step in spec.steps:
                if event in (step.success, step.failure, step.compensation.done if step.compensation else None):
                    return other
        return None

    def check_saga_fields(self, saga: Any, orchestrator: str, path: Path_) -> None:
        """Every required field of an event the orchestrator publishes is in what it received before.

        The saga's runtime fills those events from the start event and the step results received so
        far; a field nobody supplies would fail at the first timeout or compensation, at runtime.
        """
        events = self.spec.events
        if saga.start not in events:
            return

        def check(event: str, known: set[str], where: Path_, when: str) -> None:
            spec = events.get(event)
            if spec is None:
                return
            missing = [n for n, f in spec.fields.items() if f.required and f.default is None and n not in known]
            if missing:
                fields = ", ".join(f"'{n}'" for n in missing)
                self.error(
                    where,
                    f"'{event}' needs {fields}, which service '{orchestrator}' cannot fill {when}: carry it in "
                    f"the saga's start event '{saga.start}', or give it a default or 'required: false'",
                )

        announced = {saga.start}
        received = set(events[saga.start].fields)
        check(saga.on_failure, received | {"reason"}, (*path, "on_failure"), "when the first step times out")
        for index, step in enumerate(saga.steps):
            sp: Path_ = (*path, "steps", index)
            trigger = events.get(step.trigger or "")
            if (
                index > 0
                and trigger is not None
                and trigger.publisher == orchestrator
                and step.trigger not in announced | {saga.on_success, saga.on_failure}
            ):
                check(step.trigger, received, (*sp, "trigger"), f"when step '{step.name}' begins")
            operation = None
            if step.call is not None:
                callee = self.resolved_services.get(step.service)
                operation = next((op for op in callee.operations if op.op_id == step.call), None) if callee else None
            if operation is not None:
                self.check_call_arguments(step, operation, received, (*sp, "call"))
            if step.success in events:
                received |= set(events[step.success or ""].fields)
            received |= set(self.reply_fields(step, operation))
            publishes = [step.publishes] if isinstance(step.publishes, str) else step.publishes or []
            for index_p, event_p in enumerate(publishes):
                where_p: Path_ = (*sp, "publishes") if isinstance(step.publishes, str) else (*sp, "publishes", index_p)
                check(event_p, received, where_p, f"when step '{step.name}' succeeded")
                announced.add(event_p)
            comp = step.compensation
            if comp is None:
                continue
            triggers = [comp.trigger] if isinstance(comp.trigger, str) else comp.trigger
            for index_t, trigger in enumerate(triggers):
                spec = events.get(trigger)
                if spec is None or spec.publisher != orchestrator or trigger == saga.on_failure:
                    continue
                where: Path_ = (*path, "steps", index, "compensation", "trigger")
                if not isinstance(comp.trigger, str):
                    where = (*where, index_t)
                check(trigger, received, where, f"from the start event and the results up to step '{step.name}'")
        check(saga.on_success, received, (*path, "on_success"), "from the start event and the steps' results")

    def step_books(self, saga: Any, step: Any, where: Path_) -> m.StepBooks | None:
        """The participant's entity a step keeps its books in, checked against the service's entities."""
        books = step.books
        entities = self.spec.services[step.service].entities
        if books.entity not in entities:
            hint = did_you_mean(books.entity, entities)
            self.error((*where, "books", "entity"), f"service '{step.service}' has no entity '{books.entity}'{hint}")
            return None
        fields = entities[books.entity].fields
        ok = True
        start = self.spec.events.get(saga.start)
        key = start.key if start is not None and start.key else None
        if key is not None and key not in fields:
            self.error(
                (*where, "books", "entity"),
                f"{books.entity} has no field '{key}' (the saga's key): its rows cannot be found per saga",
            )
            ok = False
        status = fields.get(books.field)
        if status is None or status.type != "enum":
            self.error((*where, "books", "field"), f"'{books.field}' is not an enum field of {books.entity}")
            return None
        allowed = status.values or []
        for name in ("applied", "compensated"):
            value = getattr(books, name)
            if value not in allowed:
                self.error(
                    (*where, "books", name),
                    f"status '{value}' is not one of {', '.join(allowed)}{did_you_mean(value, allowed)}",
                )
                ok = False
        if step.compensation is None:
            self.error(
                (*where, "books"),
                f"step '{step.name}' keeps books in {books.entity}, so it holds something: give it a "
                f"'compensation' triggered by the saga's on_failure event '{saga.on_failure}'",
            )
            ok = False
        resolved = self.resolved_services.get(step.service)
        entity = next((e for e in resolved.entities if e.name == books.entity), None) if resolved else None
        if not ok or key is None or entity is None:
            return None
        return m.StepBooks(
            entity=entity, key_field=key, field=books.field, applied=books.applied, compensated=books.compensated
        )

    def check_call_step(self, saga: Any, step: Any, orchestrator: str, sp: Path_) -> m.Operation | None:
        """A step that is a synchronous call: an operation of its service that the orchestrator calls."""
        for key in ("trigger", "success", "failure"):
            if getattr(step, key) is not None:
                self.error(
                    (*sp, key),
                    f"step '{step.name}' calls '{step.call}': it has no '{key}' (the call's answer is its result)",
                )
        if step.books is not None:
            self.error(
                (*sp, "books"),
                f"step '{step.name}' is a call: its operation is yours to write, there are no default handlers "
                "to keep books",
            )
        callee = self.resolved_services.get(step.service)
        if callee is None:
            return None
        operation = next((op for op in callee.operations if op.op_id == step.call), None)
        if operation is None:
            hint = did_you_mean(step.call, [op.op_id for op in callee.operations])
            self.error((*sp, "call"), f"service '{step.service}' has no operation '{step.call}'{hint}")
            return None
        if not any(
            c.service == step.service and c.operation == step.call for c in self.spec.services[orchestrator].calls
        ):
            self.error(
                (*sp, "call"),
                f"service '{orchestrator}' calls '{step.call}' of service '{step.service}' in this step: list "
                f"{{service: {step.service}, operation: {step.call}}} in its calls",
            )
        if operation.method != "GET" and step.compensation is None:
            self.error(
                sp,
                f"step '{step.name}' calls {operation.method} {operation.route}, which may change something: give "
                f"it a 'compensation' triggered by the saga's on_failure event '{saga.on_failure}' (consumed by "
                f"service '{step.service}')",
            )
        return operation

    def check_call_arguments(self, step: Any, operation: m.Operation, received: set[str], where: Path_) -> None:
        """The orchestrator fills the call's path parameters, required query parameters and body from the saga."""
        missing = [p for p in operation.path_params if p not in received]
        missing += [q.name for q in operation.query if q.required and not q.has_default and q.name not in received]
        if operation.request_body is not None and operation.request_body.role is not m.BodyRole.UPDATE:
            body = operation.request_body.fields  # (an update's fields are each optional)
            missing += [f.name for f in body if f.required and not f.has_default and f.name not in received]
        if missing:
            names = ", ".join(f"'{n}'" for n in dict.fromkeys(missing))
            self.error(
                where,
                f"'{step.call}' needs {names}, which the saga has not received by step '{step.name}': the "
                "orchestrator fills a call's parameters and body from the start event and the results before it",
            )

    def reply_fields(self, step: Any, operation: m.Operation | None) -> dict[str, m.Field]:
        """The fields of a step's result: its success event's, or the call's answer's."""
        if step.call is None:
            event = self.resolved_events.get(step.success or "")
            return {f.name: f for f in event.fields} if event else {}
        body = operation.response_body if operation is not None else None
        if body is None:
            return {}
        if body.role is m.BodyRole.READ:
            return {"id": _ID_FIELD, **{f.name: f for f in body.fields}}
        return {f.name: f for f in body.fields}

    def check_records(
        self, saga: Any, step: Any, operation: m.Operation | None, sp: Path_
    ) -> tuple[tuple[str, str], ...]:
        """`records: {reply field: entity field}`: both exist, the entity is the saga's, the types fit."""
        if not step.records:
            return ()
        where: Path_ = (*sp, "records")
        orch = self.resolved_services.get(saga.orchestrator)
        entity = next((e for e in orch.entities if e.name == saga.entity), None) if orch else None
        if entity is None:
            self.error(where, "'records' stores fields on the saga's entity: give the saga an 'entity'")
            return ()
        have = self.reply_fields(step, operation)
        what = f"the answer of '{step.call}'" if step.call else f"'{step.success}'"
        targets = {f.name: f for f in entity.fields}
        status = saga.status.field if saga.status else None
        pairs = []
        for source_name, target_name in step.records.items():
            source = have.get(source_name)
            target = targets.get(target_name)
            if source is None:
                if have or step.call is None:
                    self.error(
                        (*where, source_name), f"{what} has no field '{source_name}'{did_you_mean(source_name, have)}"
                    )
                else:
                    self.error((*where, source_name), f"{what} has no fields: '{step.call}' answers nothing to record")
                continue
            if target is None:
                hint = did_you_mean(target_name, targets)
                self.error((*where, source_name), f"{entity.name} has no field '{target_name}'{hint}")
                continue
            if target_name == status:
                self.error(
                    (*where, source_name),
                    f"'{target_name}' is the saga's status field: set it with the step's 'status'",
                )
                continue
            if not _storable(target, source):
                self.error(
                    (*where, source_name),
                    f"'{source_name}' of {what} is {_type_name(source)}, but {entity.name}.{target_name} is "
                    f"{_type_name(target)}",
                )
                continue
            pairs.append((source_name, target_name))
        return tuple(pairs)

    def saga(self, name: str) -> m.Saga:
        spec = self.spec.sagas[name]
        path: Path_ = ("sagas", name)
        self.check_name("saga", name, path)
        events = self.spec.events
        services = self.spec.services

        def event_ok(event: str | None, where: Path_) -> bool:
            if event is None:
                return False
            if event not in events:
                self.unknown(where, "event", event, events)
                return False
            return True

        def publisher_of(event: str) -> str:
            pub = events[event].publisher
            return pub if isinstance(pub, str) else ",".join(pub)

        def expect_publisher(event: str | None, service: str, where: Path_) -> None:
            if not event_ok(event, where) or event is None or event in self.bad_publishers:
                return
            if publisher_of(event) != service:
                self.error(where, f"'{event}' is published by '{publisher_of(event)}', not by '{service}'")

        def expect_consumer(event: str | None, service: str, where: Path_) -> None:
            if event is not None and event in events and service not in events[event].consumers:
                self.error(where, f"service '{service}' does not consume '{event}': add it to the event's consumers")

        orch = spec.orchestrator
        if orch not in services:
            self.unknown((*path, "orchestrator"), "service", orch, services)
            return _empty_saga(name)
        expect_publisher(spec.start, orch, (*path, "start"))
        expect_publisher(spec.on_success, orch, (*path, "on_success"))
        expect_publisher(spec.on_failure, orch, (*path, "on_failure"))
        steps: list[m.SagaStep] = []
        seen: set[str] = set()
        previous: str | None = spec.start
        announced = {spec.start}  # events of the orchestrator out by now: the start, the steps' `publishes`
        ends = {spec.start, spec.on_success, spec.on_failure}
        for index, step in enumerate(spec.steps):
            sp: Path_ = (*path, "steps", index)
            if self.check_name("saga step", step.name, (*sp, "name")) and step.name in seen:
                self.error((*sp, "name"), f"saga step '{step.name}' is declared twice")
            seen.add(step.name)
            if step.service not in services:
                self.unknown((*sp, "service"), "service", step.service, services)
                continue
            operation = self.check_call_step(spec, step, orch, sp) if step.call is not None else None
            if step.call is None:
                for key in ("trigger", "success"):
                    if getattr(step, key) is None:
                        self.error(sp, f"step '{step.name}' needs a '{key}' (or a 'call' of an operation instead)")
            if step.call is None and step.trigger is not None and event_ok(step.trigger, (*sp, "trigger")):
                ours = step.trigger not in self.bad_publishers and publisher_of(step.trigger) == orch
                if index == 0 and step.trigger != spec.start:
                    self.error(
                        (*sp, "trigger"),
                        f"the first step is triggered by the saga's start '{spec.start}', not by '{step.trigger}'",
                    )
                elif index > 0 and step.trigger != previous and not ours:
                    what = (
                        f"the success event of step '{spec.steps[index - 1].name}' ('{previous}')"
                        if previous
                        else f"step '{spec.steps[index - 1].name}' is a call, with no success event"
                    )
                    self.error(
                        (*sp, "trigger"),
                        f"saga steps do not chain: step '{step.name}' is triggered by '{step.trigger}', which is "
                        f"neither {what} nor an event that service '{orch}' publishes"
                        if previous
                        else f"saga steps do not chain: step '{step.name}' is triggered by '{step.trigger}', which "
                        f"service '{orch}' does not publish, and {what}",
                    )
                elif index > 0 and ours and step.trigger in (spec.on_success, spec.on_failure):
                    self.error(
                        (*sp, "trigger"),
                        f"'{step.trigger}' ends the saga: trigger step '{step.name}' by an event of its own, "
                        f"which service '{orch}' publishes when the step begins",
                    )
                expect_consumer(step.trigger, step.service, (*sp, "trigger"))
            if step.success is not None:
                expect_publisher(step.success, step.service, (*sp, "success"))
                expect_consumer(step.success, orch, (*sp, "success"))
            if step.failure is not None:
                expect_publisher(step.failure, step.service, (*sp, "failure"))
                expect_consumer(step.failure, orch, (*sp, "failure"))
            publishes = [step.publishes] if isinstance(step.publishes, str) else list(step.publishes or [])
            for index_p, event_p in enumerate(publishes):
                where_p: Path_ = (*sp, "publishes") if isinstance(step.publishes, str) else (*sp, "publishes", index_p)
                if not event_ok(event_p, where_p):
                    continue
                expect_publisher(event_p, orch, where_p)
                if event_p in ends:
                    self.error(where_p, f"'{event_p}' starts or ends the saga: a step publishes events of its own")
                announced.add(event_p)
            records = self.check_records(spec, step, operation, sp)
            comp = step.compensation
            # a call step's compensation is checked with the call: needed unless it only reads (GET)
            if comp is None and step.books is None and step.call is None:
                self.error(
                    sp,
                    f"step '{step.name}' has no 'compensation': give it one triggered by the saga's on_failure "
                    f"event '{spec.on_failure}', so that service '{step.service}' learns the saga failed and "
                    "undoes (or never does) the step",
                )
            if comp is not None:
                triggers = [comp.trigger] if isinstance(comp.trigger, str) else comp.trigger
                for index_t, trigger in enumerate(triggers):
                    where: Path_ = (
                        (*sp, "compensation", "trigger")
                        if isinstance(comp.trigger, str)
                        else (*sp, "compensation", "trigger", index_t)
                    )
                    if event_ok(trigger, where):
                        expect_consumer(trigger, step.service, where)
                if comp.done is not None:
                    expect_publisher(comp.done, step.service, (*sp, "compensation", "done"))
                    expect_consumer(comp.done, orch, (*sp, "compensation", "done"))
                else:
                    later_failures = {s.failure for s in spec.steps[index + 1 :] if s.failure}
                    step_events = {e for s in spec.steps for e in (s.trigger, s.success, s.failure) if e}
                    step_events |= {
                        e
                        for s in spec.steps
                        for e in ([s.publishes] if isinstance(s.publishes, str) else s.publishes or [])
                    }
                    for trigger in triggers:
                        if trigger == spec.on_failure or trigger in later_failures or trigger not in events:
                            continue
                        command = (
                            trigger not in self.bad_publishers
                            and publisher_of(trigger) == orch
                            and trigger not in ends | step_events
                        )
                        if not command:
                            self.error(
                                (*sp, "compensation"),
                                f"a compensation without 'done' is triggered by the saga's on_failure event "
                                f"'{spec.on_failure}', a later step's failure event or a command of service "
                                f"'{orch}': '{trigger}' is none of these, so the step would be undone when the "
                                "saga has not failed",
                            )
                if spec.on_failure not in triggers:
                    self.error(
                        (*sp, "compensation", "trigger"),
                        f"list the saga's on_failure event '{spec.on_failure}' among the triggers: a step that "
                        "succeeds after the saga failed (a timeout) is undone by it",
                    )
            results = [((*sp, "success"), step.success), ((*sp, "failure"), step.failure)]
            if comp is not None and comp.done is not None:
                results.append(((*sp, "compensation", "done"), comp.done))
            for where_r, event_r in results:
                if event_r is None:
                    continue
                self.check_carries_key(spec, event_r, orch, where_r)
                other = self.saga_using(name, orch, event_r)
                if other is not None:
                    self.error(
                        where_r,
                        f"'{event_r}' is also a step result of saga '{other}' of service '{orch}': "
                        "give each saga events of its own, or the event would advance both",
                    )
            for where_k, event_k in ([((*sp, "trigger"), step.trigger)] if step.trigger else []) + [
                ((*sp, "compensation", "trigger"), t)
                for t in ((comp.trigger,) if comp and isinstance(comp.trigger, str) else comp.trigger if comp else ())
            ]:
                self.check_carries_key(spec, event_k, step.service, where_k)
            books = self.step_books(spec, step, sp) if step.books is not None else None
            previous = step.success
            steps.append(
                m.SagaStep(
                    name=step.name,
                    service=step.service,
                    trigger=step.trigger or "",
                    success=step.success or "",
                    failure=step.failure,
                    timeout=duration_seconds(step.timeout),
                    compensation_triggers=((comp.trigger,) if isinstance(comp.trigger, str) else tuple(comp.trigger))
                    if comp
                    else (),
                    compensation_done=comp.done if comp else None,
                    status=step.status,
                    books=books,
                    call=step.call,
                    operation=operation,
                    publishes=tuple(publishes),
                    records=records,
                    participant=self.resolved_services.get(step.service),
                    success_event=self.resolved_events.get(step.success or ""),
                    compensation_done_event=self.resolved_events.get(comp.done) if comp and comp.done else None,
                )
            )
        self.check_saga_entity(name, spec, orch, path)
        self.check_saga_fields(spec, orch, path)
        resolved = self.resolved_services.get(orch)
        entity = next((e for e in resolved.entities if e.name == spec.entity), None) if resolved else None
        return m.Saga(
            name=name,
            orchestrator=orch,
            start=spec.start,
            steps=tuple(steps),
            on_success=spec.on_success,
            on_failure=spec.on_failure,
            key=events[spec.start].key or "" if spec.start in events else "",
            entity=entity,
            orchestrator_service=resolved,
            start_event=self.resolved_events.get(spec.start),
            status_field=spec.status.field if spec.status else "status",
            status_started=spec.status.started if spec.status else None,
            status_completed=spec.status.completed if spec.status else None,
            status_failed=spec.status.failed if spec.status else None,
        )


_ID_FIELD = m.Field(
    name="id",
    type=m.FieldType(kind=m.Kind.UUID),
    required=True,
    unique=True,
    read_only=True,
    default=None,
    description=None,
    constraints={},
)


def _type_name(field: m.Field) -> str:
    if field.type.kind == "enum":
        return f"an enum of {', '.join(field.type.enum_values)}"
    if field.type.kind == "list" and field.type.item is not None:
        item = field.type.item
        return f"list[{item.value_object.name if item.value_object else item.kind}]"
    return field.type.value_object.name if field.type.value_object else field.type.kind


def _storable(target: m.Field, source: m.Field) -> bool:
    """Whether a reply's `source` value can be stored in the entity field `target` as it is."""
    ids, texts = ("uuid", "ref"), ("string", "text")
    kind, have = target.type.kind, source.type.kind
    if kind in ids and have in ids:
        return True
    if kind in texts and have in (*texts, "email", "url"):
        return True
    if kind != have:
        return False
    if kind == "enum":
        return set(source.type.enum_values) <= set(target.type.enum_values)
    if kind in ("object", "list"):
        return _same_shape(source.type, target.type)
    return True


def _vo_name(t: m.FieldType) -> str | None:
    return t.value_object.name if t.value_object else None


def _same_shape(a: m.FieldType, b: m.FieldType) -> bool:
    """Two types written the same way: of the same kind, value object, enum class and item."""
    if (a.kind, _vo_name(a), a.enum_class) != (b.kind, _vo_name(b), b.enum_class):
        return False
    if a.item is None or b.item is None:
        return a.item is b.item
    return _same_shape(a.item, b.item)


def _saga_entity_problems(
    spec: Any, orchestrator: Any, events: dict[str, EventSpec]
) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with a saga's entity and statuses (relative paths, messages)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if spec.start in events and not events[spec.start].key:
        problems.append((("start",), f"the start event '{spec.start}' needs a 'key': the saga's id"))
    if spec.status is None:
        for index, step in enumerate(spec.steps):
            if step.status is not None:
                problems.append(
                    (
                        ("steps", index, "status"),
                        "a step's 'status' needs the saga's 'status' (and 'entity'): the field it sets",
                    )
                )
    if spec.entity is None:
        if spec.status is not None:
            problems.append((("status",), "'status' needs 'entity': the entity whose status the saga sets"))
        return problems
    if spec.entity not in orchestrator.entities:
        hint = did_you_mean(spec.entity, orchestrator.entities)
        problems.append((("entity",), f"the orchestrator has no entity '{spec.entity}'{hint}"))
        return problems
    problems += _start_event_unfilled(spec, orchestrator.entities[spec.entity], events)
    if spec.status is None:
        return problems
    fields = orchestrator.entities[spec.entity].fields
    status_field = fields.get(spec.status.field)
    if status_field is None or status_field.type != "enum":
        problems.append((("status", "field"), f"'{spec.status.field}' is not an enum field of {spec.entity}"))
        return problems
    allowed = status_field.values or []
    wanted: list[tuple[tuple[str | int, ...], str | None]] = [
        (("status", "started"), spec.status.started),
        (("status", "completed"), spec.status.completed),
        (("status", "failed"), spec.status.failed),
    ]
    wanted += [(("steps", index, "status"), step.status) for index, step in enumerate(spec.steps)]
    for where, value in wanted:
        if value is not None and value not in allowed:
            problems.append(
                (where, f"status '{value}' is not one of {', '.join(allowed)}{did_you_mean(value, allowed)}")
            )
    return problems


def _start_event_unfilled(
    spec: Any, entity: Any, events: dict[str, EventSpec]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Required fields of the start event that the entity's create cannot fill.

    Creating the saga's entity publishes the start event from the new row: each event field is the
    row's field of the same name (`<entity>_id` is the row's id). A required field without a default
    that the row lacks, or may leave empty, would fail every create.
    """
    start = events.get(spec.start)
    if start is None:
        return []
    own_id = f"{snake(spec.entity)}_id"
    missing: list[str] = []
    optional: list[str] = []
    for name, field in start.fields.items():
        if not field.required or field.default is not None or name == own_id:
            continue
        source = entity.fields.get(name)
        if source is None:
            missing.append(name)
        elif not source.required and source.default is None:
            optional.append(name)
    problems: list[tuple[tuple[str | int, ...], str]] = []
    if missing:
        names = ", ".join(f"'{n}'" for n in missing)
        problems.append(
            (
                ("start",),
                f"the start event '{spec.start}' needs {names}, which entity '{spec.entity}' has no field for: "
                f"creating {a(spec.entity)} publishes it from the new row; add the field to '{spec.entity}' "
                "(or name it after the entity's id), or give it a default or 'required: false' in the event",
            )
        )
    if optional:
        names = ", ".join(f"'{n}'" for n in optional)
        problems.append(
            (
                ("start",),
                f"the start event '{spec.start}' needs {names}, which entity '{spec.entity}' may leave empty "
                "('required: false' without a default): make the entity's field required or give it a default, "
                "or make the event's field 'required: false'",
            )
        )
    return problems


def _empty_saga(name: str) -> m.Saga:
    return m.Saga(name=name, orchestrator="", start="", steps=(), on_success="", on_failure="")
