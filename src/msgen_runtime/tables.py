"""The database tables as data: the runtime's own tables, and the parts of them every entity table shares.

One description serves both sides: the runtime's ORM mixins declare their columns from it
(`msgen_runtime.orm`), and msgen renders a service's Alembic migrations from it. This module imports no
database library, so the generator can read it cheaply.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DEAD_LETTERS",
    "ENTITY_COLUMNS",
    "IDEMPOTENCY_KEYS",
    "INBOX",
    "MESSAGING_TABLES",
    "OUTBOX",
    "OUTBOX_PARTITIONS",
    "SAGA_STATES",
    "SAGA_STEPS",
    "STATUS_LOG",
    "Column",
    "Index",
    "Kind",
    "Table",
    "Unique",
    "entity_table",
]


class Kind(enum.Enum):
    """A column's type, independent of the database and of the library that declares it."""

    UUID = "uuid"
    STRING = "string"  # bounded: `length` characters
    TEXT = "text"
    INTEGER = "integer"  # 32 bits
    BIG_INTEGER = "big_integer"  # 64 bits
    SERIAL = "serial"  # a 64-bit counter the database assigns (a plain INTEGER on SQLite, which only counts those)
    NUMERIC = "numeric"  # `precision` digits, `scale` of them after the point
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"  # timezone-aware, stored in UTC
    JSON = "json"
    BINARY = "binary"


@dataclass(frozen=True)
class Column:
    """One column: its type and whether it may be NULL."""

    name: str
    kind: Kind
    nullable: bool = False
    length: int | None = None  # STRING only
    precision: int | None = None  # NUMERIC only
    scale: int | None = None  # NUMERIC only
    autoincrement: bool | None = None  # None: the database's default for the column

    def __post_init__(self) -> None:
        if (self.kind is Kind.STRING) != (self.length is not None):
            raise ValueError(f"column {self.name}: a length belongs to a STRING column, and every STRING has one")
        if (self.kind is Kind.NUMERIC) != (self.precision is not None and self.scale is not None):
            raise ValueError(f"column {self.name}: precision and scale belong to a NUMERIC column, which needs both")


@dataclass(frozen=True)
class Index:
    """A named index on some of a table's columns."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class Unique:
    """A named unique constraint."""

    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table: its columns in order, its primary key (named pk_<table>), unique constraints and indexes."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    uniques: tuple[Unique, ...] = ()
    indexes: tuple[Index, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: a column is declared twice")
        for group in (self.primary_key, *(u.columns for u in self.uniques), *(i.columns for i in self.indexes)):
            missing = [c for c in group if c not in names]
            if missing or not group:
                raise ValueError(f"table {self.name}: a key or index names no column or an unknown one {missing}")

    @property
    def primary_key_name(self) -> str:
        return f"pk_{self.name}"

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name} has no column {name}")


def _string(name: str, length: int, *, nullable: bool = False) -> Column:
    return Column(name, Kind.STRING, nullable, length=length)


ENTITY_COLUMNS = (Column("id", Kind.UUID), Column("created_at", Kind.DATETIME), Column("updated_at", Kind.DATETIME))


def entity_table(
    name: str, fields: Iterable[Column], *, unique: Iterable[str] = (), indexed: Iterable[str] = ()
) -> Table:
    """An entity's table: the columns every entity has, then its fields; keyed by id, indexed by creation time."""
    return Table(
        name,
        (*ENTITY_COLUMNS, *fields),
        ("id",),
        tuple(Unique(f"uq_{name}_{column}", (column,)) for column in unique),
        tuple(Index(f"ix_{name}_{column}", (column,)) for column in ("created_at", *indexed)),
    )


IDEMPOTENCY_KEYS = Table(
    "idempotency_keys",
    (
        _string("operation", 100),
        _string("key", 255),
        _string("request_hash", 64),
        _string("state", 16),
        Column("status_code", Kind.INTEGER, nullable=True),
        Column("response_body", Kind.TEXT, nullable=True),
        _string("location", 2048, nullable=True),
        Column("created_at", Kind.DATETIME),
        Column("expires_at", Kind.DATETIME),
    ),
    ("operation", "key"),
    indexes=(Index("ix_idempotency_keys_expires_at", ("expires_at",)),),
)

OUTBOX = Table(
    "outbox",
    (
        Column("id", Kind.SERIAL, autoincrement=True),
        _string("message_id", 36),
        _string("topic", 200),
        _string("event", 200),
        Column("version", Kind.INTEGER),
        _string("key", 200, nullable=True),
        Column("partition", Kind.INTEGER),
        Column("body", Kind.BINARY),
        Column("headers", Kind.JSON),
        Column("created_at", Kind.DATETIME),
        Column("sent_at", Kind.DATETIME, nullable=True),
        Column("attempts", Kind.INTEGER),
        Column("last_error", Kind.TEXT, nullable=True),
    ),
    ("id",),
    uniques=(Unique("uq_outbox_message_id", ("message_id",)),),
    indexes=(Index("ix_outbox_pending", ("partition", "sent_at", "id")),),
)

OUTBOX_PARTITIONS = Table(
    "outbox_partitions", (Column("partition", Kind.INTEGER, autoincrement=False),), ("partition",)
)

INBOX = Table(
    "inbox",
    (_string("message_id", 64), _string("topic", 200), Column("received_at", Kind.DATETIME)),
    ("message_id",),
)

DEAD_LETTERS = Table(
    "dead_letters",
    (
        Column("id", Kind.UUID),
        _string("message_id", 64),
        _string("topic", 200),
        Column("body", Kind.BINARY),
        Column("headers", Kind.JSON),
        Column("error", Kind.TEXT),
        Column("attempts", Kind.INTEGER),
        Column("created_at", Kind.DATETIME),
        Column("replayed_at", Kind.DATETIME, nullable=True),
    ),
    ("id",),
)

SAGA_STATES = Table(
    "saga_states",
    (
        _string("saga", 100),
        _string("key", 100),
        _string("status", 16),
        Column("step", Kind.INTEGER),
        Column("done", Kind.JSON),
        Column("awaiting", Kind.JSON),
        Column("context", Kind.JSON),
        Column("reason", Kind.TEXT, nullable=True),
        Column("deadline", Kind.DATETIME),
        Column("updated_at", Kind.DATETIME),
    ),
    ("saga", "key"),
    indexes=(Index("ix_saga_states_deadline", ("deadline",)),),
)

SAGA_STEPS = Table(
    "saga_steps",
    (
        _string("saga", 100),
        _string("key", 100),
        _string("step", 100),
        _string("status", 16),
        Column("updated_at", Kind.DATETIME),
    ),
    ("saga", "key", "step"),
)

STATUS_LOG = Table(
    "status_log",
    (
        Column("id", Kind.SERIAL, autoincrement=True),
        _string("entity_id", 100),
        _string("status", 100),
        _string("cause", 200),
        Column("at", Kind.DATETIME),
    ),
    ("id",),
    indexes=(Index("ix_status_log_entity_id", ("entity_id",)),),
)

# The tables of the messaging runtime (outbox, inbox, sagas), in the order a service's migration creates them.
MESSAGING_TABLES = (OUTBOX, OUTBOX_PARTITIONS, INBOX, DEAD_LETTERS, SAGA_STATES, STATUS_LOG, SAGA_STEPS)
