"""Alembic operations as data, from table descriptions: the migration that creates a service's tables.

The tables come from `msgen.tables` (the service's schema as data); this module turns them into frozen
descriptions of Alembic operations (`CreateTable`, `CreateIndex`, `Batch`, ...), which the macros of
`templates/macros/alembic.py.j2` spell as Python. `migrations_diff.py` builds later revisions from the
same operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from msgen import model as m
from msgen.render.escape import py_docstring_text, py_string
from msgen.render.templates import environment
from msgen.tables import service_schema
from msgen_runtime.tables import MESSAGING_TABLES, Column, Index, Table

# The messaging tables' indexes have always been written with an explicit `unique=`: kept, so that the
# migrations of existing projects and the ones written now read the same.
_EXPLICIT_UNIQUE = frozenset(t.name for t in MESSAGING_TABLES)

MACROS = "macros/alembic.py.j2"


@dataclass(frozen=True)
class SaType:
    """A column's SQLAlchemy type: its kind (a `Kind` value) and the sizes a STRING or NUMERIC has."""

    kind: str
    length: int | None
    precision: int | None
    scale: int | None


@dataclass(frozen=True)
class ColumnDef:
    """`sa.Column(...)`: the name a Python literal, the server default a Python literal or a boolean."""

    name: str
    type: SaType
    autoincrement: bool | None
    nullable: bool
    server_default: str | bool | None = None


@dataclass(frozen=True)
class UniqueDef:
    name: str  # Python literals, the name and each column
    columns: tuple[str, ...]


@dataclass(frozen=True)
class CreateTable:
    op: ClassVar[str] = "create_table"
    table: str  # Python literals: the table, its columns, its keys
    columns: tuple[ColumnDef, ...]
    primary_key: tuple[str, ...]
    primary_key_name: str
    uniques: tuple[UniqueDef, ...]


@dataclass(frozen=True)
class CreateIndex:
    op: ClassVar[str] = "create_index"
    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool | None  # None: not written


@dataclass(frozen=True)
class DropIndex:
    op: ClassVar[str] = "drop_index"
    name: str
    table: str


@dataclass(frozen=True)
class DropTable:
    op: ClassVar[str] = "drop_table"
    table: str


@dataclass(frozen=True)
class NotNullNote:
    """The comment before a batch that makes columns NOT NULL: rows that exist need a value first."""

    op: ClassVar[str] = "not_null_note"
    table: str  # text for a comment
    columns: tuple[str, ...]


@dataclass(frozen=True)
class DropConstraint:
    op: ClassVar[str] = "drop_constraint"
    name: str


@dataclass(frozen=True)
class DropColumn:
    op: ClassVar[str] = "drop_column"
    name: str


@dataclass(frozen=True)
class AddColumn:
    op: ClassVar[str] = "add_column"
    column: ColumnDef


@dataclass(frozen=True)
class AlterColumn:
    """`batch.alter_column(...)`: each of type_, existing_nullable and nullable written when not None."""

    op: ClassVar[str] = "alter_column"
    name: str
    existing_type: SaType
    type: SaType | None = None
    existing_nullable: bool | None = None
    nullable: bool | None = None


@dataclass(frozen=True)
class CreateUnique:
    op: ClassVar[str] = "create_unique"
    unique: UniqueDef


BatchOperation = DropConstraint | DropColumn | AddColumn | AlterColumn | CreateUnique


@dataclass(frozen=True)
class Batch:
    """`with op.batch_alter_table(table) as batch:` and its operations."""

    op: ClassVar[str] = "batch"
    table: str
    operations: tuple[BatchOperation, ...]


Operation = CreateTable | CreateIndex | DropIndex | DropTable | NotNullNote | Batch


def sa_type(column: Column) -> SaType:
    return SaType(column.kind.value, column.length, column.precision, column.scale)


def type_expr(column: Column) -> str:
    """The column's SQLAlchemy type, as an expression in a migration (the macro `sa_type` of MACROS)."""
    macro = environment().get_template(MACROS).module.sa_type  # type: ignore[attr-defined]
    return str(macro(sa_type(column)))


def column_def(column: Column, *, nullable: bool | None = None, server_default: str | bool | None = None) -> ColumnDef:
    """`sa.Column(...)` for the column; `nullable` overrides the description's."""
    return ColumnDef(
        py_string(column.name),
        sa_type(column),
        column.autoincrement,
        column.nullable if nullable is None else nullable,
        server_default,
    )


def _names(columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(py_string(c) for c in columns)


def unique_def(name: str, columns: tuple[str, ...]) -> UniqueDef:
    return UniqueDef(py_string(name), _names(columns))


def create_table(table: Table) -> CreateTable:
    return CreateTable(
        py_string(table.name),
        tuple(column_def(c) for c in table.columns),
        _names(table.primary_key),
        py_string(table.primary_key_name),
        tuple(unique_def(u.name, u.columns) for u in table.uniques),
    )


def create_index(table: Table, index: Index) -> CreateIndex:
    unique = index.unique if index.unique or table.name in _EXPLICIT_UNIQUE else None
    return CreateIndex(py_string(index.name), py_string(table.name), _names(index.columns), unique)


def drop_index(table: Table, index: Index) -> DropIndex:
    return DropIndex(py_string(index.name), py_string(table.name))


def drop_table(table: Table) -> DropTable:
    return DropTable(py_string(table.name))


def table_ops(table: Table) -> tuple[list[Operation], list[Operation]]:
    """(the operations that create the table, those that drop it)."""
    up: list[Operation] = [create_table(table), *(create_index(table, ix) for ix in table.indexes)]
    down: list[Operation] = [*(drop_index(table, ix) for ix in table.indexes), drop_table(table)]
    return up, down


@dataclass(frozen=True)
class MigrationView:
    """A migration file: its docstring's message (text for between triple quotes), its revision and parent,
    and the Alembic operations of upgrade() and downgrade() (none: `pass`)."""

    message: str
    revision: str
    down_revision: str | None
    upgrade: tuple[Operation, ...]
    downgrade: tuple[Operation, ...]


def migration_view(
    message: str,
    revision: str,
    down_revision: str | None,
    upgrade: Sequence[Operation],
    downgrade: Sequence[Operation],
) -> MigrationView:
    return MigrationView(py_docstring_text(message), revision, down_revision, tuple(upgrade), tuple(downgrade))


def initial_migration(service: m.Service, sagas: tuple[m.Saga, ...] = ()) -> MigrationView:
    upgrade: list[Operation] = []
    downgrade: list[Operation] = []
    for table in service_schema(service, sagas):
        up, down = table_ops(table)
        upgrade += up
        downgrade = down + downgrade
    return migration_view(f"Create the tables of the {service.name} service.", "0001", None, upgrade, downgrade)
