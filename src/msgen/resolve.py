"""Resolve a valid spec into the system model, checking what it means.

Every semantic problem is collected as a diagnostic pointing into the spec;
if there is any, ``SpecError`` is raised with all of them.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from msgen import model as m
from msgen.errors import Diagnostic, SpecError, did_you_mean
from msgen.loader import LoadedSpec, Path_
from msgen.modeline import project_spec_text
from msgen.names import (
    ENUM_VALUE_RE,
    EVENT_RE,
    FIELD_RE,
    GENERATED_ARGUMENTS,
    OPERATION_RE,
    PATH_SEGMENT_RE,
    RESERVED_FIELDS,
    SCOPE_RE,
    SERVICE_RE,
    TYPE_RE,
    a,
    kebab,
    param_var,
    pascal,
    plural,
    snake,
    unsafe_reason,
)
from msgen.patterns import pattern_matches
from msgen.render.escape import SpecText, refused_characters, spec_text
from msgen.render.examples import string_example
from msgen.render.public import PUBLIC_CONTRACT
from msgen.spec import (
    SCALAR_TYPES,
    EmailSpec,
    EventSpec,
    FieldSpec,
    OperationSpec,
    ServiceSpec,
    SpecFile,
    duration_seconds,
    percent,
    size_bytes,
)

_LIST_RE = re.compile(r"^list\[\s*([A-Za-z][A-Za-z0-9_]*)\s*\]\Z")
_STRINGISH = {"string", "text", "email", "url"}
_NUMERIC = {"int", "decimal"}
_DEFAULT_STATUS = {"list": 200, "get": 200, "create": 201, "update": 200, "delete": 204}
_ACTION_METHOD = {"list": "GET", "get": "GET", "create": "POST", "update": "PATCH", "delete": "DELETE"}

_PY_SCALAR = {
    "string": "str",
    "text": "str",
    "int": "int",
    "decimal": "Decimal",
    "bool": "bool",
    "uuid": "UUID",
    "ref": "UUID",
    "datetime": "AwareDatetime",
    "date": "date",
    "email": "Email",
    "url": "str",
}
_MAPPED_SCALAR = {**_PY_SCALAR, "email": "str", "enum": "str", "datetime": "datetime"}

_NAME_RULES = {
    "service": (SERVICE_RE, "lowercase letters, digits and '_', starting with a letter", "order"),
    "entity": (TYPE_RE, "letters and digits in PascalCase", "OrderLine"),
    "value object": (TYPE_RE, "letters and digits in PascalCase", "OrderLine"),
    "field": (FIELD_RE, "lowercase letters, digits and '_', starting with a letter", "unit_price"),
    "event": (EVENT_RE, "dotted lowercase words", "order.created"),
    "operation": (OPERATION_RE, "letters and digits in camelCase", "placeOrder"),
    "saga": (SERVICE_RE, "lowercase letters, digits and '_', starting with a letter", "place_order"),
    "saga step": (SERVICE_RE, "lowercase letters, digits and '_', starting with a letter", "reserve_stock"),
    "system": (SERVICE_RE, "lowercase letters, digits and '_', starting with a letter", "shop"),
}


def resolve(loaded: LoadedSpec) -> m.System:
    """Check the spec's meaning and build the system model; raise SpecError on problems."""
    resolver = _Resolver(loaded)
    system = resolver.run()
    if resolver.diagnostics:  # a shared value object's problem is found in each service using it: once
        raise SpecError(list(dict.fromkeys(resolver.diagnostics)))
    assert system is not None
    return system


class _Resolver:
    def __init__(self, loaded: LoadedSpec) -> None:
        self.original: SpecFile = loaded.spec
        # Each service sees the shared value objects it uses as its own (its code and contract hold them).
        self.shared_users: dict[str, set[str]] = {}
        self.spec: SpecFile = self.with_shared_value_objects(loaded.spec)
        self.pos = loaded.positions
        self.text = loaded.text
        self.diagnostics: list[Diagnostic] = []
        self.bad_publishers: set[str] = set()  # events whose publisher was already reported
        self.resolved_services: dict[str, m.Service] = {}
        self.resolved_events: dict[str, m.Event] = {}

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

    def vo_path(self, service: str, name: str) -> Path_:
        """Where a value object of `service` is declared: in the service, or shared at the top level."""
        own = self.original.services.get(service)
        if name in self.original.value_objects and (own is None or name not in own.value_objects):
            return ("value_objects", name)
        return ("services", service, "value_objects", name)

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

    # -- reporting ---------------------------------------------------------

    def error(self, path: Path_, message: str, *, key: bool = False) -> None:
        self.diagnostics.append(self.pos.at(path, message, key=key))

    def check_name(self, kind: str, name: str, path: Path_) -> bool:
        rule, shape, example = _NAME_RULES[kind]
        reason = unsafe_reason(name)
        if reason is None and not rule.match(name):
            reason = f"use {shape} (e.g. '{example}')"
        if reason is not None:
            self.error(path, f"{kind} name '{name}' is not a safe identifier: {reason}", key=True)
            return False
        return True

    def unknown(self, path: Path_, kind: str, name: str, known: Iterable[str]) -> None:
        self.error(path, f"{kind} '{name}' is not declared{did_you_mean(name, known)}")

    # -- free text (docs/spec.md#free-text) ---------------------------------

    def check_free_text(self) -> None:
        """Refuse what no generated file can carry faithfully: control characters, and line breaks in one-liners."""
        for path, text, one_line in _free_text_places(self.original):
            reason = refused_characters(text, newlines=not one_line)
            shape = _URLISH.get(str(path[-1] if isinstance(path[-1], str) else path[-2]))
            if reason is None and shape is not None and not shape[0].match(text):
                reason = f"must be {shape[1]}"
            if reason is not None:
                self.error(path, f"{_place_name(path)} {reason}")
        for path, text in _ops_values(self.spec):
            rule, wanted = _OPS_SHAPES[str(path[-1])]
            if not rule.match(text):
                self.error(path, f"{path[-1]} {text[:40]!r} is not {wanted}")

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
        services = [self.service(name, svc) for name, svc in spec.services.items() if svc.template is None]
        templated = [self.templated(name, svc) for name, svc in spec.services.items() if svc.template is not None]
        by_name = {s.name: s for s in services}
        self.check_calls(by_name)
        self.check_templated(services, templated)
        events = [self.event(name, ev) for name, ev in spec.events.items()]
        self.resolved_services = by_name
        self.resolved_events = {e.name: e for e in events}
        sagas = [self.saga(name) for name in spec.sagas]
        self.check_emails()
        self.check_free_text()
        deploy = self.deploy()
        if self.diagnostics:
            return None
        publishes: dict[str, list[str]] = {s: [] for s in by_name}
        consumes: dict[str, list[str]] = {s: [] for s in by_name}
        for event in events:
            publishes[event.publisher].append(event.name)
            for consumer in event.consumers:
                consumes[consumer].append(event.name)
        services = [replace(s, publishes=tuple(publishes[s.name]), consumes=tuple(consumes[s.name])) for s in services]
        gw = spec.gateway
        obs = spec.observability
        return m.System(
            name=spec.system.name,
            description=SpecText(spec.system.description or f"The {spec.system.name} system."),
            broker=spec.system.broker,
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
                rate_limit_by=gw.rate_limit.by,
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
            ingress_kind=ingress.kind,
            ingress_host=ingress.host,
            ingress_class=ingress.class_name,
            gateway_namespace=ingress.gateway_namespace,
            controller_namespace=ingress.controller_namespace
            or ("ingress-nginx" if ingress.kind == "ingress" else ingress.gateway_namespace),
            tls_secret=ingress.tls_secret,
            mesh=spec.mesh,
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
            m.ValueObject(
                name=vo_name,
                fields=self.fields(name, svc, vo.fields, (*self.vo_path(name, vo_name), "fields"), entity=False),
                description=spec_text(vo.description),
            )
            for vo_name, vo in svc.value_objects.items()
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
        operations = self.operations(name, svc, {e.name: e for e in entities})
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
            publishes=(),
            consumes=(),
            ops=_ops(svc.ops, database=True),
            emails=tuple(self.email_rule(e) for e in svc.emails),
            slo=self.service_slo(svc),
        )

    def email_rule(self, rule: EmailSpec) -> m.EmailRule:
        """The rule as generated; `check_emails` reports what is wrong with it (the system is then not built)."""
        to, lookup = rule.to, None
        if not isinstance(to, str):
            event = self.spec.events.get(rule.on)
            target = event.fields.get(to.ref) if event is not None else None
            service, _, entity = (target.to or "").partition(".") if target is not None else ("", "", "")
            lookup = (service, snake(f"get{entity}"), to.field)
            to = to.ref
        return m.EmailRule(
            event=rule.on,
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

    def check_class_names(
        self, service: str, entities: tuple[m.Entity, ...], value_objects: tuple[m.ValueObject, ...]
    ) -> None:
        """The classes of schemas.py (value objects, enums, per-entity models) must not collide."""
        owners: dict[str, str] = {}
        for vo in value_objects:
            owners[vo.name] = f"value object {vo.name}"
        for entity in entities:
            for suffix in ("Create", "Update", "Read", "Page", "Accepted"):
                owners.setdefault(entity.name + suffix, f"entity {entity.name}")
        for owner_kind, owner in [("entities", e) for e in entities] + [("value_objects", v) for v in value_objects]:
            for f in owner.fields:
                enum = (f.type.item or f.type).enum_class
                if enum and enum in owners:
                    where = (
                        (*self.vo_path(service, owner.name), "fields", f.name)
                        if owner_kind == "value_objects"
                        else ("services", service, owner_kind, owner.name, "fields", f.name)
                    )
                    self.error(
                        where,
                        f"the enum of field '{f.name}' is named {enum}, which {owners[enum]} already uses: "
                        "rename the field or that type",
                        key=True,
                    )
                elif enum:
                    owners[enum] = f"the enum of {owner.name}.{f.name}"

    def check_value_object_cycles(self, service: str, svc: ServiceSpec) -> None:
        graph = {
            vo: {self.base_type(f.type) for f in spec.fields.values()} & set(svc.value_objects)
            for vo, spec in svc.value_objects.items()
        }
        for cycle in _cycles(graph):
            path = self.vo_path(service, cycle[0])
            self.error(path, f"value objects contain each other: {' -> '.join(cycle)}", key=True)

    @staticmethod
    def base_type(text: str) -> str:
        match = _LIST_RE.match(text.strip())
        return match.group(1) if match else text.strip()

    def fields(
        self,
        service: str,
        svc: ServiceSpec | None,
        specs: dict[str, FieldSpec],
        base: Path_,
        *,
        entity: bool,
        owner_vos: dict[str, Any] | None = None,
    ) -> tuple[m.Field, ...]:
        vos = set(svc.value_objects) if svc is not None else set(owner_vos or {})
        out: list[m.Field] = []
        for fname, fspec in specs.items():
            path = (*base, fname)
            if not self.check_name("field", fname, path):
                continue
            if entity and fname in RESERVED_FIELDS:
                self.error(
                    path,
                    f"field name '{fname}' is reserved (every entity has id, created_at and updated_at; "
                    "metadata and registry belong to SQLAlchemy)",
                    key=True,
                )
                continue
            ftype = self.field_type(fspec, vos, path, owner=pascal(f"{_owner_name(base)}_{fname}"))
            if ftype is None:
                continue
            ref = self.reference(fspec, path) if ftype.kind == "ref" else None
            self.check_constraints(fspec, ftype, path)
            out.append(
                m.Field(
                    name=fname,
                    type=ftype,
                    required=fspec.required,
                    unique=fspec.unique,
                    read_only=fspec.read_only,
                    default=fspec.default,
                    description=spec_text(fspec.description),
                    constraints={
                        k: v
                        for k, v in fspec.model_dump(
                            include={
                                "min",
                                "max",
                                "min_length",
                                "max_length",
                                "pattern",
                                "min_items",
                                "max_items",
                                "precision",
                                "scale",
                            }
                        ).items()
                        if v is not None
                    },
                    ref=ref,
                    example=fspec.example,
                )
            )
        return tuple(out)

    def field_type(self, fspec: FieldSpec, vos: set[str], path: Path_, owner: str) -> m.FieldType | None:
        text = fspec.type.strip()
        tpath = (*path, "type")
        list_match = _LIST_RE.match(text)
        if list_match:
            inner = list_match.group(1)
            if inner in ("ref", "enum", "list"):
                self.error(tpath, f"list[{inner}] is not supported: use list of a scalar or a value object")
                return None
            item = self.simple_type(inner, fspec, vos, tpath, owner)
            if item is None:
                return None
            return m.FieldType(
                kind="list", python=f"list[{item.python}]", column="sa.JSON()", mapped="list[Any]", item=item
            )
        if text.startswith("list"):
            self.error(tpath, f"type '{text}' is not valid: write list[<type>], e.g. list[OrderLine]")
            return None
        return self.simple_type(text, fspec, vos, tpath, owner)

    def simple_type(self, text: str, fspec: FieldSpec, vos: set[str], tpath: Path_, owner: str) -> m.FieldType | None:
        if text in vos:
            return m.FieldType(
                kind="object", python=text, column="sa.JSON()", mapped="dict[str, Any]", value_object=text
            )
        if text not in SCALAR_TYPES:
            hint = did_you_mean(text, [*SCALAR_TYPES, *vos])
            owners = [n for n, s in self.spec.services.items() if text in s.value_objects]
            if owners:
                hint = (
                    f": value object '{text}' belongs to service '{owners[0]}', and a service sees only its own "
                    "value objects and the shared ones; move it to the top-level value_objects section to share it"
                )
            self.error(tpath, f"unknown type '{text}'{hint}")
            return None
        if text == "enum":
            values = fspec.values or []
            if not values:
                self.error(tpath, "an enum needs 'values', a list of its allowed values")
                return None
            for index, value in enumerate(values):
                if unsafe_reason(value) or not ENUM_VALUE_RE.match(value):
                    self.error(
                        (*tpath[:-1], "values", index),
                        f"enum value '{value}' is not a safe identifier: use letters, digits and '_'",
                    )
            if len(set(values)) != len(values):
                self.error((*tpath[:-1], "values"), "enum values must be unique")
            width = max(len(v) for v in values)
            return m.FieldType(
                kind="enum",
                python=owner,
                column=f"sa.String({width})",
                mapped="str",
                enum_class=owner,
                enum_values=tuple(values),
            )
        column = {
            "string": f"sa.String({fspec.max_length or 255})",
            "text": "sa.Text()",
            "int": "sa.BigInteger()",
            "decimal": f"sa.Numeric({fspec.precision or 18}, {fspec.scale if fspec.scale is not None else 2})",
            "bool": "sa.Boolean()",
            "uuid": "sa.Uuid()",
            "ref": "sa.Uuid()",
            "datetime": "UtcDateTime()",
            "date": "sa.Date()",
            "email": "sa.String(320)",
            "url": "sa.String(2048)",
        }[text]
        return m.FieldType(kind=text, python=_PY_SCALAR[text], column=column, mapped=_MAPPED_SCALAR[text])

    def reference(self, fspec: FieldSpec, path: Path_) -> tuple[str, str] | None:
        if not fspec.to:
            self.error(path, "a ref field needs 'to: <service>.<Entity>'")
            return None
        service, dot, entity = fspec.to.partition(".")
        services = self.spec.services
        if not dot or not service or not entity:
            example = f"{snake(fspec.to)}.{fspec.to}" if fspec.to[:1].isupper() else "order.Order"
            self.error((*path, "to"), f"to: '{fspec.to}' must be <service>.<Entity>, e.g. {example}")
            return None
        if service not in services:
            self.unknown((*path, "to"), "service", service, services)
            return None
        if entity not in services[service].entities:
            hint = did_you_mean(entity, services[service].entities)
            self.error((*path, "to"), f"service '{service}' has no entity '{entity}'{hint}")
            return None
        return service, entity

    def check_constraints(self, fspec: FieldSpec, ftype: m.FieldType, path: Path_) -> None:
        kind = ftype.kind
        rules = {
            "min": kind in _NUMERIC,
            "max": kind in _NUMERIC,
            "min_length": kind in _STRINGISH,
            "max_length": kind in {"string", "text"},
            "pattern": kind in {"string", "text"},
            "min_items": kind == "list",
            "max_items": kind == "list",
            "precision": kind == "decimal",
            "scale": kind == "decimal",
            "values": kind == "enum",
            "to": kind == "ref",
        }
        for key, allowed in rules.items():
            if getattr(fspec, key) is not None and not allowed:
                self.error((*path, key), f"'{key}' does not apply to a field of type {fspec.type}", key=True)
        for low, high in (("min", "max"), ("min_length", "max_length"), ("min_items", "max_items")):
            lo, hi = getattr(fspec, low), getattr(fspec, high)
            if lo is not None and hi is not None and lo > hi:
                self.error((*path, high), f"'{high}' ({hi}) is below '{low}' ({lo})")
        if fspec.precision is not None and fspec.scale is not None and fspec.scale > fspec.precision:
            self.error((*path, "scale"), f"scale ({fspec.scale}) is above precision ({fspec.precision})")
        if fspec.default is not None:
            self.check_default(fspec, ftype, path)
        if fspec.unique and kind in {"object", "list", "text"}:
            self.error((*path, "unique"), f"{a(kind)} field cannot be unique")
        if fspec.read_only and fspec.required and fspec.default is None:
            self.error((*path, "read_only"), "a read-only field must have a default or be required: false")
        if kind in ("string", "text"):
            constraints = fspec.model_dump(include={"min_length", "max_length", "pattern"}, exclude_none=True)
            example = string_example(constraints, fspec.example, kind=kind)
            if example is None:
                self.error(path, "msgen cannot find a value that matches this pattern: give an 'example'")
            elif fspec.example is not None and fspec.pattern and not pattern_matches(fspec.pattern, example):
                self.error((*path, "example"), f"example {fspec.example!r} does not match the pattern")

    def check_default(self, fspec: FieldSpec, ftype: m.FieldType, path: Path_) -> None:
        value = fspec.default
        kind = ftype.kind
        ok = {
            "enum": lambda: value in ftype.enum_values,
            "bool": lambda: isinstance(value, bool),
            "int": lambda: isinstance(value, int) and not isinstance(value, bool),
            "decimal": lambda: isinstance(value, int | float) and not isinstance(value, bool),
        }.get(kind, lambda: isinstance(value, str) and kind in _STRINGISH)()
        if ok and kind in _NUMERIC and isinstance(value, int | float):
            low, high = fspec.min, fspec.max
            if (low is not None and value < low) or (high is not None and value > high):
                self.error((*path, "default"), f"default {value!r} is outside min/max")
        if ok and kind in _STRINGISH and isinstance(value, str):
            if fspec.max_length is not None and len(value) > fspec.max_length:
                self.error((*path, "default"), f"default {value!r} is longer than max_length ({fspec.max_length})")
            if fspec.pattern and not pattern_matches(fspec.pattern, value):
                self.error((*path, "default"), f"default {value!r} does not match the pattern")
        if not ok:
            expected = f"one of {', '.join(ftype.enum_values)}" if kind == "enum" else f"{a(kind)} value"
            same = [v for v in ftype.enum_values if isinstance(value, str) and v.casefold() == value.casefold()]
            hint = f" (did you mean '{same[0]}'? enum values are case-sensitive)" if same else ""
            self.error((*path, "default"), f"default {value!r} is not {expected}{hint}")

    # -- operations --------------------------------------------------------

    def operations(self, service: str, svc: ServiceSpec, entities: dict[str, m.Entity]) -> tuple[m.Operation, ...]:
        base: Path_ = ("services", service, "api")
        ops: list[tuple[Path_, m.Operation]] = []
        for e_name, crud in svc.api.crud.items():
            path = (*base, "crud", e_name)
            if e_name not in entities:
                self.unknown(path, "entity", e_name, entities)
                continue
            ent = entities[e_name]
            ttl = duration_seconds(crud.cache_ttl) if crud.cache_ttl else None
            for action in crud.operations:
                write = action in ("create", "update", "delete")
                route = ent.resource if action in ("list", "create") else f"{ent.resource}/{{id}}"
                op_id = f"{action}{pascal(plural(e_name))}" if action == "list" else f"{action}{e_name}"
                scopes = crud.scopes.write if write else crud.scopes.read
                self.check_scopes(scopes, (*path, "scopes", "write" if write else "read"))
                ops.append(
                    (
                        path,
                        self.make_op(
                            op_id=op_id,
                            method=_ACTION_METHOD[action],
                            route=route,
                            action=action,
                            entity=ent,
                            request=None,
                            response=None,
                            status=_DEFAULT_STATUS[action],
                            scopes=scopes,
                            idempotent=action == "create" and crud.idempotent_create,
                            is_async=False,
                            cache_ttl=ttl if action == "get" else None,
                            timeout=None,
                            summary=_crud_summary(action, e_name),
                            page_size=crud.page_size,
                            max_page_size=crud.max_page_size,
                        ),
                    )
                )
        for op_name, op in svc.api.operations.items():
            path = (*base, "operations", op_name)
            if not self.check_name("operation", op_name, path):
                continue
            resolved = self.custom_operation(op_name, op, svc, entities, path)
            if resolved is not None:
                ops.append((path, resolved))
        seen_ids: dict[str, m.Operation] = {}
        seen_routes: dict[tuple[str, str], str] = {}
        for path, item in ops:
            first = seen_ids.get(item.op_id)
            if first is not None:
                origin = f"the crud of {first.entity}" if first.action and first.entity else "another operation"
                self.error(path, f"operation '{item.op_id}' is declared twice: {origin} already defines it", key=True)
            seen_ids.setdefault(item.op_id, item)
            key = (item.method, re.sub(r"\{[^}]*\}", "{}", item.route))
            if key in seen_routes:
                self.error(
                    path, f"{item.method} {item.route} is already served by operation '{seen_routes[key]}'", key=True
                )
            seen_routes.setdefault(key, item.op_id)
        return tuple(item for _, item in ops)

    def custom_operation(
        self, op_name: str, op: OperationSpec, svc: ServiceSpec, entities: dict[str, m.Entity], path: Path_
    ) -> m.Operation | None:
        types = {*svc.entities, *svc.value_objects}
        ok = self.check_route(op.path, (*path, "path"))
        entity = None
        if op.entity is not None:
            if op.entity not in entities:
                self.unknown((*path, "entity"), "entity", op.entity, entities)
                ok = False
            else:
                entity = entities[op.entity]
        if op.action is not None and entity is None and op.entity is None:
            self.error((*path, "action"), f"action '{op.action}' needs 'entity', the entity it works on")
            ok = False
        for key in ("request", "response"):
            value = getattr(op, key)
            if value is not None and value not in types:
                self.unknown((*path, key), "entity or value object", value, types)
                ok = False
        params = tuple(re.findall(r"\{([^}]*)\}", op.path))
        if op.action in ("get", "update", "delete") and "id" not in params:
            self.error((*path, "path"), f"action '{op.action}' needs an {{id}} parameter in its path")
            ok = False
        if op.action is not None and op.request is not None:
            self.error((*path, "request"), f"an operation with action '{op.action}' takes the entity's own body")
            ok = False
        self.check_scopes(op.scopes, (*path, "scopes"))
        if not ok:
            return None
        if op.async_ and op.action != "create":
            self.error((*path, "async"), "async: true needs action: create (202 Accepted, then follow the entity)")
            return None
        sets = self.check_sets(op, entity, path)
        query = self.query_parameters(op, svc, params, path)
        if sets is None or query is None:
            return None
        allowed_methods = {"update": ("PATCH", "PUT", "POST") if op.sets else ("PATCH", "PUT")}.get(
            op.action or "", (_ACTION_METHOD.get(op.action or ""),)
        )
        if op.action is not None and op.method not in allowed_methods:
            expected = " or ".join(m for m in allowed_methods if m)
            hint = " (POST too, with 'sets')" if op.action == "update" else ""
            self.error((*path, "method"), f"action '{op.action}' is served with {expected}{hint}, not {op.method}")
            return None
        if op.cache_ttl is not None and (op.method != "GET" or (op.action is None and op.response is None)):
            why = f"not a {op.method}" if op.method != "GET" else "this one has no 'response' to keep"
            self.error((*path, "cache_ttl"), f"cache_ttl keeps the answer of a GET operation: {why}")
            return None
        status = op.status or (202 if op.async_ else _DEFAULT_STATUS.get(op.action or "", 200))
        if op.async_ and status != 202:
            self.error((*path, "status"), "an async operation answers 202 Accepted")
        return self.make_op(
            op_id=op_name,
            method=op.method,
            route=op.path,
            action=op.action,
            entity=entity,
            request=op.request,
            response=op.response,
            status=status,
            scopes=op.scopes,
            idempotent=op.idempotent,
            is_async=op.async_,
            cache_ttl=duration_seconds(op.cache_ttl) if op.cache_ttl else None,
            timeout=duration_seconds(op.timeout) if op.timeout else None,
            summary=SpecText(
                op.summary
                or (f"Set {', '.join(op.sets)} of {a(op.entity or 'item')}" if op.sets else None)
                or (_crud_summary(op.action, op.entity) if op.action else op_name)
            ),
            sets=sets,
            publishes=op.publishes,
            rate_limit=(
                (op.rate_limit.requests, duration_seconds(op.rate_limit.per), op.rate_limit.by)
                if op.rate_limit
                else None
            ),
            query=query,
            own_entities=set(svc.entities),
        )

    def query_parameters(
        self, op: OperationSpec, svc: ServiceSpec, params: tuple[str, ...], path: Path_
    ) -> tuple[m.Field, ...] | None:
        """An operation's query parameters: scalar fields, none named as a path or page parameter."""
        if not op.query:
            return ()
        where: Path_ = (*path, "query")
        fields = self.fields(str(path[1]), svc, op.query, where, entity=False)
        ok = len(fields) == len(op.query)
        taken = set(params) | ({"limit", "offset"} if op.action == "list" else set())
        for f in fields:
            spec = op.query[f.name]
            if f.type.kind in ("object", "list"):
                self.error(
                    (*where, f.name, "type"), f"a query parameter is one value: '{spec.type}' is not a scalar type"
                )
                ok = False
            if f.name in taken:
                kind = "path" if f.name in params else "page"
                self.error((*where, f.name), f"'{f.name}' is already a {kind} parameter of this operation", key=True)
                ok = False
            elif f.name in GENERATED_ARGUMENTS:
                self.error(
                    (*where, f.name),
                    f"'{f.name}' is an argument of the generated route and handler: name the query parameter otherwise",
                    key=True,
                )
                ok = False
            elif f.name in {param_var(p) for p in params}:
                path_param = next(p for p in params if param_var(p) == f.name)
                self.error(
                    (*where, f.name),
                    f"'{f.name}' is the Python name of the path parameter '{{{path_param}}}': name it otherwise",
                    key=True,
                )
                ok = False
            for key in ("unique", "read_only"):
                if getattr(spec, key):
                    self.error((*where, f.name, key), f"'{key}' does not apply to a query parameter", key=True)
                    ok = False
        return fields if ok else None

    def check_sets(self, op: OperationSpec, entity: m.Entity | None, path: Path_) -> tuple[tuple[str, Any], ...] | None:
        """`sets` and `publishes` of an update action: fields of the entity, values of their types, an event
        of this service that the updated row fills."""
        if op.sets is None and op.publishes is None:
            return ()
        ok = True
        for key in ("sets", "publishes"):
            if getattr(op, key) is not None and op.action != "update":
                self.error((*path, key), f"'{key}' goes with action: update, the change it makes to the entity")
                ok = False
        if not ok or entity is None:
            return None
        fields = {f.name: f for f in entity.fields}
        for name, value in (op.sets or {}).items():
            where: Path_ = (*path, "sets", name)
            field = fields.get(name)
            if field is None:
                self.error(where, f"{entity.name} has no field '{name}'{did_you_mean(name, fields)}", key=True)
                ok = False
            elif not _value_fits(field, value):
                kind, values = field.type.kind, field.type.enum_values
                if kind == "enum":
                    message = f"{value!r} is not one of {', '.join(values)}{did_you_mean(str(value), values)}"
                else:
                    bounds = "".join(f", {k} {v}" for k, v in field.constraints.items() if k in _SET_BOUNDS)
                    message = f"{value!r} does not fit {entity.name}.{name} ({a(kind)}{bounds})"
                self.error(where, message)
                ok = False
        if op.sets is not None and not op.sets:
            self.error((*path, "sets"), "'sets' names at least one field")
            ok = False
        if op.publishes is not None:
            event = self.spec.events.get(op.publishes)
            service = str(path[1])
            if event is None:
                self.unknown((*path, "publishes"), "event", op.publishes, self.spec.events)
                ok = False
            elif event.publisher != service:
                self.error(
                    (*path, "publishes"), f"'{op.publishes}' is published by '{event.publisher}', not by '{service}'"
                )
                ok = False
            else:
                known = {*fields, f"{entity.snake}_id"}
                missing = [n for n, f in event.fields.items() if f.required and f.default is None and n not in known]
                if missing:
                    self.error(
                        (*path, "publishes"),
                        f"'{op.publishes}' needs {', '.join(repr(n) for n in missing)}, which {entity.name} does not "
                        f"have: the event is built from the updated row (its fields, and its id as {entity.snake}_id)",
                    )
                    ok = False
        return tuple((op.sets or {}).items()) if ok else None

    def make_op(
        self,
        *,
        op_id: str,
        method: str,
        route: str,
        action: str | None,
        entity: m.Entity | None,
        request: str | None,
        response: str | None,
        status: int,
        scopes: list[str],
        idempotent: bool,
        is_async: bool,
        cache_ttl: float | None,
        timeout: float | None,
        summary: str,
        page_size: int = 50,
        max_page_size: int = 200,
        sets: tuple[tuple[str, Any], ...] = (),
        publishes: str | None = None,
        rate_limit: tuple[int, float, str] | None = None,
        query: tuple[m.Field, ...] = (),
        own_entities: set[str] | None = None,
    ) -> m.Operation:
        # An entity's name in a request/response means its XRead/XCreate model, but only for the
        # entities of this service: another service's entity of the same name is not in its schemas.
        own = own_entities or set()
        version = self.spec.system.api_version
        if entity is not None and action is not None:
            request = {"create": f"{entity.name}Create", "update": f"{entity.name}Update"}.get(action)
            response = {
                "list": f"{entity.name}Page",
                "get": f"{entity.name}Read",
                "create": f"{entity.name}Read",
                "update": f"{entity.name}Read",
                "delete": None,
            }[action]
            if is_async:
                response = f"{entity.name}Accepted"
            if sets:  # the operation's own values: no body
                request = None
        elif response is not None and response in own:
            response = f"{response}Read"
        if request is not None and action is None and request in own:
            request = f"{request}Create"
        return m.Operation(
            op_id=op_id,
            function=snake(op_id),
            method=method,
            path=f"/{version}{route}",
            route=route,
            action=action,
            entity=entity.name if entity else None,
            request=request,
            response=response,
            status=status,
            path_params=tuple(re.findall(r"\{([^}]*)\}", route)),
            scopes=tuple(scopes),
            idempotent=idempotent,
            is_async=is_async,
            cache_ttl=cache_ttl,
            timeout=timeout,
            summary=summary,
            handler_module=entity.snake if entity else "operations",
            page_size=page_size,
            max_page_size=max_page_size,
            sets=sets,
            publishes=publishes,
            rate_limit=rate_limit,
            query=query,
        )

    def check_route(self, route: str, path: Path_) -> bool:
        reason = unsafe_reason(route.replace("/", "")) if "/" in route else None
        if not route.startswith("/"):
            self.error(path, f"path '{route}' must start with '/'")
            return False
        segments = route.strip("/").split("/")
        for segment in segments:
            if segment in ("", ".", "..") or not PATH_SEGMENT_RE.match(segment):
                self.error(
                    path,
                    f"path '{route}' has an unsafe segment '{segment}': use lowercase words, '-' and {{param}}",
                )
                return False
        if reason == "it contains template syntax":
            self.error(path, f"path '{route}' contains template syntax")
            return False
        params = re.findall(r"\{([^}]*)\}", route)
        if len(set(params)) != len(params):
            self.error(path, f"path '{route}' repeats a parameter")
            return False
        return True

    def check_scopes(self, scopes: list[str], path: Path_) -> None:
        for index, scope in enumerate(scopes):
            if not SCOPE_RE.match(scope):
                self.error(
                    (*path, index), f"scope '{scope}' is not valid: use words joined by ':' (e.g. orders:create)"
                )

    # -- services made from a template --------------------------------------

    def templated(self, name: str, svc: ServiceSpec) -> m.TemplateService:
        """A service whose code comes from a Copier or Cookiecutter template: only what msgen deploys and routes."""
        template = svc.template
        assert template is not None
        base: Path_ = ("services", name)
        if svc.slo is not None:
            self.error(
                (*base, "slo"),
                f"service '{name}' is made from a template: msgen knows only whether it is up, not its requests",
                key=True,
            )
        for key in ("entities", "value_objects", "api", "calls", "emails"):
            if key in svc.model_fields_set and getattr(svc, key):
                self.error(
                    (*base, key),
                    f"service '{name}' is made from a template: its code is the template's, so it declares no {key}",
                    key=True,
                )
        where: Path_ = (*base, "template")
        for key in ("health", "ready", "metrics"):
            value = getattr(template, key)
            if value is not None and _bad_http_path(value):
                self.error((*where, key), f"path '{value}' has an empty, '.' or '..' segment")
        prefix: str | None = None
        read: tuple[str, ...] = ()
        write: tuple[str, ...] = ()
        if template.api is not None:
            prefix = (template.api.prefix or f"/{self.spec.system.api_version}/{kebab(name)}").rstrip("/")
            if not prefix or _bad_http_path(prefix):
                self.error(
                    (*where, "api", "prefix"),
                    f"prefix '{template.api.prefix}' must name at least one segment, none empty, '.' or '..'",
                )
            self.check_scopes(template.api.scopes.read, (*where, "api", "scopes", "read"))
            self.check_scopes(template.api.scopes.write, (*where, "api", "scopes", "write"))
            scopes = template.api.scopes
            read = tuple(scopes.read)
            # Writes need the read scopes too unless the spec says otherwise: a prefix covers unknown routes.
            write = tuple(scopes.write) if "write" in scopes.model_fields_set else read
        for variable in template.env:
            if not re.match(r"^[A-Z_][A-Z0-9_]*\Z", variable):
                self.error(
                    (*where, "env", variable),
                    f"'{variable}' is not an environment variable name: use A-Z, 0-9 and _",
                    key=True,
                )
        return m.TemplateService(
            name=name,
            package=f"{name}_service",
            kebab=f"{kebab(name)}-service",
            title=pascal(name),
            description=svc.description or f"The {name} service.",  # answers to the template, which renders them
            source=template.source,
            engine=template.engine,
            data=tuple(sorted(template.data.items())),
            trust=template.trust,
            port=template.port,
            health_path=template.health,
            ready_path=template.ready,
            metrics_path=template.metrics,
            prefix=prefix,
            read_scopes=read,
            write_scopes=write,
            app=template.app or f"{name}_service.main:app",
            own_dockerfile=template.dockerfile == "template",
            env=tuple(sorted(template.env.items())),
            ops=_ops(svc.ops, database=False),  # no database: the template brings its own storage, if any
        )

    def check_templated(self, services: list[m.Service], templated: list[m.TemplateService]) -> None:
        """A template service takes no part in events and sagas, and its prefix is its own."""
        if not templated:
            return
        names = {t.name for t in templated}
        if not services:
            self.error(("services",), "every service is made from a template: msgen needs one it generates", key=True)
        for event_name, event in self.spec.events.items():
            publishers = [event.publisher] if isinstance(event.publisher, str) else event.publisher
            places: list[tuple[Path_, str]] = [
                (("events", event_name, "publisher"), p) for p in publishers if len(publishers) == 1
            ]
            places += [(("events", event_name, "consumers", i), c) for i, c in enumerate(event.consumers)]
            for where, service in places:
                if service in names:
                    self.error(
                        where, f"service '{service}' is made from a template: it cannot publish or consume events"
                    )
        for saga_name, saga in self.spec.sagas.items():
            places = [(("sagas", saga_name, "orchestrator"), saga.orchestrator)]
            places += [(("sagas", saga_name, "steps", i, "service"), s.service) for i, s in enumerate(saga.steps)]
            for where, service in places:
                if service in names:
                    self.error(where, f"service '{service}' is made from a template: it cannot take part in a saga")
        owners: list[tuple[str, str]] = [(op.path, s.name) for s in services for op in s.operations]
        for t in templated:
            if t.prefix is None:
                continue
            for path, owner in owners:
                if _may_be_under(path, t.prefix):
                    self.error(
                        ("services", t.name, "template", "api", "prefix"),
                        f"prefix '{t.prefix}' of '{t.name}' covers '{path}' of service '{owner}': choose another prefix",
                    )
                    break
            for other in templated:
                if other.name != t.name and other.prefix is not None and _under(t.prefix, other.prefix):
                    self.error(
                        ("services", t.name, "template", "api", "prefix"),
                        f"prefix '{t.prefix}' of '{t.name}' is under the prefix of '{other.name}': choose another prefix",
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
        for cycle in _cycles(graph):
            for caller, callee in itertools.pairwise(cycle):
                index = next(i for i, c in enumerate(self.spec.services[caller].calls) if c.service == callee)
                self.error(
                    ("services", caller, "calls", index),
                    f"synchronous calls form a cycle: {' -> '.join(cycle)} (break it with an event)",
                )

    # -- events and sagas --------------------------------------------------

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
        vos = owner.value_objects if owner else {}
        fields = self.fields(publisher, None, ev.fields, (*path, "fields"), entity=False, owner_vos=dict(vos))
        if ev.key is not None and ev.key not in ev.fields:
            self.unknown((*path, "key"), "payload field", ev.key, ev.fields)
        used = {f.type.value_object or (f.type.item.value_object if f.type.item else None) for f in fields} - {None}
        value_objects: tuple[m.ValueObject, ...] = ()
        if owner is not None and used:
            value_objects = tuple(
                m.ValueObject(
                    name=vo_name,
                    fields=self.fields(
                        publisher,
                        owner,
                        vo.fields,
                        (*self.vo_path(publisher, vo_name), "fields"),
                        entity=False,
                    ),
                    description=spec_text(vo.description),
                )
                for vo_name, vo in owner.value_objects.items()
                if vo_name in _closure(used, owner)
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
            compatibility=ev.compatibility,
            fields=fields,
            value_objects=value_objects,
            description=SpecText(ev.description or f"Published by {publisher} when {name.replace('.', ' ')}."),
        )

    def check_saga_entity(self, name: str, spec: Any, orchestrator: str, path: Path_) -> None:
        for where, message in _saga_entity_problems(spec, self.spec.services[orchestrator], self.spec.events):
            self.error((*path, *where), message)

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
        if not ok or key is None:
            return None
        return m.StepBooks(
            entity=books.entity,
            key_field=key,
            field=books.field,
            applied=books.applied,
            compensated=books.compensated,
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
        if operation.request:
            callee = self.resolved_services[step.service]
            body: tuple[m.Field, ...] = ()
            for entity in callee.entities:
                if operation.request in (entity.name, f"{entity.name}Create"):
                    body = entity.writable_fields
            for vo in callee.value_objects:
                if vo.name == operation.request:
                    body = vo.fields
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
        if operation is None or operation.response is None:
            return {}
        callee = self.resolved_services[step.service]
        name = operation.response
        for entity in callee.entities:
            if name in (entity.name, f"{entity.name}Read"):
                return {"id": _ID_FIELD, **{f.name: f for f in entity.fields}}
        for vo in callee.value_objects:
            if vo.name == name:
                return {f.name: f for f in vo.fields}
        return {}

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
                    publishes=tuple(publishes),
                    records=records,
                )
            )
        self.check_saga_entity(name, spec, orch, path)
        self.check_saga_fields(spec, orch, path)
        return m.Saga(
            name=name,
            orchestrator=orch,
            start=spec.start,
            steps=tuple(steps),
            on_success=spec.on_success,
            on_failure=spec.on_failure,
            key=events[spec.start].key or "" if spec.start in events else "",
            entity=spec.entity,
            status_field=spec.status.field if spec.status else "status",
            status_started=spec.status.started if spec.status else None,
            status_completed=spec.status.completed if spec.status else None,
            status_failed=spec.status.failed if spec.status else None,
        )


_SET_BOUNDS = ("min", "max", "min_length", "max_length", "pattern")
_ID_FIELD = m.Field(
    name="id",
    type=m.FieldType(kind="uuid", python="UUID", column="sa.Uuid()", mapped="uuid.UUID"),
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
        return f"list[{field.type.item.value_object or field.type.item.kind}]"
    return field.type.value_object or field.type.kind


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
        return source.type.python == target.type.python
    return True


def _value_fits(field: m.Field, value: Any) -> bool:
    """A fixed value (`sets`) has the field's type and lies within its constraints."""
    kind, c = field.type.kind, field.constraints
    if kind == "enum":
        return value in field.type.enum_values
    if kind == "bool":
        return isinstance(value, bool)
    if kind in _NUMERIC:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind == "int" and isinstance(value, float))
        ):
            return False
        return bool(c.get("min", value) <= value <= c.get("max", value))
    if kind in _STRINGISH and isinstance(value, str):
        longest = c.get("max_length", 255 if kind == "string" else None)
        if len(value) < c.get("min_length", 0) or (longest is not None and len(value) > longest):
            return False
        return "pattern" not in c or pattern_matches(c["pattern"], value)
    return False


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


# One-line values that reach configuration files and HTTP headers: refused unless they have this shape.
_URL_RE = re.compile(r"^https?://[^\s\"'<>\\`{}|^]+$")
_URLISH: dict[str, tuple[re.Pattern[str], str]] = {
    "issuer": (re.compile(r"^[^\s\"'<>\\`{}|^$]+$"), "a URL or a name without spaces, quotes or backslashes"),
    "audience": (re.compile(r"^[^\s\"'<>\\`{}|^$]+$"), "a URL or a name without spaces, quotes or backslashes"),
    "jwks_url": (_URL_RE, "an http(s) URL without spaces, quotes or backslashes"),
    "repo_url": (re.compile(r"^(https?|ssh|git)://[^\s\"'<>\\`{}|^$]+$|^git@[^\s\"'<>\\`{}|^$]+$"), "a Git URL"),
    "origins": (
        re.compile(r"^(\*|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$"),
        "* or an origin such as https://shop.example",
    ),
    "headers": (re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"), "an HTTP header name"),
    "methods": (re.compile(r"^[A-Z]+$"), "an HTTP method in capitals"),
}


def _free_text_places(spec: SpecFile) -> Iterator[tuple[Path_, str, bool]]:
    """Every free-text string of the spec: (path, text, must be one line)."""
    if spec.system.description:
        yield ("system", "description"), spec.system.description, False
    for vo_name, vo in spec.value_objects.items():
        if vo.description:
            yield ("value_objects", vo_name, "description"), vo.description, False
        yield from _field_texts(("value_objects", vo_name, "fields"), vo.fields)
    for name, svc in spec.services.items():
        base: Path_ = ("services", name)
        if svc.description:
            yield (*base, "description"), svc.description, False
        for segment, table in (("entities", svc.entities), ("value_objects", svc.value_objects)):
            for type_name, fields in table.items():
                if fields.description:
                    yield (*base, segment, type_name, "description"), fields.description, False
                yield from _field_texts((*base, segment, type_name, "fields"), fields.fields)
        for op_name, op in svc.api.operations.items():
            if op.summary:
                yield (*base, "api", "operations", op_name, "summary"), op.summary, True
            yield from _field_texts((*base, "api", "operations", op_name, "query"), op.query)
            for field_name, value in (op.sets or {}).items():
                if isinstance(value, str):
                    yield (*base, "api", "operations", op_name, "sets", field_name), value, False
        for index, rule in enumerate(svc.emails):
            yield (*base, "emails", index, "subject"), rule.subject, True
            if rule.body:
                yield (*base, "emails", index, "body"), rule.body, False
    for name, event in spec.events.items():
        if event.description:
            yield ("events", name, "description"), event.description, False
        yield from _field_texts(("events", name, "fields"), event.fields)
    gw = spec.gateway
    if gw.auth:
        yield ("gateway", "auth", "issuer"), gw.auth.issuer, True
        yield ("gateway", "auth", "audience"), gw.auth.audience, True
        if gw.auth.jwks_url is not None:
            yield ("gateway", "auth", "jwks_url"), gw.auth.jwks_url, True
    for key in ("origins", "methods", "headers"):
        for index, value in enumerate(getattr(gw.cors, key)):
            yield ("gateway", "cors", key, index), value, True
    yield ("deploy", "repo_url"), spec.deploy.repo_url, True


_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")
_CRON_FIELD = r"[0-9A-Za-z*/,?-]+"
_OPS_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "cpu": (_QUANTITY, "a Kubernetes quantity such as 500m or 2"),
    "memory": (_QUANTITY, "a Kubernetes quantity such as 256Mi"),
    "storage": (_QUANTITY, "a Kubernetes quantity such as 10Gi"),
    "backup_schedule": (
        re.compile(rf"^(@[a-z]+|{_CRON_FIELD}( {_CRON_FIELD}){{4,5}})$"),
        "a cron schedule such as '0 3 * * *'",
    ),
    "backup_retention": (re.compile(r"^[1-9][0-9]*[dwm]$"), "a retention such as 30d, 4w or 6m"),
    "name": (re.compile(r"^[a-z_][a-z0-9_]{0,62}$"), "a database name: lowercase letters, digits and _"),
}


def _ops_values(spec: SpecFile) -> Iterator[tuple[Path_, str]]:
    """The services' operational strings that reach Kubernetes manifests as they are."""
    for name, svc in spec.services.items():
        base: Path_ = ("services", name, "ops")
        db = svc.ops.database
        for key in ("storage", "backup_schedule", "backup_retention", "name"):
            value = getattr(db, key)
            if value is not None:
                yield (*base, "database", key), value
        for kind in ("requests", "limits"):
            amounts = getattr(svc.ops.resources, kind)
            yield (*base, "resources", kind, "cpu"), amounts.cpu
            yield (*base, "resources", kind, "memory"), amounts.memory


def _field_texts(base: Path_, fields: dict[str, FieldSpec]) -> Iterator[tuple[Path_, str, bool]]:
    for fname, fspec in fields.items():
        if fspec.description:
            yield (*base, fname, "description"), fspec.description, False
        for key in ("default", "example", "pattern"):
            value = getattr(fspec, key)
            if isinstance(value, str):
                yield (*base, fname, key), value, False


def _place_name(path: Path_) -> str:
    last = path[-1]
    return f"{path[-2]}[{last}]" if isinstance(last, int) else str(last)


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


def _bad_http_path(path: str) -> bool:
    """A path with an empty, '.' or '..' segment (the one '/' alone excepted)."""
    return path != "/" and any(segment in ("", ".", "..") for segment in path[1:].split("/"))


def _under(path: str, prefix: str) -> bool:
    """/v1/search/items is under /v1/search; /v1/searches is not."""
    return path == prefix or path.startswith(prefix + "/")


def _may_be_under(path: str, prefix: str) -> bool:
    """Whether some request to the operation `path` falls under `prefix`: /v1/as/{id} may, for /v1/as/x."""
    segments, wanted = path.strip("/").split("/"), prefix.strip("/").split("/")
    return len(segments) >= len(wanted) and all(
        s == w or s.startswith("{") for s, w in zip(segments, wanted, strict=False)
    )


def _empty_saga(name: str) -> m.Saga:
    return m.Saga(name=name, orchestrator="", start="", steps=(), on_success="", on_failure="")


def _owner_name(base: Path_) -> str:
    # (... , "entities", "Product", "fields") -> "Product"; events -> the event name
    return str(base[-2])


def _crud_summary(action: str | None, entity: str | None) -> str:
    noun = entity or "item"
    return {
        "list": f"List {plural(noun)}",
        "get": f"Get {a(noun)} by id",
        "create": f"Create {a(noun)}",
        "update": f"Update {a(noun)}",
        "delete": f"Delete {a(noun)}",
    }.get(action or "", noun)


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
            todo.append(_Resolver.base_type(f.type))
    return seen


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each elementary cycle found by depth-first search, once, as [a, b, ..., a]."""
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                key = frozenset(cycle)
                if key not in seen_sets:
                    seen_sets.add(key)
                    found.append(cycle)
            elif nxt in graph and state.get(nxt) is None:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node, [])
    return found


def _ops(ops: Any, *, database: bool) -> m.Ops:
    """A service's operational settings; without a database, none of its settings."""
    return m.Ops(
        replicas_min=ops.replicas.min,
        replicas_max=ops.replicas.max,
        cpu_target=ops.cpu_target,
        requests=ops.resources.requests.model_dump(),
        limits=ops.resources.limits.model_dump(),
        cache_default_ttl=duration_seconds(ops.cache.default_ttl),
        db_instances=ops.database.instances if database else 0,
        db_storage=ops.database.storage if database else "",
        db_backup_schedule=ops.database.backup_schedule if database else "",
        db_backup_retention=ops.database.backup_retention if database else "",
    )
