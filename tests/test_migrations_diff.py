"""New Alembic revisions for changed entities: generated from the two schemas, and they really migrate (SQLite)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from msgen import regen as r
from msgen.migrations_diff import head_of, read_revision
from tests.regen_support import SMALL_SPEC, new_project

VERSIONS = "services/catalog/catalog_service/migrations/versions"
NOTE = "          note: { type: text, required: false }\n"
CHANGED = (
    "          note: { type: text, required: false }\n"
    "          qty: { type: int, default: 1 }\n"
    "          label: { type: string, max_length: 20 }\n"
    "          code: { type: string, unique: true, required: false }\n"
)


def _run(text: str, function: str, connection: sa.Connection) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(text, "revision", "exec"), namespace)
    with Operations.context(MigrationContext.configure(connection)):
        namespace[function]()


def _columns(connection: sa.Connection, table: str) -> dict[str, bool]:
    return {c["name"]: c["nullable"] for c in sa.inspect(connection).get_columns(table)}


def _item(**values: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {"id": uuid.uuid4().hex, "created_at": now, "updated_at": now, "name": "n", "price": 1, **values}


def _revisions(tmp_path: Path, old_spec: str, new_spec: str) -> tuple[str, str]:
    root = new_project(tmp_path, old_spec)
    (root / "msgen.yaml").write_text(new_spec)
    r.regen(root)
    names = sorted(p.name for p in (root / VERSIONS).glob("*.py"))
    assert len(names) == 2, names
    return (root / VERSIONS / names[0]).read_text(), (root / VERSIONS / names[1]).read_text()


def test_added_columns_migrate_an_empty_table_and_come_back_down(tmp_path: Path) -> None:
    initial, second = _revisions(tmp_path, SMALL_SPEC, SMALL_SPEC.replace(NOTE, CHANGED))
    assert "0002_" in second or 'revision: str = "0002"' in second
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        _run(initial, "upgrade", connection)
        _run(second, "upgrade", connection)
        columns = _columns(connection, "items")
        assert columns["qty"] is False and columns["label"] is False and columns["code"] is True
        connection.execute(
            sa.text(
                "INSERT INTO items (id, created_at, updated_at, name, price, label) VALUES "
                "('a', '2024-01-01', '2024-01-01', 'n', 1, 'l')"
            )
        )
        assert connection.execute(sa.text("SELECT qty FROM items")).scalar_one() == 1  # the server default
        unique = sa.inspect(connection).get_unique_constraints("items")
        assert {u["name"] for u in unique} == {"uq_items_code"}
        _run(second, "downgrade", connection)
        assert set(_columns(connection, "items")) == {"id", "created_at", "updated_at", "name", "note", "price"}


def test_a_new_not_null_column_without_default_fails_on_rows_until_filled(tmp_path: Path) -> None:
    initial, second = _revisions(tmp_path, SMALL_SPEC, SMALL_SPEC.replace(NOTE, CHANGED))
    assert "need a value in label" in second
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        _run(initial, "upgrade", connection)
        connection.execute(sa.insert(sa.table("items", *map(sa.column, _item()))).values(_item()))
        with pytest.raises(sa.exc.IntegrityError):
            _run(second, "upgrade", connection)


def test_new_tables_dropped_columns_and_type_changes(tmp_path: Path) -> None:
    old = SMALL_SPEC.replace("  name: mini\n", "  name: mini\n  api_version: v1\n")
    new = (
        old.replace("  api_version: v1\n", "  api_version: v2\n")  # dropping a field breaks the API: a new version
        .replace(NOTE, "")
        .replace("name: { type: string, max_length: 100 }", "name: { type: string, max_length: 200 }")
        .replace(
            "    api:\n      crud:\n        Item:",
            "      Tag:\n        fields:\n          label: string\n    api:\n      crud:\n        Item:",
        )
    )
    initial, second = _revisions(tmp_path, old, new)
    assert 'op.create_table(\n        "tags"' in second
    assert 'batch.drop_column("note")' in second
    assert "existing_type=sa.String(100)" in second and "type_=sa.String(200)" in second
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        _run(initial, "upgrade", connection)
        _run(second, "upgrade", connection)
        assert "tags" in sa.inspect(connection).get_table_names()
        assert "note" not in _columns(connection, "items")
        _run(second, "downgrade", connection)
        assert "tags" not in sa.inspect(connection).get_table_names()
        assert "note" in _columns(connection, "items")


def test_the_head_is_the_revision_nobody_follows() -> None:
    known = [
        read_revision("0001_initial.py", 'revision: str = "0001"\ndown_revision: str | None = None\n'),
        read_revision("0002_mine.py", "revision = 'abc'\ndown_revision = '0001'\n"),
    ]
    assert head_of(r for r in known if r is not None) == ("abc", 2)
    assert read_revision("notes.py", "") is None
