"""The Alembic migration that creates a service's tables, as lines of Python."""

from __future__ import annotations

from typing import Any

from msgen import model as m
from msgen.render.python import messaging_tables


def _table_ops(entity: m.Entity) -> tuple[list[str], list[str]]:
    columns = [
        'sa.Column("id", sa.Uuid(), nullable=False)',
        'sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)',
        'sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)',
    ]
    for f in entity.fields:
        column_type = "sa.DateTime(timezone=True)" if f.type.kind == "datetime" else f.type.column
        columns.append(f'sa.Column("{f.name}", {column_type}, nullable={not f.required})')
    columns.append(f'sa.PrimaryKeyConstraint("id", name="pk_{entity.table}")')
    for f in entity.fields:
        if f.unique:
            columns.append(f'sa.UniqueConstraint("{f.name}", name="uq_{entity.table}_{f.name}")')
    up = [f'op.create_table("{entity.table}", ' + ", ".join(columns) + ")"]
    indexed = ["created_at", *(f.name for f in entity.fields if f.ref and not f.unique)]
    down = []
    for column in indexed:
        up.append(f'op.create_index("ix_{entity.table}_{column}", "{entity.table}", ["{column}"])')
        down.append(f'op.drop_index("ix_{entity.table}_{column}", table_name="{entity.table}")')
    down.append(f'op.drop_table("{entity.table}")')
    return up, down


_IDEMPOTENCY_UP = [
    'op.create_table("idempotency_keys", '
    'sa.Column("operation", sa.String(100), nullable=False), '
    'sa.Column("key", sa.String(255), nullable=False), '
    'sa.Column("request_hash", sa.String(64), nullable=False), '
    'sa.Column("state", sa.String(16), nullable=False), '
    'sa.Column("status_code", sa.Integer(), nullable=True), '
    'sa.Column("response_body", sa.Text(), nullable=True), '
    'sa.Column("location", sa.String(2048), nullable=True), '
    'sa.Column("created_at", sa.DateTime(timezone=True), nullable=False), '
    'sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False), '
    'sa.PrimaryKeyConstraint("operation", "key", name="pk_idempotency_keys"))',
    'op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])',
]
_IDEMPOTENCY_DOWN = [
    'op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")',
    'op.drop_table("idempotency_keys")',
]


_TS = "sa.DateTime(timezone=True)"
_AUTO_ID = 'sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False)'
_MESSAGING_TABLES: dict[str, tuple[list[str], list[tuple[str, list[str], bool]]]] = {
    "outbox": (
        [
            _AUTO_ID,
            'sa.Column("message_id", sa.String(36), nullable=False)',
            'sa.Column("topic", sa.String(200), nullable=False)',
            'sa.Column("event", sa.String(200), nullable=False)',
            'sa.Column("version", sa.Integer(), nullable=False)',
            'sa.Column("key", sa.String(200), nullable=True)',
            'sa.Column("partition", sa.Integer(), nullable=False)',
            'sa.Column("body", sa.LargeBinary(), nullable=False)',
            'sa.Column("headers", sa.JSON(), nullable=False)',
            f'sa.Column("created_at", {_TS}, nullable=False)',
            f'sa.Column("sent_at", {_TS}, nullable=True)',
            'sa.Column("attempts", sa.Integer(), nullable=False)',
            'sa.Column("last_error", sa.Text(), nullable=True)',
            'sa.PrimaryKeyConstraint("id", name="pk_outbox")',
            'sa.UniqueConstraint("message_id", name="uq_outbox_message_id")',
        ],
        [("ix_outbox_pending", ["partition", "sent_at", "id"], False)],
    ),
    "outbox_partitions": (
        [
            'sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False)',
            'sa.PrimaryKeyConstraint("partition", name="pk_outbox_partitions")',
        ],
        [],
    ),
    "inbox": (
        [
            'sa.Column("message_id", sa.String(64), nullable=False)',
            'sa.Column("topic", sa.String(200), nullable=False)',
            f'sa.Column("received_at", {_TS}, nullable=False)',
            'sa.PrimaryKeyConstraint("message_id", name="pk_inbox")',
        ],
        [],
    ),
    "dead_letters": (
        [
            'sa.Column("id", sa.Uuid(), nullable=False)',
            'sa.Column("message_id", sa.String(64), nullable=False)',
            'sa.Column("topic", sa.String(200), nullable=False)',
            'sa.Column("body", sa.LargeBinary(), nullable=False)',
            'sa.Column("headers", sa.JSON(), nullable=False)',
            'sa.Column("error", sa.Text(), nullable=False)',
            'sa.Column("attempts", sa.Integer(), nullable=False)',
            f'sa.Column("created_at", {_TS}, nullable=False)',
            f'sa.Column("replayed_at", {_TS}, nullable=True)',
            'sa.PrimaryKeyConstraint("id", name="pk_dead_letters")',
        ],
        [],
    ),
    "saga_states": (
        [
            'sa.Column("saga", sa.String(100), nullable=False)',
            'sa.Column("key", sa.String(100), nullable=False)',
            'sa.Column("status", sa.String(16), nullable=False)',
            'sa.Column("step", sa.Integer(), nullable=False)',
            'sa.Column("done", sa.JSON(), nullable=False)',
            'sa.Column("awaiting", sa.JSON(), nullable=False)',
            'sa.Column("context", sa.JSON(), nullable=False)',
            'sa.Column("reason", sa.Text(), nullable=True)',
            f'sa.Column("deadline", {_TS}, nullable=False)',
            f'sa.Column("updated_at", {_TS}, nullable=False)',
            'sa.PrimaryKeyConstraint("saga", "key", name="pk_saga_states")',
        ],
        [("ix_saga_states_deadline", ["deadline"], False)],
    ),
    "saga_steps": (
        [
            'sa.Column("saga", sa.String(100), nullable=False)',
            'sa.Column("key", sa.String(100), nullable=False)',
            'sa.Column("step", sa.String(100), nullable=False)',
            'sa.Column("status", sa.String(16), nullable=False)',
            f'sa.Column("updated_at", {_TS}, nullable=False)',
            'sa.PrimaryKeyConstraint("saga", "key", "step", name="pk_saga_steps")',
        ],
        [],
    ),
    "status_log": (
        [
            _AUTO_ID,
            'sa.Column("entity_id", sa.String(100), nullable=False)',
            'sa.Column("status", sa.String(100), nullable=False)',
            'sa.Column("cause", sa.String(200), nullable=False)',
            f'sa.Column("at", {_TS}, nullable=False)',
            'sa.PrimaryKeyConstraint("id", name="pk_status_log")',
        ],
        [("ix_status_log_entity_id", ["entity_id"], False)],
    ),
}


def _runtime_table(name: str) -> tuple[list[str], list[str]]:
    columns, indexes = _MESSAGING_TABLES[name]
    up = [f'op.create_table("{name}", ' + ", ".join(columns) + ")"]
    down = []
    for index, cols, unique in indexes:
        up.append(f'op.create_index("{index}", "{name}", {cols!r}, unique={unique})')
        down.append(f'op.drop_index("{index}", table_name="{name}")')
    down.append(f'op.drop_table("{name}")')
    return up, down


def initial_migration(service: m.Service, sagas: tuple[m.Saga, ...] = ()) -> dict[str, Any]:
    upgrade: list[str] = []
    downgrade: list[str] = []
    for entity in service.entities:
        up, down = _table_ops(entity)
        upgrade += up
        downgrade = down + downgrade
    if any(op.idempotent for op in service.operations):
        upgrade += _IDEMPOTENCY_UP
        downgrade = _IDEMPOTENCY_DOWN + downgrade
    for table in messaging_tables(service, sagas):
        up, down = _runtime_table(table["table"])
        upgrade += up
        downgrade = down + downgrade
    return {
        "message": f"Create the tables of the {service.name} service.",
        "revision": "0001",
        "down_revision": None,
        "upgrade": upgrade or ["pass"],
        "downgrade": downgrade or ["pass"],
    }
