"""Resolve a valid spec into the system model, checking what it means.

Every semantic problem is collected as a diagnostic pointing into the spec;
if there is any, ``SpecError`` is raised with all of them. This module holds the
system, its services, calls, events and mails; fields, operations, free text,
services made from a template and sagas are in msgen.resolving, and every part
reports through the one collector there (``Reporter``).
"""

from __future__ import annotations

import hashlib
import itertools
import string
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from msgen import model as m
from msgen.errors import Diagnostic, SpecError, did_you_mean
from msgen.loader import LoadedSpec, Path_
from msgen.modeline import project_spec_text
from msgen.names import PUBLIC_CONTRACT, kebab, pascal, plural, snake
from msgen.resolving.freetext import FreeTextChecks
from msgen.resolving.operations import OperationChecks
from msgen.resolving.report import Reporter, cycles
from msgen.resolving.sagas import SagaChecks
from msgen.resolving.templated import TemplatedServices, ops_settings
from msgen.spec import EmailSpec, EventSpec, ServiceSpec, SpecFile, duration_seconds, percent, size_bytes
from msgen.text import SpecText, spec_text


def resolve(loaded: LoadedSpec) -> m.System:
    """Check the spec's meaning and build the system model; raise SpecError on problems."""
    resolver = _Resolver(loaded)
    system = resolver.run()
    if resolver.diagnostics:  # a shared value object's problem is found in each service using it: once
        raise SpecError(list(dict.fromkeys(resolver.diagnostics)))
    assert system is not None
    return system


class _Resolver(OperationChecks, FreeTextChecks, TemplatedServices, SagaChecks):
    """The system, its services, calls, events and mails here; fields, operations, free text, templated
    services and sagas in msgen.resolving; every part reports through the one collector they share."""

    def __init__(self, loaded: LoadedSpec) -> None:
        super().__init__(loaded)
        # Each service sees the shared value objects it uses as its own (its code and contract hold them).
        self.shared_users: dict[str, set[str]] = {}
        self.spec = self.with_shared_value_objects(loaded.spec)
        # Each service's value objects, built once (those they use first): a field refers to the object.
        self.built_value_objects: dict[tuple[str, str], m.ValueObject | None] = {}
        self.ref_fields: list[m.Field] = []

    def with_shared_value_objects(self, spec: SpecFile) -> SpecFile:
        """`spec` with each service's value objects completed by the shared ones it uses, directly or not."""
        shared = spec.value_objects
        if not shared:
            return spec
        services = {}
        for name, svc in spec.services.items():
            wanted = {self.base_type(f.type) for e in svc.entities.values() for f in e.fields.values()}
            wanted |= {self.base_type(f.type) for v in svc.value_objects.values() for f in v.fields.values()}
            wanted |= {n for op in svc.api.operations.values() for n in (op.request, op.response) if n}
            for event in spec.events.values():
                if event.publisher == name:
                    wanted |= {self.base_type(f.type) for f in event.fields.values()}
            used: set[str] = set()
            todo = [n for n in wanted if n in shared and n not in svc.value_objects]
            while todo:
                vo = todo.pop()
                if vo in used:
                    continue
                used.add(vo)
                todo += [
                    n
                    for f in shared[vo].fields.values()
                    if (n := self.base_type(f.type)) in shared and n not in svc.value_objects
                ]
            for vo in used:
                self.shared_users.setdefault(vo, set()).add(name)
            if used:
                merged = {**svc.value_objects, **{vo: shared[vo] for vo in shared if vo in used}}
                svc = svc.model_copy(update={"value_objects": merged})
            services[name] = svc
        return spec.model_copy(update={"services": services})

    def check_shared_value_objects(self) -> None:
        for name in self.original.value_objects:
            path: Path_ = ("value_objects", name)
            if not self.check_name("value object", name, path):
                continue
            for service, svc in self.original.services.items():
                if name in svc.value_objects:
                    self.error(
                        ("services", service, "value_objects", name),
                        f"value object '{name}' is also declared at the top level (shared): use that one, "
                        "or rename this one",
                        key=True,
                    )
            if name not in self.shared_users and not any(
                name in svc.value_objects for svc in self.original.services.values()
            ):
                self.error(path, f"value object '{name}' is shared, but no service uses it", key=True)

    # -- the whole system --------------------------------------------------

    def run(self) -> m.System | None:
        spec = self.spec
        self.check_name("system", spec.system.name, ("system", "name"))
        for name in spec.services:
            self.check_name("service", name, ("services", name))
            if name == PUBLIC_CONTRACT:
                self.error(
                    ("services", name),
                    f"service name '{name}' is reserved: contracts/openapi/{name}.<version>.yaml is the gateway's "
                    "public contract; choose another name",
                    key=True,
                )
        self.check_shared_value_objects()
        events = [self.event(name, ev) for name, ev in spec.events.items()]
        self.resolved_events = {e.name: e for e in events}
        services = [self.service(name, svc) for name, svc in spec.services.items() if svc.template is None]
        templated = [self.templated(name, svc) for name, svc in spec.services.items() if svc.template is not None]
        by_name = {s.name: s for s in services}
        self.check_calls(by_name)
        by_name = _with_call_targets(by_name)
        services = list(by_name.values())
        self.check_templated(services, templated)
        self.resolved_services = by_name
        self.link_refs(by_name)
        for event in events:  # the one place a built `Event` is changed: services hold the events
            object.__setattr__(event, "publisher_service", by_name.get(event.publisher))
            object.__setattr__(event, "consumer_services", tuple(by_name[c] for c in event.consumers if c in by_name))
        sagas = [self.saga(name) for name in spec.sagas]
        self.check_emails()
        self.check_free_text()
        deploy = self.deploy()
        if self.diagnostics:
            return None
        gw = spec.gateway
        obs = spec.observability
        return m.System(
            name=spec.system.name,
            description=SpecText(spec.system.description or f"The {spec.system.name} system."),
            broker=m.Broker(spec.system.broker),
            api_version=spec.system.api_version,
            served_versions=None if spec.system.served_versions is None else tuple(spec.system.served_versions),
            services=tuple(services),
            events=tuple(events),
            sagas=tuple(sagas),
            gateway=m.Gateway(
                issuer=spec_text(gw.auth.issuer) if gw.auth else None,
                audience=spec_text(gw.auth.audience) if gw.auth else None,
                jwks_url=spec_text(gw.auth.jwks_url) if gw.auth else None,
                rate_limit_requests=gw.rate_limit.requests,
                rate_limit_period=duration_seconds(gw.rate_limit.per),
                rate_limit_by=m.RateLimitBy(gw.rate_limit.by),
                timeout=duration_seconds(gw.timeout),
                max_body=size_bytes(gw.max_body),
                cors_origins=tuple(gw.cors.origins),
                cors_methods=tuple(gw.cors.methods),
                cors_headers=tuple(gw.cors.headers),
            ),
            slos=m.Slos(
                latency_p95=duration_seconds(obs.slos.latency_p95),
                error_rate=percent(obs.slos.error_rate),
                availability=percent(obs.slos.availability),
                sample_ratio=obs.tracing.sample_ratio,
                consumer_lag=obs.alerts.consumer_lag,
                outbox_age=duration_seconds(obs.alerts.outbox_age),
            ),
            spec_hash=hashlib.sha256(project_spec_text(self.text).encode()).hexdigest(),  # of msgen.yaml
            deploy=deploy,
            templated=tuple(templated),
        )

    def deploy(self) -> m.Deploy:
        spec = self.spec.deploy
        for index, name in enumerate(spec.canary):
            if name not in self.spec.services:
                self.unknown(("deploy", "canary", index), "service", name, self.spec.services)
        image = spec.base_image.split("@")[0].rsplit("/", 1)[-1]
        if "@" not in spec.base_image and (":" not in image or image.endswith(":latest")):
            self.error(("deploy", "base_image"), f"base image '{spec.base_image}' is not pinned: name a version tag")
        ingress = spec.ingress
        return m.Deploy(
            kubernetes_version=spec.kubernetes_version,
            registry=spec.registry,
            base_image=spec.base_image,
            namespace=spec.namespace or kebab(self.spec.system.name),
            ingress_kind=m.IngressKind(ingress.kind),
            ingress_host=ingress.host,
            ingress_class=ingress.class_name,
            gateway_namespace=ingress.gateway_namespace,
            controller_namespace=ingress.controller_namespace
            or ("ingress-nginx" if ingress.kind == "ingress" else ingress.gateway_namespace),
            tls_secret=ingress.tls_secret,
            mesh=m.Mesh(spec.mesh),
            keda=spec.keda,
            canary=tuple(spec.canary),
            otel_collector=spec.otel_collector,
            chaos=spec.chaos,
            monitoring_namespace=spec.monitoring_namespace,
            repo_url=spec.repo_url,
        )

    # -- services ----------------------------------------------------------

    def service(self, name: str, svc: ServiceSpec) -> m.Service:
        base: Path_ = ("services", name)
        types_seen: dict[str, str] = {}
        for kind, table in (("entity", svc.entities), ("value object", svc.value_objects)):
            segment = "entities" if kind == "entity" else "value_objects"
            for type_name in table:
                where: Path_ = self.vo_path(name, type_name) if kind == "value object" else (*base, segment, type_name)
                if self.check_name(kind, type_name, where) and type_name in types_seen:
                    self.error(
                        where,
                        f"{kind} '{type_name}' has the same name as {types_seen[type_name]} '{type_name}'",
                        key=True,
                    )
                types_seen.setdefault(type_name, kind)
        self.check_value_object_cycles(name, svc)
        value_objects = tuple(
            vo for vo_name in svc.value_objects if (vo := self.value_object(name, svc, vo_name)) is not None
        )
        entities = tuple(
            m.Entity(
                name=e_name,
                snake=snake(e_name),
                table=plural(snake(e_name)),
                resource="/" + plural(kebab(e_name)),
                fields=self.fields(name, svc, ent.fields, (*base, "entities", e_name, "fields"), entity=True),
                description=spec_text(ent.description),
            )
            for e_name, ent in svc.entities.items()
        )
        self.check_class_names(name, entities, value_objects)
        operations = self.operations(name, svc, {e.name: e for e in entities}, {v.name: v for v in value_objects})
        return m.Service(
            name=name,
            package=f"{name}_service",
            kebab=f"{kebab(name)}-service",
            title=pascal(name),
            description=SpecText(svc.description or f"The {name} service."),
            entities=entities,
            value_objects=value_objects,
            operations=operations,
            calls=tuple(
                m.Call(
                    c.service,
                    c.operation,
                    duration_seconds(c.timeout),
                    c.retries,
                    duration_seconds(c.cache_ttl) if c.cache_ttl else None,
                )
                for c in svc.calls
            ),
            publishes=tuple(e for e in self.resolved_events.values() if e.publisher == name),
            consumes=tuple(e for e in self.resolved_events.values() if name in e.consumers),
            ops=ops_settings(svc.ops, database=True),
            emails=tuple(rule for e in svc.emails if (rule := self.email_rule(e)) is not None),
            slo=self.service_slo(svc),
        )

    def email_rule(self, rule: EmailSpec) -> m.EmailRule | None:
        """The rule as generated; `check_emails` reports what is wrong with it (the system is then not built)."""
        on = self.resolved_events.get(rule.on)
        if on is None:
            return None
        to, lookup = rule.to, None
        if not isinstance(to, str):
            event = self.spec.events.get(rule.on)
            target = event.fields.get(to.ref) if event is not None else None
            service, _, entity = (target.to or "").partition(".") if target is not None else ("", "", "")
            lookup = (service, snake(f"get{entity}"), to.field)
            to = to.ref
        return m.EmailRule(
            event=on,
            to=to,
            subject=SpecText(rule.subject),
            body=SpecText(rule.body or rule.subject),
            lookup=lookup,
        )

    def service_slo(self, svc: ServiceSpec) -> m.ServiceSlo | None:
        if svc.slo is None:
            return None
        system = self.spec.observability.slos
        return m.ServiceSlo(
            latency_p95=duration_seconds(svc.slo.latency_p95 or system.latency_p95),
            error_rate=percent(svc.slo.error_rate or system.error_rate),
            availability=percent(svc.slo.availability or system.availability),
        )

    # -- calls -------------------------------------------------------------

    def check_calls(self, services: dict[str, m.Service]) -> None:
        graph: dict[str, set[str]] = {name: set() for name in services}
        for name, svc in self.spec.services.items():
            for index, call in enumerate(svc.calls):
                path: Path_ = ("services", name, "calls", index)
                target = self.spec.services.get(call.service)
                if target is not None and target.template is not None:
                    self.error(
                        (*path, "service"),
                        f"service '{call.service}' is made from a template: msgen knows none of its operations to call",
                    )
                    continue
                if call.service not in services:
                    self.unknown((*path, "service"), "service", call.service, services)
                    continue
                if call.service == name:
                    self.error((*path, "service"), f"service '{name}' calls itself: call its handlers directly")
                    continue
                callee_ops = {op.op_id for op in services[call.service].operations}
                if call.operation not in callee_ops:
                    hint = did_you_mean(call.operation, callee_ops)
                    self.error(
                        (*path, "operation"), f"service '{call.service}' has no operation '{call.operation}'{hint}"
                    )
                    continue
                if call.cache_ttl is not None:
                    target_op = next(op for op in services[call.service].operations if op.op_id == call.operation)
                    if target_op.method != "GET" or target_op.response is None:
                        what = (
                            f"{target_op.method} {target_op.route}" if target_op.method != "GET" else "without answer"
                        )
                        self.error(
                            (*path, "cache_ttl"),
                            f"cache_ttl keeps the answer of a GET call: '{call.operation}' is {what}",
                        )
                graph[name].add(call.service)
        for cycle in cycles(graph):
            for caller, callee in itertools.pairwise(cycle):
                index = next(i for i, c in enumerate(self.spec.services[caller].calls) if c.service == callee)
                self.error(
                    ("services", caller, "calls", index),
                    f"synchronous calls form a cycle: {' -> '.join(cycle)} (break it with an event)",
                )

    # -- events and mails --------------------------------------------------

    def event(self, name: str, ev: EventSpec) -> m.Event:
        path: Path_ = ("events", name)
        self.check_name("event", name, path)
        services = self.spec.services
        publishers = [ev.publisher] if isinstance(ev.publisher, str) else list(ev.publisher)
        publisher = publishers[0] if publishers else ""
        if len(publishers) != 1:
            found = f"{len(publishers)} ({', '.join(publishers)})" if publishers else "none"
            self.error((*path, "publisher"), f"event '{name}' must have exactly one publisher, found {found}")
            self.bad_publishers.add(name)
        elif publisher not in services:
            self.unknown((*path, "publisher"), "service", publisher, services)
            self.bad_publishers.add(name)
        for index, consumer in enumerate(ev.consumers):
            if consumer not in services:
                self.unknown((*path, "consumers", index), "service", consumer, services)
            elif consumer == publisher:
                self.error((*path, "consumers", index), f"service '{consumer}' consumes its own event '{name}'")
        if len(set(ev.consumers)) != len(ev.consumers):
            self.error((*path, "consumers"), "a consumer is listed twice")
        owner = services.get(publisher)
        fields = self.fields(publisher, owner, ev.fields, (*path, "fields"), entity=False)
        if ev.key is not None and ev.key not in ev.fields:
            self.unknown((*path, "key"), "payload field", ev.key, ev.fields)
        used = {t.value_object.name for f in fields for t in (f.type, f.type.item) if t and t.value_object}
        value_objects: tuple[m.ValueObject, ...] = ()
        if owner is not None and used:
            closure = _closure(used, owner)
            value_objects = tuple(
                vo
                for vo_name in owner.value_objects
                if vo_name in closure and (vo := self.value_object(publisher, owner, vo_name)) is not None
            )
        return m.Event(
            name=name,
            version=ev.version,
            class_name=pascal(name),
            topic=name,
            schema_file=f"{name}.v{ev.version}.avsc",
            namespace=f"{self.spec.system.name}.events",
            publisher=publisher,
            consumers=tuple(ev.consumers),
            key=ev.key,
            compatibility=m.Compatibility(ev.compatibility),
            fields=fields,
            value_objects=value_objects,
            description=SpecText(ev.description or f"Published by {publisher} when {name.replace('.', ' ')}."),
        )

    def check_emails(self) -> None:
        for name, svc in self.spec.services.items():
            for index, rule in enumerate(svc.emails):
                path: Path_ = ("services", name, "emails", index)
                event = self.spec.events.get(rule.on)
                if event is None:
                    self.unknown((*path, "on"), "event", rule.on, self.spec.events)
                    continue
                if name not in event.consumers:
                    self.error(
                        (*path, "on"), f"service '{name}' does not consume '{rule.on}': add it to the event's consumers"
                    )
                for saga_name, saga in self.spec.sagas.items():
                    if saga.orchestrator != name:
                        continue
                    step_events = {
                        e
                        for step in saga.steps
                        for e in (step.success, step.failure, step.compensation.done if step.compensation else None)
                    }
                    if rule.on in step_events:
                        self.error(
                            (*path, "on"),
                            f"service '{name}' orchestrates saga '{saga_name}' and handles '{rule.on}' as its step "
                            f"result, so no handler of its own would send this mail: mail from a service that only "
                            f"consumes '{rule.on}'",
                        )
                if not isinstance(rule.to, str):
                    self.check_email_lookup(name, rule.on, rule.to, event, (*path, "to"))
                elif rule.to not in event.fields:
                    self.error(
                        (*path, "to"), f"'{rule.on}' has no field '{rule.to}'{did_you_mean(rule.to, event.fields)}"
                    )
                for text_key in ("subject", "body"):
                    text = getattr(rule, text_key) or ""
                    try:
                        parts = list(string.Formatter().parse(text))
                    except ValueError as exc:
                        self.error((*path, text_key), f"{text_key}: {exc} (write {{{{ and }}}} for literal braces)")
                        continue
                    for _, placeholder, spec, conversion in parts:
                        if placeholder is None:
                            continue
                        if placeholder not in event.fields:
                            self.error((*path, text_key), f"'{{{placeholder}}}' is not a field of '{rule.on}'")
                        elif spec or conversion:
                            self.error(
                                (*path, text_key), f"'{{{placeholder}}}': a placeholder is a field name, nothing more"
                            )

    def check_email_lookup(self, service: str, on: str, to: Any, event: EventSpec, path: Path_) -> None:
        """`to: {ref, field}`: a ref field of the event, whose entity's get the service calls, and its address."""
        target = event.fields.get(to.ref)
        if target is None:
            self.error((*path, "ref"), f"'{on}' has no field '{to.ref}'{did_you_mean(to.ref, event.fields)}")
            return
        if self.base_type(target.type) != "ref" or not target.to or "." not in target.to:
            self.error(
                (*path, "ref"),
                f"'{to.ref}' of '{on}' is not a ref field: give it 'type: ref, to: <service>.<Entity>', so that "
                "msgen knows whose entity holds the address",
            )
            return
        owner, _, entity_name = target.to.partition(".")
        owner_spec = self.spec.services.get(owner)
        if owner_spec is None or entity_name not in owner_spec.entities:
            return  # reported at the event's field
        operation = f"get{entity_name}"
        if not any(c.service == owner and c.operation == operation for c in self.spec.services[service].calls):
            self.error(
                (*path, "ref"),
                f"service '{service}' reads the address from {entity_name} of service '{owner}': list "
                f"{{service: {owner}, operation: {operation}}} in its calls",
            )
        field = owner_spec.entities[entity_name].fields.get(to.field)
        if field is None:
            hint = did_you_mean(to.field, owner_spec.entities[entity_name].fields)
            self.error((*path, "field"), f"{entity_name} of service '{owner}' has no field '{to.field}'{hint}")
        elif self.base_type(field.type) not in ("email", "string"):
            self.error(
                (*path, "field"), f"'{to.field}' of {entity_name} is {field.type}: an address is an email or a string"
            )


def template_folder(source: str, base: Path) -> Path:
    """The folder of a template `source`, as the spec wrote it: relative paths are from the spec's folder."""
    return (base / Path(source).expanduser()).resolve()


def check_template_sources(loaded: LoadedSpec, names: Iterable[str], base: Path) -> None:
    """The templates of services `names` exist and are of their engine; else SpecError pointing at `source`.

    Checked when a template is about to run (add-service), not by `resolve`: once run, a
    template is no longer needed, and a regen must not fail because its folder moved.
    """
    from msgen.template_source import source_problem

    problems: list[Diagnostic] = []
    for name in names:
        svc = loaded.spec.services.get(name)
        if svc is None or svc.template is None:
            continue
        problem = source_problem(template_folder(svc.template.source, base), svc.template.engine)
        if problem is not None:
            problems.append(loaded.positions.at(("services", name, "template", "source"), problem))
    if problems:
        raise SpecError(problems)


def _with_call_targets(services: dict[str, m.Service]) -> dict[str, m.Service]:
    """The services with each call's callee and operation resolved (None where the call was reported).
    A callee is finished before its callers, so a call holds the service as the system has it; a call in
    a cycle (reported) holds none."""
    done: dict[str, m.Service] = {}

    def finish(name: str, visiting: frozenset[str]) -> m.Service:
        if name in done:
            return done[name]
        service = services[name]
        calls = []
        for call in service.calls:
            ok = call.service in services and call.service not in visiting | {name}
            callee = finish(call.service, visiting | {name}) if ok else None
            target = next((op for op in callee.operations if op.op_id == call.operation), None) if callee else None
            calls.append(replace(call, callee=callee if target else None, target=target))
        done[name] = replace(service, calls=tuple(calls))
        return done[name]

    return {name: finish(name, frozenset()) for name in services}


def _closure(names: set[Any], svc: ServiceSpec) -> set[str]:
    """The value objects `names` use, directly or through each other."""
    todo = [n for n in names if isinstance(n, str)]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in svc.value_objects:
            continue
        seen.add(name)
        for f in svc.value_objects[name].fields.values():
            todo.append(Reporter.base_type(f.type))
    return seen
