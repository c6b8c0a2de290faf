"""Property: whatever the user edits and however the spec changes, regen never silently loses an edit.

Random edits (a line inserted, a line replaced, a file deleted) on random
generated files, combined with random spec changes; after regen every edit is
in its file (merged, or inside conflict markers), every deleted file is still
deleted, and a second regen has nothing to do.
"""

from __future__ import annotations

import shutil
import tempfile
from functools import cache
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from msgen import regen as r
from msgen.gates import EvolutionError
from msgen.generate import Generated, generate
from msgen.merge import CONFLICT_START
from tests.regen_support import SMALL_SPEC, tree, write_generated

# Spec changes as (old, new) replacements of SMALL_SPEC; some are refused by the gates, which is fine.
SPEC_CHANGES = {
    "add an optional field": (
        "          note: { type: text, required: false }\n",
        "          note: { type: text, required: false }\n          colour: { type: string, required: false }\n",
    ),
    "add a required field": (
        "          quantity: { type: int, min: 0 }\n",
        "          quantity: { type: int, min: 0 }\n          bin: { type: string, max_length: 8 }\n",
    ),
    "change a constraint": ("name: { type: string, max_length: 100 }", "name: { type: string, max_length: 120 }"),
    "add an entity": (
        "    api:\n      crud:\n        Item:",
        "      Tag:\n        fields:\n          label: string\n    api:\n      crud:\n        Tag:\n"
        "          scopes: { read: [catalog:read] }\n        Item:",
    ),
    "add an event field": (
        "      price: { type: decimal, precision: 12, scale: 2 }\n",
        "      price: { type: decimal, precision: 12, scale: 2 }\n      note: { type: string, required: false }\n",
    ),
    "drop a field (refused)": ("          note: { type: text, required: false }\n", ""),
    "describe a service": ("    description: Items for sale.\n", "    description: Items we sell.\n"),
}


@cache
def small() -> Generated:
    """SMALL_SPEC rendered once (a function, not a fixture: hypothesis would print all of it on a failure)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "mini.yaml"
        spec.write_text(SMALL_SPEC)
        return generate(spec)


# The files the spec changes touch, weighted up so that edits and changes often meet in one file.
HOT = (
    "services/catalog/catalog_service/models.py",
    "services/catalog/catalog_service/schemas.py",
    "services/catalog/catalog_service/api/routes.py",
    "services/catalog/catalog_service/handlers/item.py",
    "services/stock/stock_service/models.py",
    "contracts/openapi/catalog.v1.yaml",
    "contracts/avro/item.priced.v1.avsc",
)


def _editable(generated: Generated) -> list[str]:
    every = sorted(p for p in generated.files if p != "msgen.yaml" and generated.files[p].strip())
    return [*(p for p in HOT * 10 if p in generated.files), *every]


edits = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10_000),  # which file
        st.sampled_from(["insert", "replace", "delete"]),
        st.integers(min_value=0, max_value=10_000),  # where in it
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=12, deadline=None)
@given(edits=edits, changes=st.lists(st.sampled_from(sorted(SPEC_CHANGES)), max_size=2, unique=True))
def test_no_user_edit_is_ever_lost(edits: list[tuple[int, str, int]], changes: list[str]) -> None:
    files = _editable(small())
    with tempfile.TemporaryDirectory() as tmp:
        root = write_generated(Path(tmp) / "p", small())
        tokens: dict[str, list[str]] = {}
        deleted: set[str] = set()
        for n, (which, kind, where) in enumerate(edits):
            path = files[which % len(files)]
            target = root / path
            if path in deleted:
                continue
            if kind == "delete":
                target.unlink()
                deleted.add(path)
                tokens.pop(path, None)
                continue
            lines = target.read_text().splitlines(keepends=True)
            token = f"# user edit {n} #\n"
            at = where % (len(lines) + (1 if kind == "insert" else 0))
            if kind == "insert":
                lines.insert(at, token)
            else:
                if lines[at].strip() in tokens.get(path, []):
                    tokens[path].remove(lines[at].strip())  # the user replaced their own edit
                lines[at] = token
            target.write_text("".join(lines))
            tokens.setdefault(path, []).append(token.strip())
        spec = root / "msgen.yaml"
        text = spec.read_text()
        for change in changes:
            old, new = SPEC_CHANGES[change]
            text = text.replace(old, new)
        spec.write_text(text)
        before = tree(root)

        try:
            done = r.regen(root)
        except EvolutionError:
            event("refused by a gate")
            assert tree(root) == before  # refused: nothing written
            return
        event("rendered" if done.rendered else "unchanged spec")
        if done.conflicts:
            event("with conflicts")
        if any(c.action == "merged" for c in done.changes):
            event("with clean merges")

        for path, wanted in tokens.items():
            now = (root / path).read_text()
            for token in wanted:
                assert token in now, f"{token} lost from {path} ({changes})"
        for path in deleted:
            assert not (root / path).exists(), f"{path} was deleted by the user and came back"
        for change in done.changes:
            if change.after is not None and CONFLICT_START in change.after:
                assert change.path in done.conflicts
        again = r.plan(root)
        assert again.is_noop, [c.path for c in again.writes]
        shutil.rmtree(root)
