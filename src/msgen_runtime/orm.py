"""SQLAlchemy declarations from the table descriptions of `msgen_runtime.tables`.

The runtime's ORM mixins declare each column with `mapped` and their keys and indexes with `table_args`,
so their tables are the ones the generated migrations create, column for column.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import MappedColumn, declared_attr, mapped_column

from msgen_runtime.tables import Column, Kind, Table
from msgen_runtime.types import UtcDateTime

__all__ = [
    "column_type",
    "insert_ignoring_conflict",
    "insert_ignoring_conflict_statement",
    "insert_statement",
    "mapped",
    "table_args",
]


_inserts: dict[Any, sa.Insert] = {}


def insert_statement(model: type[Any]) -> sa.Insert:
    """One plain INSERT of a mapped class's table, built once and reused: the values come as parameters.

    On the table, not the class: a Core insert, without the ORM's unit of work or bulk-insert path.
    """
    statement = _inserts.get(model)
    if statement is None:
        statement = _inserts[model] = sa.insert(model.__table__)
    return statement


def insert_ignoring_conflict(dialect: str, table: sa.Table, values: dict[str, Any] | list[dict[str, Any]]) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` of one row or several, on the two databases the runtime runs on."""
    return _ignoring(dialect, table).values(values)


@functools.cache
def insert_ignoring_conflict_statement(dialect: str, table: sa.Table) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` of one row, built once per table and reused: execute it with the
    row's values as parameters (building the statement and its cache key per row cost more than the row)."""
    return _ignoring(dialect, table)


def _ignoring(dialect: str, table: sa.Table) -> Any:
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(table).on_conflict_do_nothing()


def column_type(column: Column) -> sa.types.TypeEngine[Any]:
    """The SQLAlchemy type of a described column."""
    match column.kind:
        case Kind.STRING:
            return sa.String(column.length)
        case Kind.NUMERIC:
            return sa.Numeric(column.precision, column.scale)
        case Kind.SERIAL:
            return sa.BigInteger().with_variant(sa.Integer(), "sqlite")
        case Kind.DATETIME:
            return UtcDateTime()
    return _SIMPLE[column.kind]()


_SIMPLE: dict[Kind, type[sa.types.TypeEngine[Any]]] = {
    Kind.UUID: sa.Uuid,
    Kind.TEXT: sa.Text,
    Kind.INTEGER: sa.Integer,
    Kind.BIG_INTEGER: sa.BigInteger,
    Kind.BOOLEAN: sa.Boolean,
    Kind.DATE: sa.Date,
    Kind.JSON: sa.JSON,
    Kind.BINARY: sa.LargeBinary,
}


def mapped(table: Table, name: str, **options: Any) -> MappedColumn[Any]:
    """The mapped column `name` of `table`: its type, nullability and primary key from the description.

    `options` are what only the ORM knows (`default`, `onupdate`, and `index` where the table's name is
    not fixed, as for an entity's columns).
    """
    column = table.column(name)
    if column.autoincrement is not None:
        options.setdefault("autoincrement", column.autoincrement)
    return mapped_column(
        column_type(column), primary_key=name in table.primary_key, nullable=column.nullable, **options
    )


def table_args(table: Table) -> Any:
    """A `__table_args__` directive for a mixin: the table's unique constraints and indexes, by their names."""

    def build(cls: type) -> tuple[Any, ...]:
        # new objects for every table: a constraint or an index belongs to one table only
        uniques = [sa.UniqueConstraint(*u.columns, name=u.name) for u in table.uniques]
        indexes = [sa.Index(i.name, *i.columns, unique=i.unique) for i in table.indexes]
        return (*uniques, *indexes)

    return declared_attr.directive(build)
