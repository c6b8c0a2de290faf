"""The one plan -> check -> apply of regen and both add-service paths (msgen/plan.py).

A plan is data computed without writing: computed twice it is equal; check() finds
what stands in the way and apply() then writes nothing at all; a plan with nothing
in the way writes exactly its changes.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from msgen import plan as p
from msgen import regen as r
from msgen.add_service import add_service_text
from msgen.boundary import BoundaryError
from msgen.generate import Generated, generate
from msgen.writer import BASELINE, META_DIR
from tests.regen_support import SMALL_SPEC, commit_all, edit_spec, git_status, project_files, write_generated

LEVEL = "services/stock/stock_service/models.py"
LEVEL_BEFORE = "          quantity: { type: int, min: 0 }\n"
LEVEL_AFTER = LEVEL_BEFORE + "          note: { type: text, required: false }\n"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    spec = tmp_path_factory.mktemp("spec") / "mini.yaml"
    spec.write_text(SMALL_SPEC)
    return generate(spec)


@pytest.fixture
def project(small: Generated, tmp_path: Path) -> Path:
    root = write_generated(tmp_path / "project", small)
    commit_all(root, "generated")
    return root


def test_a_plan_computed_twice_is_equal_and_writes_nothing(project: Path) -> None:
    edit_spec(project, LEVEL_BEFORE, LEVEL_AFTER)
    before = project_files(project)
    first, second = r.plan(project), r.plan(project)
    assert first == second
    assert project_files(project) == before
    assert first.rendered and not first.problems
    models = next(c for c in first.changes if c.path == LEVEL)
    assert (models.action, models.operation, models.why) == ("updated", "update", "unchanged by you: replaced")
    assert models.before == before[LEVEL].decode() and models.after is not None and "note" in models.after
    assert p.check(first) == p.check(second)  # what stands in the way is data too


def test_an_add_service_plan_computed_twice_is_equal(project: Path) -> None:
    edited = add_service_text((project / "msgen.yaml").read_text(), "review")
    first, second = r.plan(project, spec_text=edited), r.plan(project, spec_text=edited)
    assert first == second
    created = {c.path for c in first.changes if c.operation == "create"}
    assert "services/review/review_service/models.py" in created
    assert {c.why for c in first.changes if c.path in created} == {"new"}


def test_apply_of_a_plan_with_uncommitted_work_in_the_way_writes_nothing(project: Path) -> None:
    edit_spec(project, LEVEL_BEFORE, LEVEL_AFTER)
    handler = project / "services/catalog/catalog_service/handlers/item.py"
    handler.write_text(handler.read_text() + "# mine, not committed\n")
    before, status = project_files(project), git_status(project)
    planned = p.check(r.plan(project))
    assert [problem.kind for problem in planned.problems] == ["uncommitted"]
    assert planned.problems[0].paths == ("services/catalog/catalog_service/handlers/item.py",)
    with pytest.raises(p.DirtyTreeError, match=r"uncommitted changes \(services/catalog/.*/item\.py\)"):
        p.apply(planned)
    assert project_files(project) == before and git_status(project) == status
    forced = p.check(r.plan(project), force=True)
    assert not forced.problems
    p.apply(forced)
    assert "note" in (project / LEVEL).read_text()
    assert handler.read_text().endswith("# mine, not committed\n")
    assert r.plan(project).is_noop


def test_a_file_already_as_planned_is_not_uncommitted_work(project: Path) -> None:
    """A run interrupted after writing some files: those are the plan's, not the user's."""
    edit_spec(project, LEVEL_BEFORE, LEVEL_AFTER)
    planned = r.plan(project)
    models = next(c for c in planned.changes if c.path == LEVEL)
    assert models.after is not None
    (project / LEVEL).write_text(models.after)
    assert not p.check(r.plan(project)).problems


def test_apply_of_a_plan_with_a_link_in_the_way_writes_nothing(project: Path, tmp_path: Path) -> None:
    edit_spec(project, LEVEL_BEFORE, LEVEL_AFTER)
    outside = tmp_path / "outside.py"
    outside.write_text("outside\n")
    planned = r.plan(project)
    (project / LEVEL).unlink()
    (project / LEVEL).symlink_to(outside)
    before = project_files(project)
    checked = p.check(planned, force=True)
    assert [problem.kind for problem in checked.problems] == ["boundary"]
    with pytest.raises(BoundaryError, match="is a symbolic link"):
        p.apply(checked)
    assert project_files(project) == before and outside.read_text() == "outside\n"


def test_a_folder_in_the_way_stops_the_plan(project: Path) -> None:
    occupied = project / "services" / "search"
    occupied.mkdir()
    (occupied / "mine.py").write_text("x = 1\n")
    staged = project / META_DIR / "made"
    staged.mkdir()
    (staged / "main.py").write_text("y = 2\n")
    planned = replace(r.plan(project), folders=(p.Folder("services/search", staged),))
    checked = p.check(planned, force=True)
    assert [problem.kind for problem in checked.problems] == ["folder"]
    before = project_files(project)
    with pytest.raises(p.FolderInTheWayError, match="already exists: the template's output would mix with it"):
        p.apply(checked)
    assert project_files(project) == before
    shutil.rmtree(occupied)  # now nothing is in the way: the folder moves in whole
    moved = p.check(planned, force=True)
    assert not moved.problems
    p.apply(moved)
    assert (project / "services" / "search" / "main.py").read_text() == "y = 2\n" and not staged.exists()


def test_a_folder_moved_in_is_removed_when_the_rest_fails(project: Path, tmp_path: Path) -> None:
    staged = project / META_DIR / "made"
    staged.mkdir()
    (staged / "main.py").write_text("y = 2\n")
    nowhere = p.SpecFile(tmp_path / "missing-folder" / "spec.yaml", "msgen: 1\n")
    planned = replace(r.plan(project), folders=(p.Folder("services/search", staged),), spec_file=nowhere)
    planned = p.check(planned, force=True)
    assert not planned.problems
    with pytest.raises(FileNotFoundError):
        p.apply(planned)
    assert not (project / "services" / "search").exists()
    assert not [name for name in (project / META_DIR).iterdir() if name.name.startswith("regen-")]


def test_an_unchanged_project_plans_nothing(project: Path) -> None:
    planned = p.check(r.plan(project))
    assert planned.is_noop and not planned.rendered and not planned.problems
    before = project_files(project)
    p.apply(planned)
    assert project_files(project) == before


def test_the_baseline_is_written_last_with_the_rendering(project: Path) -> None:
    edit_spec(project, LEVEL_BEFORE, LEVEL_AFTER)
    planned = p.check(r.plan(project), force=True)
    assert BASELINE in planned.metadata
    p.apply(planned)
    assert (project / BASELINE).read_text() == planned.metadata[BASELINE]
