"""A service's database schema as data: its entities' tables and the runtime's tables it needs.

The description types and the runtime's own tables come from `msgen_runtime.tables`, the same
description the runtime's ORM mixins are declared from; `render/migrations.py` writes the first
migration from this schema and `migrations_diff.py` compares two of them for a later revision.
"""

from __future__ import annotations

from msgen import model as m
from msgen_runtime.tables import (
    DEAD_LETTERS,
    IDEMPOTENCY_KEYS,
    INBOX,
    OUTBOX,
    OUTBOX_PARTITIONS,
    SAGA_STATES,
    SAGA_STEPS,
    STATUS_LOG,
    Column,
    Kind,
    Table,
    entity_table,
)

# Fixed widths of the kinds stored as bounded strings.
_STRING_LENGTHS = {"email": 320, "url": 2048}
_KINDS = {
    "text": Kind.TEXT,
    "int": Kind.BIG_INTEGER,
    "bool": Kind.BOOLEAN,
    "uuid": Kind.UUID,
    "ref": Kind.UUID,
    "datetime": Kind.DATETIME,
    "date": Kind.DATE,
    "object": Kind.JSON,  # a value object, stored as a document
    "list": Kind.JSON,
}


def field_column(field: m.Field) -> Column:
    """The column of an entity's field."""
    kind, nullable = field.type.kind, not field.required
    if kind == "string":
        return Column(field.name, Kind.STRING, nullable, length=field.constraints.get("max_length") or 255)
    if kind == "enum":
        return Column(field.name, Kind.STRING, nullable, length=max(len(v) for v in field.type.enum_values))
    if kind in _STRING_LENGTHS:
        return Column(field.name, Kind.STRING, nullable, length=_STRING_LENGTHS[kind])
    if kind == "decimal":
        precision, scale = field.constraints.get("precision"), field.constraints.get("scale")
        return Column(
            field.name, Kind.NUMERIC, nullable, precision=precision or 18, scale=2 if scale is None else scale
        )
    return Column(field.name, _KINDS[kind], nullable)


def entity_schema(entity: m.Entity) -> Table:
    """An entity's table: unique fields constrained, references to other services indexed."""
    return entity_table(
        entity.table,
        (field_column(f) for f in entity.fields),
        unique=[f.name for f in entity.fields if f.unique],
        indexed=[f.name for f in entity.fields if f.ref and not f.unique],
    )


def runtime_tables(service: m.Service, sagas: tuple[m.Saga, ...]) -> tuple[Table, ...]:
    """The runtime's tables the service needs: idempotency keys, outbox, inbox, dead letters, saga ledgers."""
    tables: list[Table] = []
    if any(op.idempotent for op in service.operations):
        tables.append(IDEMPOTENCY_KEYS)
    if service.publishes:
        tables += [OUTBOX, OUTBOX_PARTITIONS]
    if service.consumes:
        tables += [INBOX, DEAD_LETTERS]
    mine = [saga for saga in sagas if saga.orchestrator == service.name]
    if mine:
        tables.append(SAGA_STATES)
    if any(saga.entity for saga in mine):
        tables.append(STATUS_LOG)
    if any(step.service == service.name for saga in sagas for step in saga.steps):
        tables.append(SAGA_STEPS)
    return tuple(tables)


def service_schema(service: m.Service, sagas: tuple[m.Saga, ...]) -> tuple[Table, ...]:
    """Every table of the service's database, in the order its first migration creates them."""
    return (*(entity_schema(e) for e in service.entities), *runtime_tables(service, sagas))
