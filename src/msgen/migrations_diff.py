"""New Alembic revisions for a changed spec: the difference between two schemas of a service.

Applied migrations are never rewritten. When the entities of a service change,
``0001_initial.py`` and every later revision stay as they were generated, and a
new revision ``000N_<slug>.py`` carries the difference. The two schemas are read
from what ``render/migrations.py`` would create for the old and the new spec, so
the DDL has one source: a table's columns, unique constraints and indexes are
parsed back from its ``op.create_table`` and ``op.create_index`` lines.

Column changes run inside ``op.batch_alter_table``, which alters in place on
PostgreSQL and copies the table on SQLite (which cannot alter a column).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen.render.migrations import initial_migration

_CREATE_TABLE = re.compile(r'^op\.create_table\("(?P<table>[^"]+)", (?P<items>.*)\)$', re.S)
_CREATE_INDEX = re.compile(r'^op\.create_index\("(?P<name>[^"]+)", "(?P<table>[^"]+)", .*\)$', re.S)
_REVISION_FILE = re.compile(r"^(?P<number>\d{4})_(?P<slug>\w+)\.py$")
_REVISION = re.compile(r"""^revision(?:\s*:\s*[^=]+)?\s*=\s*["'](?P<id>[^"']+)["']""", re.M)
_DOWN_REVISION = re.compile(r"""^down_revision(?:\s*:\s*[^=]+)?\s*=\s*(?P<value>.+)$""", re.M)


def split_args(text: str) -> list[str]:
    """Split a Python argument list at its top-level commas (brackets and strings kept whole)."""
    parts: list[str] = []
    depth = 0
    quote = ""
    start = 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return parts


def _unquote(text: str) -> str:
    return text.strip()[1:-1]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # e.g. sa.String(200)
    nullable: bool
    extra: tuple[str, ...]  # other keyword arguments, e.g. autoincrement=True

    def expr(self, *, nullable: bool | None = None, server_default: str | None = None) -> str:
        args = [f'"{self.name}"', self.type, *self.extra, f"nullable={self.nullable if nullable is None else nullable}"]
        if server_default is not None:
            args.append(f"server_default={server_default}")
        return f"sa.Column({', '.join(args)})"


@dataclass(frozen=True)
class Table:
    name: str
    create: str  # the whole op.create_table(...) line
    columns: dict[str, Column]
    uniques: dict[str, tuple[str, ...]]  # constraint name -> columns
    indexes: dict[str, str]  # index name -> its op.create_index(...) line


def _parse_table(line: str) -> Table | None:
    match = _CREATE_TABLE.match(line)
    if match is None:
        return None
    columns: dict[str, Column] = {}
    uniques: dict[str, tuple[str, ...]] = {}
    for item in split_args(match["items"]):
        inner = item[item.index("(") + 1 : -1] if "(" in item else ""
        args = split_args(inner)
        if item.startswith("sa.Column("):
            keywords = [a for a in args[2:] if not a.startswith("nullable=")]
            nullable = any(a.replace(" ", "") == "nullable=True" for a in args[2:])
            columns[_unquote(args[0])] = Column(_unquote(args[0]), args[1], nullable, tuple(keywords))
        elif item.startswith("sa.UniqueConstraint("):
            name = next((_unquote(a.split("=", 1)[1]) for a in args if a.startswith("name=")), "")
            uniques[name] = tuple(_unquote(a) for a in args if not a.startswith("name="))
    return Table(match["table"], line, columns, uniques, {})


def schema_of(service: m.Service, sagas: tuple[m.Saga, ...]) -> dict[str, Table]:
    """The tables the initial migration of `service` would create today, by name, in order."""
    tables: dict[str, Table] = {}
    for line in initial_migration(service, sagas)["upgrade"]:
        table = _parse_table(line)
        if table is not None:
            tables[table.name] = table
            continue
        index = _CREATE_INDEX.match(line)
        if index is not None and index["table"] in tables:
            tables[index["table"]].indexes[index["name"]] = line
    return tables


def server_defaults(service: m.Service) -> dict[tuple[str, str], str]:
    """(table, column) -> a server default expression, for NOT NULL columns that have a default."""
    out: dict[tuple[str, str], str] = {}
    for entity in service.entities:
        for f in entity.fields:
            if f.required and f.has_default:
                out[entity.table, f.name] = _literal(f.default)
    return out


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "sa.true()" if value else "sa.false()"
    return repr(str(value))


def _drop_index(name: str, table: str) -> str:
    return f'op.drop_index("{name}", table_name="{table}")'


def _batch(table: str, lines: list[str]) -> list[str]:
    if not lines:
        return []
    body = "".join(f"\n        {line}" for line in lines)
    return [f'with op.batch_alter_table("{table}") as batch:{body}']


def _transform(
    before: Table | None, after: Table | None, defaults: Mapping[tuple[str, str], str]
) -> tuple[list[str], list[str]]:
    """The statements that turn table `before` into `after`, and a description of each change."""
    if before is None and after is None:
        return [], []
    if before is None:
        assert after is not None
        return [after.create, *after.indexes.values()], [f"create table {after.name}"]
    if after is None:
        drops = [_drop_index(name, before.name) for name in before.indexes]
        return [*drops, f'op.drop_table("{before.name}")'], [f"drop table {before.name}"]
    name = after.name
    pre = [_drop_index(ix, name) for ix, line in before.indexes.items() if after.indexes.get(ix) != line]
    post = [line for ix, line in after.indexes.items() if before.indexes.get(ix) != line]
    batch: list[str] = []
    tighten: list[str] = []
    tightened: list[str] = []
    what: list[str] = []
    for uq, cols in before.uniques.items():
        if after.uniques.get(uq) != cols:
            batch.append(f'batch.drop_constraint("{uq}", type_="unique")')
    for col in before.columns:
        if col not in after.columns:
            batch.append(f'batch.drop_column("{col}")')
            what.append(f"drop {name}.{col}")
    for col, new in after.columns.items():
        old = before.columns.get(col)
        if old is None:
            default = defaults.get((name, col))
            if new.nullable or default is not None:
                batch.append(f"batch.add_column({new.expr(server_default=default)})")
            else:
                # A NOT NULL column without a default: add it nullable, then tighten it, so
                # that an empty table migrates and a table with rows fails loudly until filled.
                batch.append(f"batch.add_column({new.expr(nullable=True)})")
                tighten.append(f'batch.alter_column("{col}", existing_type={new.type}, nullable=False)')
                tightened.append(col)
            what.append(f"add {name}.{col}")
        elif old != new:
            args = [f'"{col}"', f"existing_type={old.type}"]
            if old.type != new.type:
                args.append(f"type_={new.type}")
            args.append(f"existing_nullable={old.nullable}")
            if old.nullable != new.nullable:
                args.append(f"nullable={new.nullable}")
                if not new.nullable:
                    tightened.append(col)
            batch.append(f"batch.alter_column({', '.join(args)})")
            what.append(f"alter {name}.{col}")
    for uq, cols in after.uniques.items():
        if before.uniques.get(uq) != cols:
            batch.append(f'batch.create_unique_constraint("{uq}", {list(cols)!r})')
    if not what and (batch or pre or post):
        what.append(f"alter {name}")
    lines = list(pre)
    if tightened:
        columns = ", ".join(tightened)
        lines.append(
            f"# Rows of {name} that exist already need a value in {columns}: NOT NULL fails until they have one."
        )
    lines += [*_batch(name, batch), *_batch(name, tighten)]
    return [*lines, *post], what


@dataclass(frozen=True)
class Revision:
    number: int
    slug: str
    message: str
    upgrade: tuple[str, ...]
    downgrade: tuple[str, ...]

    @property
    def revision(self) -> str:
        return f"{self.number:04d}"

    @property
    def filename(self) -> str:
        return f"{self.revision}_{self.slug}.py"


def schema_changes(
    old: Mapping[str, Table],
    new: Mapping[str, Table],
    old_defaults: Mapping[tuple[str, str], str],
    new_defaults: Mapping[tuple[str, str], str],
) -> tuple[list[str], list[str], list[str]]:
    """(upgrade statements, downgrade statements, descriptions) from schema `old` to `new`."""
    names = [*new, *(t for t in old if t not in new)]
    upgrade: list[str] = []
    downgrade: list[str] = []
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
    return Revision(number, _slug(what), _message(what), tuple(upgrade), tuple(downgrade or ["pass"]))


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
