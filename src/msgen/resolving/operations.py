"""Operations: the default (crud) ones and the custom ones, their routes, bodies, query parameters and `sets`."""

from __future__ import annotations

import re
from typing import Any

from msgen import model as m
from msgen.errors import did_you_mean
from msgen.loader import Path_
from msgen.names import GENERATED_ARGUMENTS, PATH_SEGMENT_RE, a, param_var, pascal, plural, snake, unsafe_reason
from msgen.patterns import pattern_matches
from msgen.resolving.fields import FieldChecks
from msgen.spec import OperationSpec, ServiceSpec, duration_seconds
from msgen.text import SpecText

_DEFAULT_STATUS = {
    m.Action.LIST: 200,
    m.Action.GET: 200,
    m.Action.CREATE: 201,
    m.Action.UPDATE: 200,
    m.Action.DELETE: 204,
}


_ACTION_METHOD = {
    m.Action.LIST: m.HttpMethod.GET,
    m.Action.GET: m.HttpMethod.GET,
    m.Action.CREATE: m.HttpMethod.POST,
    m.Action.UPDATE: m.HttpMethod.PATCH,
    m.Action.DELETE: m.HttpMethod.DELETE,
}


class OperationChecks(FieldChecks):
    """A service's operations, checked and built; a request or answer is found in the service's own types."""

    def operations(
        self, service: str, svc: ServiceSpec, entities: dict[str, m.Entity], value_objects: dict[str, m.ValueObject]
    ) -> tuple[m.Operation, ...]:
        base: Path_ = ("services", service, "api")
        ops: list[tuple[Path_, m.Operation]] = []
        for e_name, crud in svc.api.crud.items():
            path = (*base, "crud", e_name)
            if e_name not in entities:
                self.unknown(path, "entity", e_name, entities)
                continue
            ent = entities[e_name]
            ttl = duration_seconds(crud.cache_ttl) if crud.cache_ttl else None
            for action in map(m.Action, crud.operations):
                write = action in m.WRITE_ACTIONS
                route = ent.resource if action in (m.Action.LIST, m.Action.CREATE) else f"{ent.resource}/{{id}}"
                op_id = f"{action}{pascal(plural(e_name))}" if action is m.Action.LIST else f"{action}{e_name}"
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
                            idempotent=action is m.Action.CREATE and crud.idempotent_create,
                            is_async=False,
                            cache_ttl=ttl if action is m.Action.GET else None,
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
            resolved = self.custom_operation(op_name, op, svc, entities, value_objects, path)
            if resolved is not None:
                ops.append((path, resolved))
        seen_ids: dict[str, m.Operation] = {}
        seen_routes: dict[tuple[str, str], str] = {}
        for path, item in ops:
            first = seen_ids.get(item.op_id)
            if first is not None:
                origin = f"the crud of {first.entity.name}" if first.action and first.entity else "another operation"
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
        self,
        op_name: str,
        op: OperationSpec,
        svc: ServiceSpec,
        entities: dict[str, m.Entity],
        value_objects: dict[str, m.ValueObject],
        path: Path_,
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
        action = m.Action(op.action) if op.action is not None else None
        allowed_methods: tuple[str, ...] = ()
        if action is m.Action.UPDATE:
            allowed_methods = ("PATCH", "PUT", "POST") if op.sets else ("PATCH", "PUT")
        elif action is not None:
            allowed_methods = (_ACTION_METHOD[action],)
        if action is not None and op.method not in allowed_methods:
            expected = " or ".join(allowed_methods)
            hint = " (POST too, with 'sets')" if op.action == "update" else ""
            self.error((*path, "method"), f"action '{op.action}' is served with {expected}{hint}, not {op.method}")
            return None
        if op.cache_ttl is not None and (op.method != "GET" or (op.action is None and op.response is None)):
            why = f"not a {op.method}" if op.method != "GET" else "this one has no 'response' to keep"
            self.error((*path, "cache_ttl"), f"cache_ttl keeps the answer of a GET operation: {why}")
            return None
        status = op.status or (202 if op.async_ else _DEFAULT_STATUS[action] if action is not None else 200)
        if op.async_ and status != 202:
            self.error((*path, "status"), "an async operation answers 202 Accepted")
        return self.make_op(
            op_id=op_name,
            method=m.HttpMethod(op.method),
            route=op.path,
            action=action,
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
            publishes=self.resolved_events.get(op.publishes) if op.publishes else None,
            rate_limit=(
                (op.rate_limit.requests, duration_seconds(op.rate_limit.per), m.RateLimitBy(op.rate_limit.by))
                if op.rate_limit
                else None
            ),
            query=query,
            own_entities=entities,
            own_value_objects=value_objects,
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
        method: m.HttpMethod,
        route: str,
        action: m.Action | None,
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
        publishes: m.Event | None = None,
        rate_limit: tuple[int, float, m.RateLimitBy] | None = None,
        query: tuple[m.Field, ...] = (),
        own_entities: dict[str, m.Entity] | None = None,
        own_value_objects: dict[str, m.ValueObject] | None = None,
    ) -> m.Operation:
        version = self.spec.system.api_version
        request_body = response_body = None
        if entity is not None and action is not None:
            if action in _REQUEST_ROLE and not sets:  # with `sets`, the operation's own values: no body
                request_body = _entity_body(entity, _REQUEST_ROLE[action])
            if is_async:
                response_body = _entity_body(entity, m.BodyRole.ACCEPTED)
            elif action is not m.Action.DELETE:
                response_body = _entity_body(entity, m.BodyRole.PAGE if action is m.Action.LIST else m.BodyRole.READ)
        else:
            response_body = _named_body(response, m.BodyRole.READ, own_entities or {}, own_value_objects or {})
        if action is None:
            request_body = _named_body(request, m.BodyRole.CREATE, own_entities or {}, own_value_objects or {})
        return m.Operation(
            op_id=op_id,
            function=snake(op_id),
            method=method,
            path=f"/{version}{route}",
            route=route,
            action=action,
            entity=entity,
            request_body=request_body,
            response_body=response_body,
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
                    path, f"path '{route}' has an unsafe segment '{segment}': use lowercase words, '-' and {{param}}"
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


_SET_BOUNDS = ("min", "max", "min_length", "max_length", "pattern")


def _value_fits(field: m.Field, value: Any) -> bool:
    """A fixed value (`sets`) has the field's type and lies within its constraints."""
    kind, c = field.type.kind, field.constraints
    if kind == "enum":
        return value in field.type.enum_values
    if kind == "bool":
        return isinstance(value, bool)
    if kind in m.NUMERIC_KINDS:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind == "int" and isinstance(value, float))
        ):
            return False
        return bool(c.get("min", value) <= value <= c.get("max", value))
    if kind in m.STRINGISH_KINDS and isinstance(value, str):
        longest = c.get("max_length", 255 if kind == "string" else None)
        if len(value) < c.get("min_length", 0) or (longest is not None and len(value) > longest):
            return False
        return "pattern" not in c or pattern_matches(c["pattern"], value)
    return False


_REQUEST_ROLE = {m.Action.CREATE: m.BodyRole.CREATE, m.Action.UPDATE: m.BodyRole.UPDATE}


_BODY_SUFFIX = {
    m.BodyRole.CREATE: "Create",
    m.BodyRole.UPDATE: "Update",
    m.BodyRole.READ: "Read",
    m.BodyRole.PAGE: "Page",
    m.BodyRole.ACCEPTED: "Accepted",
}


def _entity_body(entity: m.Entity, role: m.BodyRole) -> m.Body:
    return m.Body(name=entity.name + _BODY_SUFFIX[role], role=role, entity=entity)


def _named_body(
    name: str | None, role: m.BodyRole, entities: dict[str, m.Entity], value_objects: dict[str, m.ValueObject]
) -> m.Body | None:
    """The model a custom operation names as its request or response, found in its own service only: an
    entity there is its Create (request) or Read (answer) model, a value object is itself."""
    if name is None:
        return None
    if name in entities:
        return _entity_body(entities[name], role)
    vo = value_objects.get(name)
    if vo is None:  # reported: the operation is not built
        raise AssertionError(f"{name} is no type of the service")
    return m.Body(name=name, role=m.BodyRole.VALUE_OBJECT, value_object=vo)


def _crud_summary(action: str | None, entity: str | None) -> str:
    noun = entity or "item"
    return {
        "list": f"List {plural(noun)}",
        "get": f"Get {a(noun)} by id",
        "create": f"Create {a(noun)}",
        "update": f"Update {a(noun)}",
        "delete": f"Delete {a(noun)}",
    }.get(action or "", noun)
