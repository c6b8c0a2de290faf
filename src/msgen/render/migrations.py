"""The Alembic migration that creates a service's tables, as lines of Python."""

from __future__ import annotations

from typing import Any

from msgen import model as m


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


def initial_migration(service: m.Service) -> dict[str, Any]:
    upgrade: list[str] = []
    downgrade: list[str] = []
    for entity in service.entities:
        up, down = _table_ops(entity)
        upgrade += up
        downgrade = down + downgrade
    if any(op.idempotent for op in service.operations):
        upgrade += _IDEMPOTENCY_UP
        downgrade = _IDEMPOTENCY_DOWN + downgrade
    return {
        "message": f"Create the tables of the {service.name} service.",
        "revision": "0001",
        "down_revision": None,
        "upgrade": upgrade or ["pass"],
        "downgrade": downgrade or ["pass"],
    }
