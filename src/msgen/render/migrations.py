"""Alembic operations written from table descriptions: the migration that creates a service's tables.

The tables come from `msgen.tables` (the service's schema as data); this module only spells them as
the lines of Python Alembic runs. `migrations_diff.py` uses the same spelling for later revisions.
"""

from __future__ import annotations

from typing import Any

from msgen import model as m
from msgen.tables import service_schema
from msgen_runtime.tables import MESSAGING_TABLES, Column, Index, Kind, Table

_TYPES = {
    Kind.UUID: "sa.Uuid()",
    Kind.TEXT: "sa.Text()",
    Kind.INTEGER: "sa.Integer()",
    Kind.BIG_INTEGER: "sa.BigInteger()",
    Kind.SERIAL: 'sa.BigInteger().with_variant(sa.Integer(), "sqlite")',
    Kind.BOOLEAN: "sa.Boolean()",
    Kind.DATE: "sa.Date()",
    Kind.DATETIME: "sa.DateTime(timezone=True)",
    Kind.JSON: "sa.JSON()",
    Kind.BINARY: "sa.LargeBinary()",
}
# The messaging tables' indexes have always been written with an explicit `unique=`: kept, so that the
# migrations of existing projects and the ones written now read the same.
_EXPLICIT_UNIQUE = frozenset(t.name for t in MESSAGING_TABLES)


def type_expr(column: Column) -> str:
    """The column's SQLAlchemy type, as an expression in a migration."""
    if column.kind is Kind.STRING:
        return f"sa.String({column.length})"
    if column.kind is Kind.NUMERIC:
        return f"sa.Numeric({column.precision}, {column.scale})"
    return _TYPES[column.kind]


def column_expr(column: Column, *, nullable: bool | None = None, server_default: str | None = None) -> str:
    """`sa.Column(...)` for the column; `nullable` overrides the description's."""
    args = [f'"{column.name}"', type_expr(column)]
    if column.autoincrement is not None:
        args.append(f"autoincrement={column.autoincrement}")
    args.append(f"nullable={column.nullable if nullable is None else nullable}")
    if server_default is not None:
        args.append(f"server_default={server_default}")
    return f"sa.Column({', '.join(args)})"


def _names(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def create_table(table: Table) -> str:
    items = [column_expr(c) for c in table.columns]
    items.append(f'sa.PrimaryKeyConstraint({_names(table.primary_key)}, name="{table.primary_key_name}")')
    items += [f'sa.UniqueConstraint({_names(u.columns)}, name="{u.name}")' for u in table.uniques]
    return f'op.create_table("{table.name}", ' + ", ".join(items) + ")"


def create_index(table: Table, index: Index) -> str:
    unique = f", unique={index.unique}" if index.unique or table.name in _EXPLICIT_UNIQUE else ""
    return f'op.create_index("{index.name}", "{table.name}", [{_names(index.columns)}]{unique})'


def drop_index(table: Table, index: Index) -> str:
    return f'op.drop_index("{index.name}", table_name="{table.name}")'


def drop_table(table: Table) -> str:
    return f'op.drop_table("{table.name}")'


def table_ops(table: Table) -> tuple[list[str], list[str]]:
    """(the statements that create the table, those that drop it)."""
    up = [create_table(table), *(create_index(table, ix) for ix in table.indexes)]
    down = [*(drop_index(table, ix) for ix in table.indexes), drop_table(table)]
    return up, down


def initial_migration(service: m.Service, sagas: tuple[m.Saga, ...] = ()) -> dict[str, Any]:
    upgrade: list[str] = []
    downgrade: list[str] = []
    for table in service_schema(service, sagas):
        up, down = table_ops(table)
        upgrade += up
        downgrade = down + downgrade
    return {
        "message": f"Create the tables of the {service.name} service.",
        "revision": "0001",
        "down_revision": None,
        "upgrade": upgrade or ["pass"],
        "downgrade": downgrade or ["pass"],
    }
