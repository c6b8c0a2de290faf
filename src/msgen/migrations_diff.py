"""New Alembic revisions for a changed spec: the difference between two schemas of a service.

Applied migrations are never rewritten. When the entities of a service change,
``0001_initial.py`` and every later revision stay as they were generated, and a
new revision ``000N_<slug>.py`` carries the difference. Both schemas are data:
``msgen.tables`` describes the tables of the old spec (the project's baseline,
resolved again) and of the new one, the same descriptions the first migration is
written from, and the difference is computed on them, never on migration text.

The revision is data too (the operations of ``msgen.render.migrations``), written by the same template
as the first migration. Column changes run inside ``op.batch_alter_table``, which alters in place on
PostgreSQL and copies the table on SQLite (which cannot alter a column).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen.render.escape import py_string
from msgen.render.migrations import (
    AddColumn,
    AlterColumn,
    Batch,
    BatchOperation,
    CreateUnique,
    DropColumn,
    DropConstraint,
    NotNullNote,
    Operation,
    column_def,
    create_index,
    create_table,
    drop_index,
    drop_table,
    sa_type,
    unique_def,
)
from msgen.tables import service_schema
from msgen_runtime.tables import Table

_REVISION_FILE = re.compile(r"^(?P<number>\d{4})_(?P<slug>\w+)\.py$")
_REVISION = re.compile(r"""^revision(?:\s*:\s*[^=]+)?\s*=\s*["'](?P<id>[^"']+)["']""", re.M)
_DOWN_REVISION = re.compile(r"""^down_revision(?:\s*:\s*[^=]+)?\s*=\s*(?P<value>.+)$""", re.M)


def _unquote(text: str) -> str:
    return text.strip()[1:-1]


def schema_of(service: m.Service, sagas: tuple[m.Saga, ...]) -> dict[str, Table]:
    """The tables of `service`'s database, by name, in the order its first migration creates them."""
    return {table.name: table for table in service_schema(service, sagas)}


def server_defaults(service: m.Service) -> dict[tuple[str, str], str | bool]:
    """(table, column) -> a server default (a Python string literal, or a boolean), for NOT NULL columns
    that have a default."""
    out: dict[tuple[str, str], str | bool] = {}
    for entity in service.entities:
        for f in entity.fields:
            if f.required and f.has_default:
                out[entity.table, f.name] = _literal(f.default)
    return out


def _literal(value: Any) -> str | bool:
    if isinstance(value, bool):
        return value
    return py_string(str(value))


def _batch(table: str, operations: list[BatchOperation]) -> list[Operation]:
    return [Batch(py_string(table), tuple(operations))] if operations else []


def _transform(
    before: Table | None, after: Table | None, defaults: Mapping[tuple[str, str], str | bool]
) -> tuple[list[Operation], list[str]]:
    """The operations that turn table `before` into `after`, and a description of each change."""
    if before is None and after is None:
        return [], []
    if before is None:
        assert after is not None
        return [create_table(after), *(create_index(after, ix) for ix in after.indexes)], [f"create table {after.name}"]
    if after is None:
        drops: list[Operation] = [drop_index(before, ix) for ix in before.indexes]
        return [*drops, drop_table(before)], [f"drop table {before.name}"]
    name = after.name
    pre: list[Operation] = [drop_index(before, ix) for ix in before.indexes if ix not in after.indexes]
    post: list[Operation] = [create_index(after, ix) for ix in after.indexes if ix not in before.indexes]
    old_uniques = {u.name: u.columns for u in before.uniques}
    new_uniques = {u.name: u.columns for u in after.uniques}
    old_columns = {c.name: c for c in before.columns}
    new_columns = {c.name: c for c in after.columns}
    batch: list[BatchOperation] = []
    tighten: list[BatchOperation] = []
    tightened: list[str] = []
    what: list[str] = []
    for uq, cols in old_uniques.items():
        if new_uniques.get(uq) != cols:
            batch.append(DropConstraint(py_string(uq)))
    for col in old_columns:
        if col not in new_columns:
            batch.append(DropColumn(py_string(col)))
            what.append(f"drop {name}.{col}")
    for col, new in new_columns.items():
        old = old_columns.get(col)
        if old is None:
            default = defaults.get((name, col))
            if new.nullable or default is not None:
                batch.append(AddColumn(column_def(new, server_default=default)))
            else:
                # A NOT NULL column without a default: add it nullable, then tighten it, so
                # that an empty table migrates and a table with rows fails loudly until filled.
                batch.append(AddColumn(column_def(new, nullable=True)))
                tighten.append(AlterColumn(py_string(col), sa_type(new), nullable=False))
                tightened.append(col)
            what.append(f"add {name}.{col}")
        elif old != new:
            changed = old.nullable != new.nullable
            if changed and not new.nullable:
                tightened.append(col)
            batch.append(
                AlterColumn(
                    py_string(col),
                    sa_type(old),
                    type=sa_type(new) if sa_type(old) != sa_type(new) else None,
                    existing_nullable=old.nullable,
                    nullable=new.nullable if changed else None,
                )
            )
            what.append(f"alter {name}.{col}")
    for uq, cols in new_uniques.items():
        if old_uniques.get(uq) != cols:
            batch.append(CreateUnique(unique_def(uq, cols)))
    if not what and (batch or pre or post):
        what.append(f"alter {name}")
    operations = list(pre)
    if tightened:
        operations.append(NotNullNote(name, tuple(tightened)))
    operations += [*_batch(name, batch), *_batch(name, tighten)]
    return [*operations, *post], what


@dataclass(frozen=True)
class Revision:
    number: int
    slug: str
    message: str
    upgrade: tuple[Operation, ...]
    downgrade: tuple[Operation, ...]

    @property
    def revision(self) -> str:
        return f"{self.number:04d}"

    @property
    def filename(self) -> str:
        return f"{self.revision}_{self.slug}.py"


def schema_changes(
    old: Mapping[str, Table],
    new: Mapping[str, Table],
    old_defaults: Mapping[tuple[str, str], str | bool],
    new_defaults: Mapping[tuple[str, str], str | bool],
) -> tuple[list[Operation], list[Operation], list[str]]:
    """(upgrade operations, downgrade operations, descriptions) from schema `old` to `new`."""
    names = [*new, *(t for t in old if t not in new)]
    upgrade: list[Operation] = []
    downgrade: list[Operation] = []
    what: list[str] = []
    for table in names:
        before, after = old.get(table), new.get(table)
        if before is not None and after is not None and before == after:
            continue
        up, described = _transform(before, after, new_defaults)
        down, _ = _transform(after, before, old_defaults)
        upgrade += up
        downgrade = down + downgrade
        what += described
    return upgrade, downgrade, what


def _slug(what: list[str]) -> str:
    if len(what) == 1:
        text = what[0]
    else:
        tables = {re.split(r"[ .]", w)[-2 if "." in w else -1] for w in what}
        text = f"update {tables.pop()}" if len(tables) == 1 else "update schema"
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60]


def _message(what: list[str]) -> str:
    shown = what[:6] + ([f"and {len(what) - 6} more changes"] if len(what) > 6 else [])
    text = "; ".join(shown)
    return text[0].upper() + text[1:] + "."


def next_revision(
    old_service: m.Service,
    new_service: m.Service,
    old_sagas: tuple[m.Saga, ...],
    new_sagas: tuple[m.Saga, ...],
    number: int,
) -> Revision | None:
    """The revision `number` from the schema of `old_service` to that of `new_service`, or None if equal."""
    upgrade, downgrade, what = schema_changes(
        schema_of(old_service, old_sagas),
        schema_of(new_service, new_sagas),
        server_defaults(old_service),
        server_defaults(new_service),
    )
    if not upgrade:
        return None
    return Revision(number, _slug(what), _message(what), tuple(upgrade), tuple(downgrade))


@dataclass(frozen=True)
class KnownRevision:
    filename: str
    number: int
    revision: str | None
    down_revision: str | None


def read_revision(filename: str, text: str) -> KnownRevision | None:
    """The revision id and parent of a migration file named like 0002_add_x.py, or None."""
    match = _REVISION_FILE.match(filename)
    if match is None:
        return None
    revision = _REVISION.search(text)
    down = _DOWN_REVISION.search(text)
    parent = None
    if down is not None:
        value = down["value"].strip()
        parent = _unquote(value) if value[:1] in "\"'" else None
    return KnownRevision(filename, int(match["number"]), revision["id"] if revision else None, parent)


def head_of(revisions: Iterable[KnownRevision]) -> tuple[str | None, int]:
    """(the revision the next one follows, the highest file number so far)."""
    known = [r for r in revisions if r.revision is not None]
    highest = max((r.number for r in known), default=0)
    parents = {r.down_revision for r in known}
    heads = sorted((r for r in known if r.revision not in parents), key=lambda r: r.number)
    # One head is the normal case; with several, follow the highest-numbered one.
    return (heads[-1].revision if heads else None), highest
