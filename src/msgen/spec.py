"""The spec model: pydantic classes that mirror the YAML file, key for key.

Nothing here resolves a reference or knows about code generation; the
resolver (``resolve.py``) turns a valid ``SpecFile`` into a ``System``.
"""

from __future__ import annotations

import math
import os
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from msgen.patterns import PatternError, check_pattern

# A pydantic plugin observes an application's models; msgen's own spec has nothing for one to observe,
# and finding plugins reads every installed package's entry points (importlib.metadata: 0.03-0.04 s of
# each run). Off while this module's models are built (their validators are made here), then as it was.
_PLUGINS = "PYDANTIC_DISABLE_PLUGINS"
_plugins_before = os.environ.get(_PLUGINS)
os.environ[_PLUGINS] = "__all__"

SCALAR_TYPES = (
    "string",
    "text",
    "int",
    "decimal",
    "bool",
    "uuid",
    "datetime",
    "date",
    "email",
    "url",
    "enum",
    "ref",
)
CRUD_OPERATIONS = ("list", "get", "create", "update", "delete")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BROKERS = ("nats", "kafka", "rabbitmq")

DURATION_PATTERN = r"^[0-9]+(\.[0-9]+)?(ms|s|m|h|d)$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
SIZE_PATTERN = r"^[0-9]+(B|KiB|MiB|GiB)$"
_SIZE_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
PERCENT_PATTERN = r"^[0-9]+(\.[0-9]+)?%$"


def duration_seconds(text: str) -> float:
    """'300ms' -> 0.3; the text was checked against DURATION_PATTERN."""
    match = _DURATION_RE.match(text)
    assert match is not None
    unit = match.group(2)
    return float(text[: -len(unit)]) * _UNIT_SECONDS[unit]


def size_bytes(text: str) -> int:
    """'1MiB' -> 1048576; the text was checked against SIZE_PATTERN."""
    for unit in ("KiB", "MiB", "GiB", "B"):
        if text.endswith(unit):
            return int(text[: -len(unit)]) * _SIZE_UNITS[unit]
    raise AssertionError(text)


def percent(text: str) -> float:
    """'99.9%' -> 0.999."""
    return float(text[:-1]) / 100.0


DurationStr = Annotated[
    str,
    StringConstraints(pattern=DURATION_PATTERN),
    Field(description="A duration such as 300ms, 30s, 5m, 1h or 1d."),
]

MAX_MIN_LENGTH = 10_000  # a string's smallest length: the generated examples are that long
MAX_LENGTH = 100_000_000
MAX_MIN_ITEMS = 1_000  # a list's fewest items: the generated examples hold that many
MAX_ITEMS = 1_000_000


class ItemError(ValueError):
    """A validator's problem with one part of the value it was given, at `path` from that value.

    The spec's file:line:col then points at that part (a list's item), not at the key above it.
    """

    def __init__(self, message: str, *path: str | int) -> None:
        super().__init__(message)
        self.path = path


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(Strict):
    """One typed field of an entity, a value object or an event payload."""

    type: str = Field(
        description=(
            "A scalar type (" + ", ".join(SCALAR_TYPES) + "), the name of a value object "
            "of the same service, or list[<value object or scalar>]."
        )
    )
    required: bool = True
    unique: bool = False
    default: str | int | float | bool | None = None
    description: str | None = None
    example: str | int | float | bool | None = Field(
        None, description="A valid value, used in the contract and in generated tests (needed with a pattern)."
    )
    read_only: bool = Field(False, description="Set by the service, not by clients.")
    values: list[str] | None = Field(None, description="The allowed values of an enum.")
    to: str | None = Field(None, description="For type ref: <service>.<Entity>, referenced by id only.")
    min: float | None = None
    max: float | None = None
    # Bounded: the examples, contracts and tests msgen writes hold values this long (docs/spec.md, "Limits").
    min_length: int | None = Field(None, ge=0, le=MAX_MIN_LENGTH)
    max_length: int | None = Field(None, ge=1, le=MAX_LENGTH)
    pattern: str | None = None
    min_items: int | None = Field(None, ge=0, le=MAX_MIN_ITEMS)
    max_items: int | None = Field(None, ge=1, le=MAX_ITEMS)
    precision: int | None = Field(None, ge=1, le=38)
    scale: int | None = Field(None, ge=0, le=38)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `price: decimal` is short for `price: {type: decimal}`.
        if isinstance(data, str):
            return {"type": data}
        return data

    @field_validator("min", "max", "default", "example")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        # .nan and .inf are YAML floats, but no contract, column or Python literal can carry them.
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_pattern(value)
            except PatternError as exc:
                raise ValueError(str(exc)) from None
        return value


class Fields(Strict):
    fields: dict[str, FieldSpec] = Field(min_length=1)
    description: str | None = None


class EntitySpec(Fields):
    """A table owned by one service; it gets a uuid `id` and timestamps."""


class ValueObjectSpec(Fields):
    """A nested structure stored inside an entity (as JSON), never on its own."""


class CrudScopes(Strict):
    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)


CrudAction = Literal["list", "get", "create", "update", "delete"]


def _all_crud() -> list[CrudAction]:
    return ["list", "get", "create", "update", "delete"]


class CrudSpec(Strict):
    operations: list[CrudAction] = Field(default_factory=_all_crud)
    scopes: CrudScopes = Field(default_factory=CrudScopes)
    cache_ttl: DurationStr | None = None
    idempotent_create: bool = False
    page_size: int = Field(50, ge=1, le=1000)
    max_page_size: int = Field(200, ge=1, le=10000)

    @model_validator(mode="after")
    def _page_sizes(self) -> CrudSpec:
        if self.page_size > self.max_page_size:
            raise ValueError(f"page_size ({self.page_size}) is above max_page_size ({self.max_page_size})")
        return self


class OperationSpec(Strict):
    """A custom HTTP operation; `action` lets msgen implement it on an entity."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str = Field(description="Path under the API version prefix, e.g. /orders/{id}/cancel.")
    summary: str | None = None
    entity: str | None = Field(None, description="The entity the action works on.")
    action: Literal["list", "get", "create", "update", "delete"] | None = None
    request: str | None = Field(None, description="An entity or value object of this service.")
    query: dict[str, FieldSpec] = Field(
        default_factory=dict,
        description="Query parameters: name -> a scalar field (type, constraints, required, default).",
    )
    response: str | None = Field(None, description="An entity or value object of this service.")
    status: int | None = Field(None, ge=200, le=299)
    scopes: list[str] = Field(default_factory=list)
    idempotent: bool = Field(False, description="Retries with the same Idempotency-Key must have one effect.")
    async_: bool = Field(False, alias="async", description="Answers 202 with a status resource.")
    cache_ttl: DurationStr | None = Field(
        None, description="A GET operation's answer is kept this long, per path and query parameters."
    )
    timeout: DurationStr | None = None
    sets: dict[str, str | int | float | bool] | None = Field(
        None,
        description="With action: update, the values the operation gives the entity's fields "
        "(POST /accounts/{id}/suspend sets status: SUSPENDED); it takes no body.",
    )
    publishes: str | None = Field(
        None,
        description="With action: update, an event of this service, built from the updated entity and "
        "written to the outbox in the same transaction.",
    )
    rate_limit: RateLimitSpec | None = Field(
        None, description="The gateway's limit for this route, instead of gateway.rate_limit."
    )


class ApiSpec(Strict):
    crud: dict[str, CrudSpec] = Field(default_factory=dict)
    operations: dict[str, OperationSpec] = Field(default_factory=dict)

    @field_validator("crud", mode="before")
    @classmethod
    def _crud_list(cls, value: Any) -> Any:
        # `crud: [Product]` is short for `crud: {Product: {}}`.
        if not isinstance(value, list):
            return value
        seen: set[str] = set()
        for index, name in enumerate(value):
            if not isinstance(name, str):
                raise ItemError("each item of a crud list is an entity's name; this one is not", index)
            if name in seen:
                raise ItemError(f"{name!r} is listed twice", index)
            seen.add(name)
        return {name: {} for name in value}


class CallSpec(Strict):
    """A synchronous call from this service to an operation of another."""

    service: str
    operation: str
    timeout: DurationStr = "500ms"
    retries: int = Field(2, ge=0, le=10)
    cache_ttl: DurationStr | None = Field(
        None, description="Keep the answer of this GET call this long, in the caller's cache (cache-aside)."
    )


class DatabaseSpec(Strict):
    engine: Literal["postgres"] = "postgres"
    name: str | None = None
    instances: int = Field(2, ge=1, le=9, description="PostgreSQL instances (one primary, the rest replicas).")
    storage: str = "10Gi"
    backup_schedule: str = "0 3 * * *"
    backup_retention: str = "30d"


class CacheSpec(Strict):
    default_ttl: DurationStr = "60s"


class ReplicasSpec(Strict):
    min: int = Field(3, ge=1)
    max: int = Field(15, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ReplicasSpec:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class ResourceAmounts(Strict):
    cpu: str
    memory: str


class ResourcesSpec(Strict):
    requests: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu="100m", memory="128Mi"))
    limits: ResourceAmounts = Field(default_factory=lambda: ResourceAmounts(cpu="500m", memory="256Mi"))


class OpsSpec(Strict):
    database: DatabaseSpec = Field(default_factory=DatabaseSpec)
    cache: CacheSpec = Field(default_factory=CacheSpec)
    replicas: ReplicasSpec = Field(default_factory=ReplicasSpec)
    cpu_target: int = Field(60, ge=1, le=100)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)


class EmailLookupSpec(Strict):
    """The recipient's address read from the entity a payload field refers to."""

    ref: str = Field(
        description="A payload field of type ref (<service>.<Entity>): the service calls that service's "
        "get<Entity> operation (listed in its calls) to read the entity."
    )
    field: str = Field(description="The entity's field that holds the address (type email or string).")


class EmailSpec(Strict):
    """A mail the service sends when it receives an event."""

    on: str = Field(description="An event this service consumes.")
    to: str | EmailLookupSpec = Field(
        description="The payload field holding the recipient's address, or {ref, field}: the address read "
        "from the entity a payload field refers to."
    )
    subject: str = Field(description="The subject; {field} is replaced by the payload's field.")
    body: str | None = Field(None, description="The text; {field} placeholders as in the subject.")


TEMPLATE_ENGINES = ("copier", "cookiecutter")
HTTP_PATH_PATTERN = r"^/[A-Za-z0-9._~/-]*$"


class TemplateApiSpec(Strict):
    """What the gateway forwards to a template service: one path prefix, with scopes for reads and writes."""

    prefix: str | None = Field(
        None,
        pattern=HTTP_PATH_PATTERN,
        description="The public path prefix; the gateway forwards it and everything under it, unchanged "
        "(default: /<api_version>/<service name with - for _>).",
    )
    scopes: CrudScopes = Field(
        default_factory=CrudScopes,
        description="read: for GET and HEAD; write: for POST, PUT, PATCH and DELETE (default: the read scopes).",
    )


class TemplateSpec(Strict):
    """A service msgen does not generate: its code comes from a Copier or Cookiecutter template, once."""

    source: str = Field(
        min_length=1, description="The template's folder (a local path, relative to the spec's folder)."
    )
    engine: Literal["copier", "cookiecutter"] | None = Field(
        None, description="Default: copier when the folder holds copier.yml or copier.yaml, else cookiecutter."
    )
    data: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="More answers for the template's questions."
    )
    trust: bool = Field(
        False, description="Run the template's own code: Copier tasks and extensions, Cookiecutter hooks."
    )
    port: int = Field(8000, ge=1, le=65535, description="The port the service listens on in its container.")
    health: str = Field("/healthz", pattern=HTTP_PATH_PATTERN, description="The liveness and startup probe's path.")
    ready: str = Field("/readyz", pattern=HTTP_PATH_PATTERN, description="The readiness probe's path.")
    metrics: str | None = Field(
        "/metrics", pattern=HTTP_PATH_PATTERN, description="Where Prometheus scrapes; null: not scraped."
    )
    api: TemplateApiSpec | None = Field(
        default_factory=TemplateApiSpec, description="The gateway route; null: an internal service."
    )
    app: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$",
        description="The ASGI app msgen's Dockerfile runs with uvicorn (default: <name>_service.main:app).",
    )
    dockerfile: Literal["msgen", "template"] = Field(
        "msgen", description="Who writes services/<name>/Dockerfile: msgen, or the template (its own)."
    )
    env: dict[str, str] = Field(default_factory=dict, description="More environment variables (its ConfigMap).")


class ServiceSpec(Strict):
    description: str | None = None
    template: TemplateSpec | None = Field(
        None, description="Generated from a Copier or Cookiecutter template instead of by msgen."
    )
    entities: dict[str, EntitySpec] = Field(default_factory=dict)
    value_objects: dict[str, ValueObjectSpec] = Field(default_factory=dict)
    api: ApiSpec = Field(default_factory=ApiSpec)
    calls: list[CallSpec] = Field(default_factory=list)
    emails: list[EmailSpec] = Field(default_factory=list)
    ops: OpsSpec = Field(default_factory=OpsSpec)
    slo: ServiceSloSpec | None = Field(
        None, description="The service's own objectives for its alert rules (default: observability.slos)."
    )


class EventSpec(Strict):
    version: int = Field(1, ge=1)
    description: str | None = None
    publisher: str | list[str] = Field(description="The one service that publishes the event.")
    consumers: list[str] = Field(default_factory=list)
    key: str | None = Field(None, description="The payload field that orders messages (the aggregate id).")
    compatibility: Literal["BACKWARD", "FORWARD", "FULL", "NONE"] = "BACKWARD"
    fields: dict[str, FieldSpec] = Field(min_length=1)


class CompensationSpec(Strict):
    trigger: str | list[str] = Field(
        description="The event (or events) that make the step's service undo its work; list the saga's "
        "on_failure event too, so that a timeout, which the orchestrator ends with it, also undoes the step."
    )
    done: str | None = Field(
        None,
        description="The event the step's service publishes once undone; none when the saga's on_failure "
        "event is the only trigger (the saga has ended: nothing waits for it).",
    )


class StepBooksSpec(Strict):
    """The participant's entity that records a step: one row per saga, created when the step acts."""

    entity: str = Field(description="An entity of the step's service with a field named as the saga's key.")
    field: str = Field("status", description="Its enum field that tells what the step did.")
    applied: str = Field(description="The status of a row the step created (e.g. AUTHORIZED, RESERVED).")
    compensated: str = Field(description="The status once the step is undone (e.g. REFUNDED, RELEASED).")


class SagaStepSpec(Strict):
    name: str
    service: str
    trigger: str | None = Field(
        None,
        description="The event that starts the step: the saga's start, the previous step's success, or an "
        "event the orchestrator publishes (an earlier step's `publishes`, or one it publishes when the step "
        "begins). Not with `call`.",
    )
    success: str | None = Field(None, description="The event the step's service publishes when it succeeded.")
    failure: str | None = None
    call: str | None = Field(
        None,
        description="An operation of the step's service that the orchestrator calls (listed in its calls) "
        "instead of an event exchange: a 2xx answer is the step's success, a 4xx its failure.",
    )
    publishes: str | list[str] | None = Field(
        None, description="Events the orchestrator publishes when the step succeeded (e.g. job.assigned)."
    )
    records: dict[str, str] | None = Field(
        None,
        description="Fields of the step's success event (or the call's answer) stored on the saga's entity: "
        "<reply field>: <entity field>.",
    )
    timeout: DurationStr = "30s"
    compensation: CompensationSpec | None = None
    status: str | None = Field(None, description="The status the saga's entity takes when this step succeeds.")
    books: StepBooksSpec | None = Field(
        None,
        description="The entity the step's default handlers keep their books in; a step with books holds "
        "something, so it needs a compensation that the saga's on_failure event triggers.",
    )


class SagaStatusSpec(Strict):
    """The statuses a saga gives its entity (values of one of its enum fields)."""

    field: str = "status"
    started: str | None = None
    completed: str | None = None
    failed: str | None = None


class SagaSpec(Strict):
    orchestrator: str
    start: str = Field(description="The event, published by the orchestrator, that starts the saga.")
    steps: list[SagaStepSpec] = Field(min_length=1)
    on_success: str
    on_failure: str
    entity: str | None = Field(None, description="The orchestrator's entity the saga is about; its id is the key.")
    status: SagaStatusSpec | None = None


class AuthSpec(Strict):
    issuer: str
    audience: str
    jwks_url: str | None = None


class RateLimitSpec(Strict):
    requests: int = Field(100, ge=1)
    per: DurationStr = "1s"
    by: Literal["token", "ip"] = "token"

    @field_validator("per")
    @classmethod
    def _longer_than_zero(cls, value: str) -> str:
        if duration_seconds(value) <= 0:
            raise ValueError("a rate limit's period must be longer than 0")
        return value


class CorsSpec(Strict):
    origins: list[str] = Field(default_factory=list)
    methods: list[str] = Field(default_factory=lambda: list(HTTP_METHODS))
    headers: list[str] = Field(default_factory=lambda: ["Authorization", "Content-Type", "Last-Event-ID"])


class GatewaySpec(Strict):
    auth: AuthSpec | None = None
    rate_limit: RateLimitSpec = Field(default_factory=RateLimitSpec)
    timeout: DurationStr = "5s"
    max_body: str = Field("1MiB", pattern=SIZE_PATTERN)
    cors: CorsSpec = Field(default_factory=CorsSpec)


class SloSpec(Strict):
    latency_p95: DurationStr = "300ms"
    error_rate: str = Field("0.5%", pattern=PERCENT_PATTERN)
    availability: str = Field("99.9%", pattern=PERCENT_PATTERN)


class ServiceSloSpec(Strict):
    """A service's own objectives; a key left out is the system's (observability.slos)."""

    latency_p95: DurationStr | None = None
    error_rate: str | None = Field(None, pattern=PERCENT_PATTERN)
    availability: str | None = Field(None, pattern=PERCENT_PATTERN)


class TracingSpec(Strict):
    sample_ratio: float = Field(0.01, ge=0.0, le=1.0)


class AlertsSpec(Strict):
    consumer_lag: int = Field(1000, ge=1, description="Messages a consumer may lag behind before an alert.")
    outbox_age: DurationStr = Field("60s", description="Age of the oldest unpublished outbox row that alerts.")


class ObservabilitySpec(Strict):
    tracing: TracingSpec = Field(default_factory=TracingSpec)
    slos: SloSpec = Field(default_factory=SloSpec)
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)


IMAGE_PATTERN = r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
HOST_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
K8S_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class IngressSpec(Strict):
    kind: Literal["httproute", "ingress"] = Field(
        "httproute", description="A Gateway API Gateway and HTTPRoute, or an Ingress."
    )
    host: str = Field("api.example.com", pattern=HOST_PATTERN)
    class_name: str = Field(
        "nginx",
        pattern=K8S_NAME_PATTERN,
        description="The GatewayClass of the Gateway msgen writes; with gateway_namespace, the name of the shared "
        "Gateway the HTTPRoute attaches to; with kind ingress, the IngressClass.",
    )
    gateway_namespace: str | None = Field(
        None,
        pattern=K8S_NAME_PATTERN,
        description="Attach the HTTPRoute to the Gateway `class_name` of this namespace instead of writing one.",
    )
    controller_namespace: str | None = Field(
        None,
        pattern=K8S_NAME_PATTERN,
        description="Where the pods that forward to the gateway run (NetworkPolicy); default: the Gateway's own "
        "pods, gateway_namespace, or ingress-nginx for an Ingress.",
    )
    tls_secret: str | None = Field(None, pattern=K8S_NAME_PATTERN, description="The TLS certificate's Secret.")


class DeploySpec(Strict):
    """How the system is packaged and deployed: images, Kubernetes, mesh and extras."""

    kubernetes_version: str = Field("1.33", pattern=r"^1\.[0-9]{2}$", description="The Kubernetes minor version.")
    registry: str = Field("ghcr.io/example", pattern=r"^[a-z0-9][a-z0-9._:/-]*[a-z0-9]$")
    base_image: str = Field(
        "python:3.12.12-slim-bookworm",
        pattern=IMAGE_PATTERN,
        description="The Python base image, pinned by tag or digest (never latest).",
    )
    namespace: str | None = Field(None, pattern=K8S_NAME_PATTERN, description="Default: the system's name.")
    ingress: IngressSpec = Field(default_factory=IngressSpec)
    mesh: Literal["none", "istio", "linkerd"] = "none"
    keda: bool = Field(False, description="Scale event consumers on consumer lag with KEDA.")
    canary: list[str] = Field(default_factory=list, description="Services rolled out as Argo Rollouts canaries.")
    otel_collector: bool = Field(True, description="An OpenTelemetry Collector with tail sampling.")
    chaos: bool = Field(False, description="A Litmus pod-delete experiment in the dev overlay.")
    monitoring_namespace: str = Field("monitoring", pattern=K8S_NAME_PATTERN)
    repo_url: str = Field("https://github.com/example/shop.git", description="The Git repository Argo CD syncs.")


class SystemSpec(Strict):
    name: str
    description: str | None = None
    broker: Literal["nats", "kafka", "rabbitmq"] = "nats"
    api_version: str = Field("v1", pattern=r"^v[0-9]+$")
    served_versions: list[Annotated[str, Field(pattern=r"^v[0-9]+$")]] | None = Field(
        None,
        description="Older API versions still served beside api_version, from their frozen contracts "
        "(default: every older version the project has; [] stops serving them).",
    )


class SpecFile(Strict):
    """A whole msgen spec, version 1."""

    msgen: Literal[1] = Field(description="The spec language version.")

    @field_validator("msgen", mode="before")
    @classmethod
    def _a_version_number(cls, value: object) -> object:
        if isinstance(value, bool | float):  # `true` and `1.0` are not the version 1
            raise ValueError(f"the spec language version is a whole number, like 1, not {value!r}")
        return value

    system: SystemSpec
    value_objects: dict[str, ValueObjectSpec] = Field(
        default_factory=dict,
        description="Value objects shared by services: declared once, each service that uses one by name "
        "gets the same model in its code and contract.",
    )
    services: dict[str, ServiceSpec] = Field(min_length=1)
    events: dict[str, EventSpec] = Field(default_factory=dict)
    sagas: dict[str, SagaSpec] = Field(default_factory=dict)
    gateway: GatewaySpec = Field(default_factory=GatewaySpec)
    observability: ObservabilitySpec = Field(default_factory=ObservabilitySpec)
    deploy: DeploySpec = Field(default_factory=DeploySpec)


if _plugins_before is None:
    del os.environ[_PLUGINS]
else:
    os.environ[_PLUGINS] = _plugins_before
