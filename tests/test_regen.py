"""msgen regen and msgen diff: the spec changes, the user's edits stay.

Scenarios on the shop and on a small spec; the property-based test that no
edit is ever lost is in test_regen_properties.py, and the issue's scenarios
through the CLI in a git work tree (a renamed event among them) are in
test_regen_scenarios.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from msgen import regen as r
from msgen.generate import Generated
from msgen.merge import CONFLICT_END, CONFLICT_START
from msgen.writer import BASELINE, GENERATOR, MANIFEST
from tests.regen_support import edit_spec, git, msgen, new_project, tree, write_generated

PRODUCT = "services/product/product_service"
MODELS = f"{PRODUCT}/models.py"
HANDLER = f"{PRODUCT}/handlers/product.py"
VERSIONS = f"{PRODUCT}/migrations/versions"
NEW_FIELD_BEFORE = "          released_on: { type: date, required: false }\n"
NEW_FIELD_AFTER = NEW_FIELD_BEFORE + "          weight_grams: { type: int, min: 0, required: false }\n"


@pytest.fixture
def shop_project(shop: Generated, tmp_path: Path) -> Path:
    return write_generated(tmp_path / "shop", shop)


def test_regen_right_after_new_is_a_noop_and_renders_nothing(shop_project: Path) -> None:
    before = {p: (shop_project / p).stat().st_mtime_ns for p in (MODELS, BASELINE, MANIFEST)}
    done = r.regen(shop_project)
    assert done.is_noop and not done.changes
    assert not done.rendered  # same spec, same msgen: the baseline is the rendering
    assert before == {p: (shop_project / p).stat().st_mtime_ns for p in before}


def test_a_full_rendering_of_an_unchanged_spec_changes_nothing(shop_project: Path) -> None:
    (shop_project / GENERATOR).unlink()  # as if msgen had changed: render in full
    before = tree(shop_project)
    done = r.regen(shop_project)
    assert done.rendered
    assert not done.writes  # deterministic rendering: every file is as it was
    assert set(done.metadata) == {GENERATOR}
    assert tree(shop_project).keys() - before.keys() == {GENERATOR}
    assert r.plan(shop_project).is_noop


def test_adding_a_field_keeps_the_edited_handler_and_model(shop_project: Path) -> None:
    handler = shop_project / HANDLER
    handler.write_text(handler.read_text() + "\n\ndef discount(price: int) -> int:\n    return price * 9 // 10\n")
    models = shop_project / MODELS
    models.write_text(models.read_text().replace('"""A Product."""', '"""A Product: what the shop sells."""'))
    initial = (shop_project / VERSIONS / "0001_initial.py").read_bytes()
    edit_spec(shop_project, NEW_FIELD_BEFORE, NEW_FIELD_AFTER)

    done = r.regen(shop_project)

    actions = {c.path: c.action for c in done.changes}
    assert actions[MODELS] == "merged"
    assert HANDLER not in actions  # msgen's handler did not change: the user's stays as it is
    assert not done.conflicts
    model_text = models.read_text()
    assert '"""A Product: what the shop sells."""' in model_text
    assert "weight_grams: Mapped[int | None] = mapped_column(sa.BigInteger()" in model_text
    assert "def discount(price: int)" in handler.read_text()
    assert "weight_grams" in (shop_project / f"{PRODUCT}/schemas.py").read_text()
    assert "weight_grams" in (shop_project / "contracts/openapi/product.v1.yaml").read_text()
    # Applied migrations are never rewritten; the difference is a new revision.
    assert (shop_project / VERSIONS / "0001_initial.py").read_bytes() == initial
    revision = (shop_project / VERSIONS / "0002_add_products_weight_grams.py").read_text()
    assert 'down_revision: str | None = "0001"' in revision
    assert 'batch.add_column(sa.Column("weight_grams", sa.BigInteger(), nullable=True))' in revision
    assert 'batch.drop_column("weight_grams")' in revision
    # The baseline follows, and a second run has nothing to do.
    assert json.loads((shop_project / BASELINE).read_text()) == done.rendering
    assert r.plan(shop_project).is_noop


def test_a_second_change_adds_a_third_revision_after_the_second(shop_project: Path) -> None:
    edit_spec(shop_project, NEW_FIELD_BEFORE, NEW_FIELD_AFTER)
    r.regen(shop_project)
    edit_spec(
        shop_project, "          weight_grams:", "          rating: { type: int, default: 3 }\n          weight_grams:"
    )
    r.regen(shop_project)
    names = sorted(p.name for p in (shop_project / VERSIONS).glob("*.py"))
    assert names == ["0001_initial.py", "0002_add_products_weight_grams.py", "0003_add_products_rating.py"]
    third = (shop_project / VERSIONS / names[2]).read_text()
    assert 'down_revision: str | None = "0002"' in third
    assert 'server_default="3"' in third  # a NOT NULL column with a default fills the rows that exist


def test_a_revision_the_user_added_is_followed(shop_project: Path) -> None:
    (shop_project / VERSIONS / "0002_backfill.py").write_text('revision = "0002"\ndown_revision = "0001"\n')
    edit_spec(shop_project, NEW_FIELD_BEFORE, NEW_FIELD_AFTER)
    r.regen(shop_project)
    revision = (shop_project / VERSIONS / "0003_add_products_weight_grams.py").read_text()
    assert 'down_revision: str | None = "0002"' in revision


def test_edits_to_the_same_lines_get_conflict_markers_and_the_baseline_moves(shop_project: Path) -> None:
    models = shop_project / MODELS
    price = "price: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), nullable=False)"
    models.write_text(models.read_text().replace(price, price.replace("nullable=False", "nullable=False, index=True")))
    edit_spec(
        shop_project,
        "price: { type: decimal, min: 0, precision: 12, scale: 2 }\n          currency",
        "price: { type: decimal, min: 0, precision: 14, scale: 2 }\n          currency",
    )

    done = r.regen(shop_project)

    assert done.conflicts == [MODELS]
    text = models.read_text()
    assert CONFLICT_START in text and CONFLICT_END in text
    assert "sa.Numeric(12, 2), nullable=False, index=True" in text  # yours
    assert "sa.Numeric(14, 2), nullable=False)" in text  # msgen's
    # Like copier: the baseline records the new rendering, so the markers are not merged again.
    assert json.loads((shop_project / BASELINE).read_text())[MODELS] == done.rendering[MODELS]
    again = r.regen(shop_project)
    assert again.is_noop and not again.conflicts
    assert models.read_text() == text


def test_the_cli_lists_conflicts_and_exits_1(shop_project: Path) -> None:
    models = shop_project / MODELS
    models.write_text(models.read_text().replace("sa.Numeric(12, 2)", "sa.Numeric(12, 4)"))
    edit_spec(
        shop_project,
        "price: { type: decimal, min: 0, precision: 12, scale: 2 }\n          currency",
        "price: { type: decimal, min: 0, precision: 14, scale: 2 }\n          currency",
    )
    done = msgen("regen", str(shop_project))
    assert done.returncode == 1, done.stdout + done.stderr
    assert MODELS in done.stderr
    assert "conflict" in done.stdout


def test_a_file_the_user_deleted_stays_deleted(shop_project: Path) -> None:
    schemas = shop_project / "services/product/product_service/schemas.py"
    schemas.unlink()
    edit_spec(shop_project, NEW_FIELD_BEFORE, NEW_FIELD_AFTER)
    done = r.regen(shop_project)
    assert not schemas.exists()
    assert {c.path: c.action for c in done.changes}["services/product/product_service/schemas.py"] == "not recreated"
    assert r.plan(shop_project).is_noop


def test_removing_a_service_removes_its_untouched_files_and_keeps_edited_ones(shop_project: Path) -> None:
    handler = shop_project / "services/notification/notification_service/handlers/notification.py"
    handler.write_text(handler.read_text() + "\n# my notes\n")
    spec = shop_project / "msgen.yaml"
    text = spec.read_text()
    start = text.index("  notification:\n")
    text = text[:start] + text[text.index("events:\n") :]
    text = text.replace("consumers: [notification]", "consumers: []")
    text = text.replace("consumers: [notification, payment, inventory]", "consumers: [payment, inventory]")
    spec.write_text(text)

    done = r.regen(shop_project)

    actions = {c.path: c.action for c in done.changes}
    assert actions[str(handler.relative_to(shop_project))] == "orphaned"
    assert handler.read_text().endswith("# my notes\n")
    assert actions["services/notification/notification_service/models.py"] == "removed"
    assert not (shop_project / "services/notification/notification_service/models.py").exists()
    assert not (shop_project / "contracts/openapi/notification.v1.yaml").exists()
    assert not (shop_project / "services/notification/tests").exists()  # emptied folders go too
    assert sorted(p.name for p in (shop_project / "services/notification").rglob("*") if p.is_file()) == [
        "notification.py"
    ]
    assert r.plan(shop_project).is_noop


def test_an_upgrade_of_msgen_replaces_untouched_files_and_merges_edited_ones(shop_project: Path) -> None:
    """A project made by an older msgen: its baseline and manifest differ from what this one renders."""
    baseline = json.loads((shop_project / BASELINE).read_text())
    readme_old = baseline["README.md"].replace("\n", "\nAn older msgen wrote this line.\n", 1)
    baseline["README.md"] = readme_old
    (shop_project / "README.md").write_text(readme_old)
    old_handler = baseline[HANDLER].replace('"""List Products."""', '"""List the Products."""')
    baseline[HANDLER] = old_handler
    (shop_project / HANDLER).write_text(old_handler + "\n# mine\n")
    (shop_project / BASELINE).write_text(json.dumps(baseline))
    manifest = json.loads((shop_project / MANIFEST).read_text())
    (shop_project / MANIFEST).write_text(json.dumps({**manifest, "msgen_version": "0.0.1"}))

    done = r.regen(shop_project)

    actions = {c.path: c.action for c in done.changes}
    assert actions["README.md"] == "updated"
    assert "An older msgen" not in (shop_project / "README.md").read_text()
    assert actions[HANDLER] == "merged"
    handler = (shop_project / HANDLER).read_text()
    assert '"""List Products."""' in handler and handler.endswith("# mine\n")
    assert json.loads((shop_project / MANIFEST).read_text())["msgen_version"] != "0.0.1"
    assert r.plan(shop_project).is_noop


def test_a_dirty_git_tree_is_refused_unless_forced(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "generated")
    handler = root / "services/catalog/catalog_service/handlers/item.py"
    handler.write_text(handler.read_text() + "\n# uncommitted\n")
    edit_spec(
        root,
        "          note: { type: text, required: false }\n",
        "          note: { type: text, required: false }\n          sku: { type: string, required: false }\n",
    )
    before = tree(root)
    with pytest.raises(r.DirtyTreeError, match=r"item\.py"):
        r.regen(root)
    assert tree(root) == before
    cli = msgen("regen", str(root))
    assert cli.returncode == 1 and "--force" in cli.stderr
    r.regen(root, force=True)
    assert handler.read_text().endswith("# uncommitted\n")
    assert "sku" in (root / "services/catalog/catalog_service/models.py").read_text()


def test_an_edited_spec_alone_does_not_make_the_tree_dirty(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "generated")
    edit_spec(
        root,
        "          note: { type: text, required: false }\n",
        "          note: { type: text, required: false }\n          sku: { type: string, required: false }\n",
    )
    done = r.regen(root)
    assert done.writes


def test_diff_shows_what_regen_would_do_and_writes_nothing(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    clean = msgen("diff", str(root))
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout == ""
    edit_spec(
        root,
        "          note: { type: text, required: false }\n",
        "          note: { type: text, required: false }\n          sku: { type: string, required: false }\n",
    )
    before = tree(root)
    done = msgen("diff", str(root))
    assert done.returncode == 1, done.stderr
    assert "+++ b/services/catalog/catalog_service/models.py" in done.stdout
    assert "+    sku: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)" in done.stdout
    assert "+++ b/services/catalog/catalog_service/migrations/versions/0002_add_items_sku.py" in done.stdout
    assert "would change" in done.stderr
    assert tree(root) == before


def test_regen_cli_after_a_spec_change(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    edit_spec(
        root,
        "          note: { type: text, required: false }\n",
        "          note: { type: text, required: false }\n          sku: { type: string, required: false }\n",
    )
    done = msgen("regen", str(root))
    assert done.returncode == 0, done.stderr
    assert "0002_add_items_sku.py" in done.stdout
    again = msgen("regen", str(root))
    assert again.returncode == 0 and "Nothing to change" in again.stdout
    assert msgen("diff", str(root)).returncode == 0


def test_a_file_created_where_msgen_now_generates_one_is_merged_not_overwritten(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    mine = root / "services/catalog/catalog_service/handlers/tag.py"
    mine.write_text("# my own tag handlers\n")
    spec = root / "msgen.yaml"
    spec.write_text(
        spec.read_text().replace(
            "    api:\n      crud:\n        Item:",
            "      Tag:\n        fields:\n          label: string\n    api:\n      crud:\n        Tag:\n"
            "          scopes: { read: [catalog:read] }\n        Item:",
        )
    )
    done = r.regen(root)
    assert done.conflicts == ["services/catalog/catalog_service/handlers/tag.py"]
    text = mine.read_text()
    assert "# my own tag handlers" in text and "async def list_tags" in text


def test_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(r.ProjectError, match="not a project generated by msgen"):
        r.plan(tmp_path)
    done = msgen("regen", str(tmp_path))
    assert done.returncode == 1 and "msgen new" in done.stderr


def test_a_broken_spec_writes_nothing(tmp_path: Path) -> None:
    root = new_project(tmp_path)
    edit_spec(root, "          note: { type: text, required: false }\n", "          note: { type: txet }\n")
    before = tree(root)
    done = msgen("regen", str(root))
    assert done.returncode == 2
    assert "msgen.yaml:" in done.stderr and "nothing was written" in done.stderr
    assert tree(root) == before


@pytest.mark.parametrize("command", ["regen", "diff", "add-service"])
def test_help_has_an_example(command: str) -> None:
    done = msgen(command, "--help")
    assert done.returncode == 0
    assert "Example: msgen " + command in done.stdout


def test_an_interrupted_regen_is_finished_by_the_next_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = new_project(tmp_path)
    edit_spec(
        root,
        "          note: { type: text, required: false }\n",
        "          note: { type: text, required: false }\n          sku: { type: string, required: false }\n",
    )
    real = os.replace
    moved = {"n": 0}

    def crash_after_three(src: os.PathLike[str] | str, dst: os.PathLike[str] | str, **at: int | None) -> None:
        moved["n"] += 1
        if moved["n"] > 3:
            raise OSError(28, "No space left on device")
        real(src, dst, **at)  # regen moves files into folders it opened (dst_dir_fd)

    monkeypatch.setattr(os, "replace", crash_after_three)
    with pytest.raises(OSError):
        r.regen(root)
    monkeypatch.setattr(os, "replace", real)
    done = r.regen(root)
    assert not done.conflicts
    assert "sku" in (root / "services/catalog/catalog_service/models.py").read_text()
    assert r.plan(root).is_noop


def test_diff_shows_a_project_files_escape_sequences_instead_of_playing_them(tmp_path: Path) -> None:
    """A project is anyone's folder: a file's terminal escapes (retitle, clear the screen) are printed escaped."""
    root = new_project(tmp_path)
    models = root / "services/catalog/catalog_service/models.py"
    line = "    price: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), nullable=False)\n"
    hostile = "\x1b]0;owned\x07\x1b[2J"
    models.write_text(models.read_text().replace(line, line.rstrip("\n") + f"  # {hostile}\tnote\n"))
    edit_spec(
        root,
        "          note: { type: text, required: false }\n",
        "          note: { type: text, required: false }\n          sku: { type: string, required: false }\n",
    )
    done = msgen("diff", str(root))
    assert done.returncode == 1, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "# \\x1b]0;owned\\x07\\x1b[2J\tnote" in done.stdout  # shown, the tab kept
    assert "+    sku: Mapped[str | None]" in done.stdout
