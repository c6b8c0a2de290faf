"""The resolved system model: every name, type and route the renderers need.

Built by ``resolve.py`` from a valid spec; renderers and templates read only
this, never the spec or the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple


class ModelEnum(StrEnum):
    """A closed set of the model. A member is its value: it compares, hashes, formats and prints (and its
    repr is) as that string, so a renderer writes it into generated text as it would the plain string."""

    def __repr__(self) -> str:
        return repr(self.value)


class Kind(ModelEnum):
    """A field type's kind: a scalar type of the spec, a value object, or a list."""

    STRING = "string"
    TEXT = "text"
    INT = "int"
    DECIMAL = "decimal"
    BOOL = "bool"
    UUID = "uuid"
    REF = "ref"
    DATETIME = "datetime"
    DATE = "date"
    EMAIL = "email"
    URL = "url"
    ENUM = "enum"
    OBJECT = "object"
    LIST = "list"


SCALAR_KINDS = tuple(k for k in Kind if k not in (Kind.OBJECT, Kind.LIST))
STRINGISH_KINDS = frozenset({Kind.STRING, Kind.TEXT, Kind.EMAIL, Kind.URL})
NUMERIC_KINDS = frozenset({Kind.INT, Kind.DECIMAL})


class Action(ModelEnum):
    """What a default (crud) operation does to its entity."""

    LIST = "list"
    GET = "get"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


WRITE_ACTIONS = frozenset({Action.CREATE, Action.UPDATE, Action.DELETE})


class HttpMethod(ModelEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


class Broker(ModelEnum):
    NATS = "nats"
    KAFKA = "kafka"
    RABBITMQ = "rabbitmq"


class Compatibility(ModelEnum):
    """An event schema's compatibility rule in the schema registry."""

    BACKWARD = "BACKWARD"
    FORWARD = "FORWARD"
    FULL = "FULL"
    NONE = "NONE"


class RateLimitBy(ModelEnum):
    """What the gateway counts requests per."""

    TOKEN = "token"
    IP = "ip"


class IngressKind(ModelEnum):
    HTTPROUTE = "httproute"
    INGRESS = "ingress"


class Mesh(ModelEnum):
    NONE = "none"
    ISTIO = "istio"
    LINKERD = "linkerd"


class TemplateEngine(ModelEnum):
    COPIER = "copier"
    COOKIECUTTER = "cookiecutter"


@dataclass(frozen=True)
class FieldType:
    """A field's type, in no target's terms (render/pytypes.py spells it in Python, openapi.py in JSON Schema)."""

    kind: Kind
    item: FieldType | None = None  # of a list
    value_object: ValueObject | None = None  # of an object (a list's is its item's)
    enum_class: str | None = None  # of an enum: the class it is generated as
    enum_values: tuple[str, ...] = ()


class EntityRef(NamedTuple):
    """The entity a `ref` field holds the id of: checked to exist when the spec was resolved."""

    service: str
    entity: str


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    required: bool
    unique: bool
    read_only: bool
    default: Any
    description: str | None
    constraints: dict[str, Any]  # min, max, min_length, max_length, pattern, min_items, ...
    ref: EntityRef | None = None  # the entity referenced by id, by name (what output prints)
    example: Any = None
    # The `ref`'s entity and the service owning it, as the `System` holds them (None for any other field).
    # Filled once every service exists (refs may form cycles); left out of comparison and repr.
    entity: Entity | None = field(default=None, compare=False, repr=False)
    ref_service: Service | None = field(default=None, compare=False, repr=False)

    @property
    def nullable(self) -> bool:
        return not self.required

    @property
    def has_default(self) -> bool:
        return self.default is not None


@dataclass(frozen=True)
class ValueObject:
    name: str
    fields: tuple[Field, ...]
    description: str | None


@dataclass(frozen=True)
class Entity:
    name: str  # Product
    snake: str  # product
    table: str  # products
    resource: str  # /products
    fields: tuple[Field, ...]
    description: str | None

    @property
    def writable_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.read_only)


class BodyRole(ModelEnum):
    """What an operation's request or answer model is made of."""

    VALUE_OBJECT = "value_object"  # a value object of the service, under its own name
    CREATE = "create"  # <Entity>Create: the writable fields
    UPDATE = "update"  # <Entity>Update: the writable fields, each optional
    READ = "read"  # <Entity>Read: the id, every field, the timestamps
    PAGE = "page"  # <Entity>Page: a page of <Entity>Read
    ACCEPTED = "accepted"  # <Entity>Accepted: the id and status of an async create


@dataclass(frozen=True)
class Body:
    """An operation's request or answer model, resolved in its own service: a value object, or one of
    an entity's models. An entity's name in a request is its Create model and in an answer its Read
    model only when the entity is the service's own; another service's type of that name is not there."""

    name: str  # the model class: OrderRead, OrderCreate, OrderPage, OrderAccepted, or the value object's name
    role: BodyRole
    entity: Entity | None = None
    value_object: ValueObject | None = None

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields a client sends or reads at the top level (a page's or an accepted's excepted: none)."""
        if self.value_object is not None:
            return self.value_object.fields
        if self.entity is None:
            return ()
        if self.role in (BodyRole.CREATE, BodyRole.UPDATE):
            return self.entity.writable_fields
        return self.entity.fields if self.role is BodyRole.READ else ()


@dataclass(frozen=True)
class Operation:
    op_id: str  # getProduct
    function: str  # get_product
    method: HttpMethod
    path: str  # /v1/products/{id}
    route: str  # /products/{id} (below the version prefix)
    action: Action | None  # None for a custom operation
    entity: Entity | None  # the entity a default operation (or one naming `entity`) works on
    request_body: Body | None  # the model of the request's body
    response_body: Body | None  # the model of the answer
    status: int
    path_params: tuple[str, ...]
    scopes: tuple[str, ...]
    idempotent: bool
    is_async: bool
    cache_ttl: float | None
    timeout: float | None
    summary: str
    handler_module: str  # handlers/<module>.py
    page_size: int = 50
    max_page_size: int = 200
    sets: tuple[tuple[str, Any], ...] = ()  # action update: the fixed values it gives the entity's fields
    publishes: Event | None = None  # action update: the event written to the outbox with the change
    rate_limit: tuple[int, float, RateLimitBy] | None = None  # the gateway's limit of this route: requests, period, by
    query: tuple[Field, ...] = ()  # query parameters, each one scalar value

    @property
    def request(self) -> str | None:
        """The model class of the body."""
        return self.request_body.name if self.request_body else None

    @property
    def response(self) -> str | None:
        """The model class of the answer."""
        return self.response_body.name if self.response_body else None

    @property
    def query_names(self) -> tuple[str, ...]:
        return tuple(q.name for q in self.query)

    @property
    def is_custom(self) -> bool:
        return self.action is None


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    timeout: float
    retries: int
    cache_ttl: float | None = None  # the answer of a GET call, kept this long in the caller's cache
    target: Operation | None = None  # the operation called, resolved in the callee
    # the service called (`service` is its name), as the system holds it
    callee: Service | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Ops:
    replicas_min: int
    replicas_max: int
    cpu_target: int
    requests: dict[str, str]
    limits: dict[str, str]
    cache_default_ttl: float
    db_instances: int
    db_storage: str
    db_backup_schedule: str
    db_backup_retention: str


@dataclass(frozen=True)
class ServiceSlo:
    """A service's own objectives, the system's filling what it leaves out."""

    latency_p95: float
    error_rate: float
    availability: float


@dataclass(frozen=True)
class Service:
    name: str  # order
    package: str  # order_service
    kebab: str  # order-service (k8s and distribution name)
    title: str  # Order
    description: str
    entities: tuple[Entity, ...]
    value_objects: tuple[ValueObject, ...]
    operations: tuple[Operation, ...]
    calls: tuple[Call, ...]
    publishes: tuple[Event, ...]  # the events it publishes, in the spec's order
    consumes: tuple[Event, ...]

    @property
    def publish_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.publishes)

    @property
    def consume_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.consumes)

    ops: Ops
    emails: tuple[EmailRule, ...] = ()
    slo: ServiceSlo | None = None  # its own objectives; None: the system's

    def entity(self, name: str) -> Entity:
        return next(e for e in self.entities if e.name == name)

    def handler_modules(self) -> tuple[str, ...]:
        return tuple(sorted({op.handler_module for op in self.operations}))


@dataclass(frozen=True)
class TemplateService:
    """A service whose code a Copier or Cookiecutter template made once; msgen deploys, routes and watches it."""

    name: str  # search
    package: str  # search_service (the default ASGI app's package, and an answer to the template)
    kebab: str  # search-service
    title: str  # Search
    description: str
    source: str  # the template's folder, as the spec wrote it (relative to the spec's folder)
    engine: TemplateEngine | None  # None: told by the folder
    data: tuple[tuple[str, Any], ...]  # more answers
    trust: bool  # run the template's tasks, extensions and hooks
    port: int
    health_path: str
    ready_path: str
    metrics_path: str | None
    prefix: str | None  # the gateway's path prefix; None: not routed
    read_scopes: tuple[str, ...]
    write_scopes: tuple[str, ...]
    app: str  # module:attribute, run by msgen's Dockerfile
    own_dockerfile: bool  # the template writes services/<name>/Dockerfile, msgen does not
    env: tuple[tuple[str, str], ...]
    ops: Ops

    def answers(self, system: str) -> dict[str, Any]:
        """What msgen tells the template, before the spec's own `data`."""
        return {
            "service_name": self.name,
            "package": self.package,
            "description": self.description,
            "system_name": system,
            "port": self.port,
            "api_prefix": self.prefix or "",
            "health_path": self.health_path,
            "ready_path": self.ready_path,
            "metrics_path": self.metrics_path or "",
            **dict(self.data),
        }


@dataclass(frozen=True)
class Event:
    name: str  # order.created
    version: int
    class_name: str  # OrderCreated
    topic: str  # order.created
    schema_file: str  # order.created.v1.avsc
    namespace: str  # shop.events
    publisher: str
    consumers: tuple[str, ...]
    key: str | None
    compatibility: Compatibility
    fields: tuple[Field, ...]
    value_objects: tuple[ValueObject, ...]
    description: str
    # The publisher and consumers as the `System` holds them (a service made from a template has none: None,
    # or left out), filled once every service exists; left out of comparison and repr (a service holds its
    # events, so the two refer to each other).
    publisher_service: Service | None = field(default=None, compare=False, repr=False)
    consumer_services: tuple[Service, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class StepBooks:
    """The participant's entity recording a step: a row per saga key, its status field's values."""

    entity: Entity  # of the step's service
    key_field: str
    field: str
    applied: str
    compensated: str


@dataclass(frozen=True)
class SagaStep:
    name: str
    service: str
    trigger: str
    success: str
    failure: str | None
    timeout: float
    compensation_triggers: tuple[str, ...]
    compensation_done: str | None
    status: str | None = None
    books: StepBooks | None = None
    call: str | None = None  # an operation of `service` the orchestrator calls: trigger and success are ""
    operation: Operation | None = None  # that operation, resolved in `service`
    publishes: tuple[str, ...] = ()  # events the orchestrator publishes when the step succeeded
    records: tuple[tuple[str, str], ...] = ()  # (reply field, entity field): stored on the saga's entity
    # the resolved objects of `service`, `success` and `compensation_done` (None for a call step's events)
    participant: Service | None = field(default=None, repr=False, compare=False)
    success_event: Event | None = field(default=None, repr=False, compare=False)
    compensation_done_event: Event | None = field(default=None, repr=False, compare=False)

    @property
    def compensation_trigger(self) -> str | None:
        return self.compensation_triggers[0] if self.compensation_triggers else None


@dataclass(frozen=True)
class Saga:
    name: str
    orchestrator: str
    start: str
    steps: tuple[SagaStep, ...]
    on_success: str
    on_failure: str
    key: str = ""  # the start event's key field: the saga's id
    entity: Entity | None = None  # the orchestrator's entity whose status the saga keeps
    status_field: str = "status"
    status_started: str | None = None
    status_completed: str | None = None
    status_failed: str | None = None
    # the resolved objects of `orchestrator` and `start`
    orchestrator_service: Service | None = field(default=None, repr=False, compare=False)
    start_event: Event | None = field(default=None, repr=False, compare=False)

    @property
    def const(self) -> str:
        return self.name.upper()


@dataclass(frozen=True)
class EmailRule:
    event: Event  # consumed by the rule's service
    to: str  # the payload field holding the address, or (with `lookup`) the referring field
    subject: str
    body: str
    # (service, operation's function, entity field): the address read from the entity `to` refers to
    lookup: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Gateway:
    issuer: str | None
    audience: str | None
    jwks_url: str | None
    rate_limit_requests: int
    rate_limit_period: float
    rate_limit_by: RateLimitBy
    timeout: float
    max_body: int
    cors_origins: tuple[str, ...]
    cors_methods: tuple[str, ...]
    cors_headers: tuple[str, ...]


@dataclass(frozen=True)
class Slos:
    latency_p95: float
    error_rate: float
    availability: float
    sample_ratio: float
    consumer_lag: int = 1000  # messages
    outbox_age: float = 60.0  # seconds


@dataclass(frozen=True)
class Deploy:
    """Packaging and deployment settings (the spec's `deploy`), defaults filled in."""

    kubernetes_version: str = "1.33"
    registry: str = "ghcr.io/example"
    base_image: str = "python:3.12.12-slim-bookworm"
    namespace: str = "default"
    ingress_kind: IngressKind = IngressKind.HTTPROUTE
    ingress_host: str = "api.example.com"
    ingress_class: str = "nginx"
    gateway_namespace: str | None = None  # a shared Gateway's namespace; None: msgen writes the Gateway
    controller_namespace: str | None = None  # where the pods forwarding to the gateway run, if not its own
    tls_secret: str | None = None
    mesh: Mesh = Mesh.NONE
    keda: bool = False
    canary: tuple[str, ...] = ()
    otel_collector: bool = True
    chaos: bool = False
    monitoring_namespace: str = "monitoring"
    repo_url: str = "https://github.com/example/shop.git"


@dataclass(frozen=True)
class System:
    name: str
    description: str
    broker: Broker
    api_version: str
    services: tuple[Service, ...]
    events: tuple[Event, ...]
    sagas: tuple[Saga, ...]
    gateway: Gateway
    slos: Slos
    spec_hash: str
    deploy: Deploy = field(default_factory=Deploy)
    templated: tuple[TemplateService, ...] = ()  # services made from a template, not by msgen
    # older API versions served beside api_version (None: every one the project has a frozen contract of)
    served_versions: tuple[str, ...] | None = None

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def event(self, name: str) -> Event:
        return next(e for e in self.events if e.name == name)


def entity_refs(entity: Entity, value_objects: tuple[ValueObject, ...]) -> list[tuple[tuple[str, ...], Field]]:
    """Each writable `ref` field of an entity with its path in a body: ("user_id",) for a field of the
    entity, ("lines", "product_id") for a field of the value objects in its list or object field `lines`.
    (`value_objects` is no longer read: a field holds its value object; callers still pass the service's.)"""
    found: list[tuple[tuple[str, ...], Field]] = []
    for f in entity.writable_fields:
        if f.ref is not None:
            found.append(((f.name,), f))
            continue
        kind = f.type.item if f.type.kind == Kind.LIST and f.type.item is not None else f.type
        vo = kind.value_object if kind.kind == Kind.OBJECT else None
        if vo is not None:
            found.extend(((f.name, inner.name), inner) for inner in vo.fields if inner.ref is not None)
    return found


def checked_refs(service: Service, entity: Entity) -> list[tuple[tuple[str, ...], Field]]:
    """The refs of `entity` a default create checks: those whose entity's `get` the service may call."""
    called = {(c.service, c.operation) for c in service.calls}
    return [
        (path, f)
        for path, f in entity_refs(entity, service.value_objects)
        if f.ref and (f.ref[0], f"get{f.ref[1]}") in called
    ]
