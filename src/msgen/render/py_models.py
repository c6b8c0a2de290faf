"""The view of a service's models.py: its entities' columns and the runtime's tables."""

from __future__ import annotations

from dataclasses import dataclass

from msgen import model as m
from msgen.names import a, sentence
from msgen.render.escape import py_docstring, py_string
from msgen.render.migrations import SaType, sa_type
from msgen.render.py_base import ImportLines, Imports
from msgen.render.pytypes import TYPE_IMPORTS, mapped_type
from msgen.tables import field_column, runtime_tables
from msgen_runtime.tables import Kind


@dataclass(frozen=True)
class Column:
    """One mapped column: `name: Mapped[annotation] = mapped_column(type, ...)`, after a comment for a ref.
    `type` is its description's SQLAlchemy type (a DATETIME is written as the runtime's UtcDateTime), `default`
    a Python literal (None: no default)."""

    name: str
    annotation: str
    type: SaType
    unique: bool
    index: bool
    nullable: bool
    default: str | None
    ref_service: str | None = None  # a ref's service and entity ("a Customer"): no foreign key across services
    ref_entity: str | None = None


@dataclass(frozen=True)
class EntityModel:
    """The ORM model of an entity: its mapped columns and its docstring (a Python literal)."""

    name: str
    table: str
    columns: tuple[Column, ...]
    doc: str


@dataclass(frozen=True)
class RuntimeModel:
    """The ORM model of one of the runtime's tables: its class, the runtime mixin, its docstring (a literal)."""

    name: str
    mixin: str
    table: str
    doc: str


@dataclass(frozen=True)
class ModelsView:
    imports: ImportLines
    entities: tuple[EntityModel, ...]
    idempotency: bool
    messaging: tuple[RuntimeModel, ...]


def models_view(service: m.Service, sagas: tuple[m.Saga, ...] = ()) -> ModelsView:
    imports = Imports()
    imports.module("sqlalchemy as sa")
    imports.add("sqlalchemy.orm", "DeclarativeBase", "Mapped", "mapped_column")
    imports.add("msgen_runtime.entities", "EntityMixin")
    entities = []
    for entity in service.entities:
        columns = []
        for f in entity.fields:
            mapped = mapped_type(f.type)
            if mapped in ("Decimal", "UUID", "date"):
                imports.add(*TYPE_IMPORTS[mapped])
            if mapped == "datetime":
                imports.add("datetime", "datetime")
            if "Any" in mapped:
                imports.add("typing", "Any")
            if f.nullable:
                mapped = f"{mapped} | None"
            column = sa_type(field_column(f))
            if column.kind == Kind.DATETIME.value:
                imports.add("msgen_runtime.types", "UtcDateTime")
            default = _column_default(f) if f.has_default else None
            if f.has_default and f.type.kind == m.Kind.DECIMAL:
                imports.add("decimal", "Decimal")
            ref_service, ref_entity = (f.ref[0], a(f.ref[1])) if f.ref else (None, None)
            columns.append(
                Column(
                    f.name,
                    mapped,
                    column,
                    f.unique,
                    bool(f.ref) and not f.unique,
                    not f.required,
                    default,
                    ref_service,
                    ref_entity,
                )
            )
        doc = py_docstring(entity.description or sentence(a(entity.name)) + ".")
        entities.append(EntityModel(entity.name, entity.table, tuple(columns), doc))
    idempotency = any(op.idempotent for op in service.operations)
    if idempotency:
        imports.add("msgen_runtime.idempotency", "IdempotencyKeyMixin")
    tables = messaging_tables(service, sagas)
    for mixin, module in (
        ("OutboxMessageMixin", "outbox"),
        ("OutboxPartitionMixin", "outbox"),
        ("InboxMessageMixin", "consumer"),
        ("DeadLetterMixin", "consumer"),
        ("SagaStateMixin", "saga"),
        ("StatusLogMixin", "saga"),
        ("SagaStepMixin", "participant"),
    ):
        if any(t.mixin == mixin for t in tables):
            imports.add(f"msgen_runtime.messaging.{module}", mixin)
    return ModelsView(imports.lines(), tuple(entities), idempotency, tables)


def _column_default(f: m.Field) -> str:
    """A column's default as a Python literal (an enum column holds the value, a decimal one a Decimal)."""
    if f.type.kind == m.Kind.DECIMAL:
        return f"Decimal({py_string(str(f.default))})"
    return py_string(f.default) if isinstance(f.default, str) else repr(f.default)


# The ORM model each runtime table gets in a service's models.py: (class, runtime mixin, docstring).


_RUNTIME_MODELS = {
    "outbox": (
        "OutboxMessage",
        "OutboxMessageMixin",
        "Events waiting to be relayed, written with the business change.",
    ),
    "outbox_partitions": ("OutboxPartition", "OutboxPartitionMixin", "The partitions of the outbox a relay claims."),
    "inbox": ("InboxMessage", "InboxMessageMixin", "Messages already handled: a redelivery has no second effect."),
    "dead_letters": ("DeadLetter", "DeadLetterMixin", "Messages that could not be handled, for msgen dlq."),
    "saga_states": ("SagaState", "SagaStateMixin", "The state of each saga this service orchestrates."),
    "status_log": ("StatusLog", "StatusLogMixin", "Every status the saga's entity went through, in order."),
    "saga_steps": (
        "SagaStep",
        "SagaStepMixin",
        "What this service did for each saga step it takes part in: each step acts once.",
    ),
}


def messaging_tables(service: m.Service, sagas: tuple[m.Saga, ...]) -> tuple[RuntimeModel, ...]:
    """The runtime's tables this service needs: outbox, inbox, dead letters, saga state, status log."""
    tables = []
    for table in runtime_tables(service, sagas):
        if table.name in _RUNTIME_MODELS:  # idempotency_keys has a model of its own
            name, mixin, doc = _RUNTIME_MODELS[table.name]
            tables.append(RuntimeModel(name=name, mixin=mixin, table=table.name, doc=py_docstring(doc)))
    return tuple(tables)
