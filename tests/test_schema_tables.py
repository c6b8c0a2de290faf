"""The schema as data: one table description drives the runtime's ORM tables and the generated migrations.

The golden services' models.py (entities, and the runtime's mixins for the messaging tables) and their
0001_initial.py must create the same tables, column for column, with the same keys and indexes, on
SQLite and on PostgreSQL; and the mixins declare exactly the columns msgen_runtime.tables describes.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase

from msgen import regen
from msgen.generate import generate
from msgen.loader import load_spec_text
from msgen.render.migrations import type_expr
from msgen.render.pytypes import column_type as python_column_type
from msgen.resolve import resolve
from msgen.tables import field_column, runtime_tables, service_schema
from msgen_runtime.entities import EntityMixin
from msgen_runtime.idempotency import IdempotencyKeyMixin
from msgen_runtime.messaging.consumer import DeadLetterMixin, InboxMessageMixin
from msgen_runtime.messaging.outbox import OutboxMessageMixin, OutboxPartitionMixin
from msgen_runtime.messaging.participant import SagaStepMixin
from msgen_runtime.messaging.saga import SagaStateMixin, StatusLogMixin
from msgen_runtime.orm import column_type
from msgen_runtime.tables import (
    DEAD_LETTERS,
    ENTITY_COLUMNS,
    IDEMPOTENCY_KEYS,
    INBOX,
    MESSAGING_TABLES,
    OUTBOX,
    OUTBOX_PARTITIONS,
    SAGA_STATES,
    SAGA_STEPS,
    STATUS_LOG,
    Column,
    Kind,
    Table,
)
from msgen_runtime.testing import temporary_database
from tests.regen_support import SMALL_SPEC, new_project

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
MIXINS: dict[str, type] = {
    IDEMPOTENCY_KEYS.name: IdempotencyKeyMixin,
    OUTBOX.name: OutboxMessageMixin,
    OUTBOX_PARTITIONS.name: OutboxPartitionMixin,
    INBOX.name: InboxMessageMixin,
    DEAD_LETTERS.name: DeadLetterMixin,
    SAGA_STATES.name: SagaStateMixin,
    STATUS_LOG.name: StatusLogMixin,
    SAGA_STEPS.name: SagaStepMixin,
}
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


def _golden_services() -> list[Path]:
    return sorted(p.parents[3] for p in GOLDEN.glob("*/services/*/*/migrations/versions/0001_initial.py"))


def _models(service: Path) -> sa.MetaData:
    """The metadata of a generated service's models.py."""
    package = next(p for p in service.iterdir() if (p / "models.py").is_file())
    name = f"_golden_{service.parent.parent.name}_{package.name}_models"
    spec = importlib.util.spec_from_file_location(name, package / "models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the golden tree
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes
        del sys.modules[name]
    metadata: sa.MetaData = module.Base.metadata
    return metadata


def _migration(service: Path, function: str, name: str = "0001_initial.py") -> Callable[[sa.Connection], None]:
    path = next(service.glob(f"*/migrations/versions/{name}"))
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)

    def run(connection: sa.Connection) -> None:
        with Operations.context(MigrationContext.configure(connection)):
            namespace[function]()

    return run


def _shape(connection: sa.Connection) -> dict[str, dict[str, Any]]:
    """Every table as the database reports it: columns with their types, keys, unique constraints, indexes."""
    inspector = sa.inspect(connection)
    dialect = connection.dialect
    tables: dict[str, dict[str, Any]] = {}
    for name in inspector.get_table_names():
        # by name: the ORM puts a mixin's columns after the model's own, the migration the entity's first
        columns = {
            c["name"]: (c["type"].compile(dialect=dialect), c["nullable"], c.get("default"), c.get("autoincrement"))
            for c in inspector.get_columns(name)
        }
        pk = inspector.get_pk_constraint(name)
        tables[name] = {
            "columns": columns,
            "primary_key": (pk["name"], tuple(pk["constrained_columns"])),
            "uniques": sorted((u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(name)),
            "indexes": sorted(
                (i["name"], tuple(str(c) for c in i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(name)
            ),
        }
    return tables


def _on(url: str, work: Callable[[sa.Connection], Any]) -> Any:
    async def run() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture(params=["sqlite", "postgresql"])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """One database for the ORM's tables, one for the migration's."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'orm.db'}", f"sqlite+aiosqlite:///{tmp_path / 'migration.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    with temporary_database(server, prefix="tables_orm") as orm, temporary_database(server, prefix="tables_mig") as mig:
        yield orm, mig


def test_the_models_and_the_first_migration_create_the_same_tables(two_databases: tuple[str, str]) -> None:
    orm_url, migration_url = two_databases
    services = _golden_services()
    assert len(services) >= 10, services
    seen: set[str] = set()
    for service in services:
        metadata = _models(service)
        _on(orm_url, metadata.create_all)
        _on(migration_url, _migration(service, "upgrade"))
        from_models, from_migration = _on(orm_url, _shape), _on(migration_url, _shape)
        from_migration.pop("alembic_version", None)
        assert from_models == from_migration, service.name
        assert set(from_models) == set(metadata.tables), service.name
        seen |= set(from_models)
        _on(orm_url, metadata.drop_all)
        _on(migration_url, _migration(service, "downgrade"))
        assert set(_on(migration_url, _shape)) <= {"alembic_version"}, f"{service.name}: downgrade left tables"
    # the golden services between them use every table of the runtime
    assert set(MIXINS) <= seen


def _reset(url: str) -> None:
    def drop(connection: sa.Connection) -> None:
        metadata = sa.MetaData()
        metadata.reflect(connection)
        metadata.drop_all(connection)

    _on(url, drop)


def test_a_later_revision_migrates_to_the_tables_a_new_project_creates(
    two_databases: tuple[str, str], tmp_path: Path
) -> None:
    """Old schema + the revision regen writes == the new spec's first migration; and its downgrade goes back."""
    events = SMALL_SPEC.index("events:\n")
    old = SMALL_SPEC[:events]  # no events yet: no outbox in catalog, no inbox in stock
    changed = SMALL_SPEC.replace(
        "          note: { type: text, required: false }\n",
        "          note: { type: text, required: false }\n"
        "          maker_id: { type: ref, to: stock.Level, required: false }\n",
    ).replace("name: { type: string, max_length: 100 }", "name: { type: string, max_length: 150 }")
    root = new_project(tmp_path, old, name="project")
    (root / "msgen.yaml").write_text(changed)
    regen.regen(root)
    fresh = new_project(tmp_path, changed, name="fresh")
    now_url, fresh_url = two_databases
    for name in ("catalog", "stock"):
        service, created = root / "services" / name, fresh / "services" / name
        revisions = sorted(p.name for p in service.glob("*/migrations/versions/*.py"))
        assert len(revisions) == 2, revisions
        _on(now_url, _migration(service, "upgrade"))
        before = _on(now_url, _shape)
        _on(now_url, _migration(service, "upgrade", revisions[1]))
        _on(fresh_url, _migration(created, "upgrade"))
        after, expected = _on(now_url, _shape), _on(fresh_url, _shape)
        assert after == expected, name
        assert {"outbox", "inbox"} & set(after) - set(before), name  # the runtime's tables came with the events
        _on(now_url, _migration(service, "downgrade", revisions[1]))
        assert _on(now_url, _shape) == before, name
        _reset(now_url)
        _reset(fresh_url)


@pytest.mark.parametrize("table", [IDEMPOTENCY_KEYS, *MESSAGING_TABLES], ids=lambda t: t.name)
def test_each_runtime_mixin_declares_the_described_table(table: Table) -> None:
    class Base(DeclarativeBase):
        metadata = sa.MetaData(naming_convention=NAMING)

    model = type("Model", (MIXINS[table.name], Base), {"__tablename__": table.name})
    declared: sa.Table = model.__table__  # type: ignore[attr-defined]
    assert [c.name for c in declared.columns] == [c.name for c in table.columns]
    for described in table.columns:
        column = declared.columns[described.name]
        assert column.nullable is described.nullable, described.name
        assert repr(column.type) == repr(column_type(described)), described.name
    assert tuple(c.name for c in declared.primary_key.columns) == table.primary_key
    assert declared.primary_key.name == table.primary_key_name
    uniques = {
        (u.name, tuple(c.name for c in u.columns)) for u in declared.constraints if isinstance(u, sa.UniqueConstraint)
    }
    assert uniques == {(u.name, u.columns) for u in table.uniques}
    assert {(i.name, tuple(c.name for c in i.columns), i.unique) for i in declared.indexes} == {
        (i.name, i.columns, i.unique) for i in table.indexes
    }


def test_the_entity_mixin_declares_the_columns_every_entity_table_starts_with() -> None:
    class Base(DeclarativeBase):
        metadata = sa.MetaData(naming_convention=NAMING)

    model = type("Thing", (EntityMixin, Base), {"__tablename__": "things"})
    declared: sa.Table = model.__table__  # type: ignore[attr-defined]
    assert [c.name for c in declared.columns] == [c.name for c in ENTITY_COLUMNS]
    assert [repr(c.type) for c in declared.columns] == [repr(column_type(c)) for c in ENTITY_COLUMNS]
    assert {i.name for i in declared.indexes} == {"ix_things_created_at"}


EVERY_KIND = """\
msgen: 1
system: { name: kinds }
services:
  store:
    entities:
      Thing:
        fields:
          a: { type: string, max_length: 40 }
          b: string
          c: text
          d: int
          e: { type: decimal, precision: 10, scale: 3 }
          f: decimal
          g: bool
          h: uuid
          i: datetime
          j: date
          k: email
          l: url
          m: { type: enum, values: [ONE, THREE] }
          n: { type: ref, to: store.Other }
          o: list[string]
          p: { type: Part, required: false }
          q: { type: string, unique: true }
      Other:
        fields:
          name: string
    value_objects:
      Part:
        fields:
          x: int
    api:
      crud:
        Thing: {}
        Other: {}
"""


def test_entity_columns_have_the_types_the_models_declare() -> None:
    """Until models.py is written from the description too, both spell every kind of field the same way."""
    system = resolve(load_spec_text(EVERY_KIND, "kinds.yaml"))
    thing = next(e for s in system.services for e in s.entities if e.name == "Thing")
    kinds = set()
    for field in thing.fields:
        column = field_column(field)
        kinds.add(column.kind)
        expected = "sa.DateTime(timezone=True)" if field.type.kind == "datetime" else python_column_type(field)
        assert type_expr(column) == expected, field.name
        assert column.nullable is not field.required
    assert kinds == set(Kind) - {Kind.INTEGER, Kind.SERIAL, Kind.BINARY}
    table = next(t for s in system.services for t in service_schema(s, system.sagas) if t.name == thing.table)
    assert [u.name for u in table.uniques] == ["uq_things_q"]
    assert [i.name for i in table.indexes] == ["ix_things_created_at", "ix_things_n"]


def test_a_service_gets_the_runtime_tables_its_spec_needs() -> None:
    generated = generate(ROOT / "examples" / "shop.yaml")
    files, system = generated.files, generated.system
    for service in system.services:
        models = files[f"services/{service.name}/{service.package}/models.py"]
        for table in runtime_tables(service, system.sagas):
            assert f'__tablename__ = "{table.name}"' in models, (service.name, table.name)
        for table in {*MESSAGING_TABLES, IDEMPOTENCY_KEYS} - set(runtime_tables(service, system.sagas)):
            assert f'__tablename__ = "{table.name}"' not in models, (service.name, table.name)


def test_a_description_refuses_what_no_database_can_create() -> None:
    with pytest.raises(ValueError, match="length"):
        Column("name", Kind.STRING)
    with pytest.raises(ValueError, match="precision"):
        Column("price", Kind.NUMERIC, precision=10)
    with pytest.raises(ValueError, match="unknown"):
        Table("t", (Column("a", Kind.TEXT),), ("b",))
    with pytest.raises(ValueError, match="twice"):
        Table("t", (Column("a", Kind.TEXT), Column("a", Kind.UUID)), ("a",))
