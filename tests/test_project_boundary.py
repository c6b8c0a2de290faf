"""The project boundary: regen, diff, add-service and new --force never read, print, write or delete outside the project.

A generated project is a folder anyone can edit, ``.msgen/`` included. Each
attack below puts a canary outside the project whose content matches what the
hostile project claims, and checks that the canary is neither read (printed),
written nor deleted, and that the run is refused with one clear line, exit code 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from msgen import regen as r
from msgen.boundary import BoundaryError, ProjectTree, checked
from msgen.generate import Generated, generate
from msgen.writer import BASELINE, GENERATOR, MANIFEST, write_project
from tests.conftest import ROOT
from tests.processes import run
from tests.regen_support import SMALL_SPEC, edit_spec, msgen, tree

STOCK = "services/stock"
STOCK_MODELS = f"{STOCK}/stock_service/models.py"
# Adding a field to the stock's Level changes its models, schemas, routes...: regen writes there.
LEVEL_BEFORE = "          quantity: { type: int, min: 0 }\n"
LEVEL_AFTER = LEVEL_BEFORE + "          note: { type: text, required: false }\n"
SECRET = "CANARY-SECRET-7f3a"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    spec = tmp_path_factory.mktemp("spec") / "mini.yaml"
    spec.write_text(SMALL_SPEC)
    return generate(spec)


@pytest.fixture
def project(small: Generated, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write_project(root, small.files, small.system.spec_hash)
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def baseline_of(root: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((root / BASELINE).read_text())
    return data


def list_in_baseline(root: Path, entry: str, text: str) -> None:
    """The hostile edit: `entry` in the baseline with `text`, and a full rendering on the next run."""
    baseline = baseline_of(root)
    baseline[entry] = text
    (root / BASELINE).write_text(json.dumps(baseline))
    (root / GENERATOR).unlink()  # as after an upgrade of msgen: render in full, decide every file


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


# -- entries of the baseline and the manifest ------------------------------------------


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("../canary.txt", "goes up with '..'"),
        ("services/../../canary.txt", "goes up with '..'"),
        ("..\\canary.txt", "holds a backslash"),
        ("C:/canary.txt", "is an absolute path"),
        ("a\x00b", "holds a NUL byte"),
        ("a\x1b[31mb", "holds a control character"),
        ("services//x.py", "is not a normalized path"),
        ("./x.py", "is not a normalized path"),
        (".git/config", "lies in .git/"),
        (".msgen/manifest.json", "lies in .msgen/"),
        ("", "is not a file path"),
    ],
)
def test_an_entry_leaving_the_project_is_refused(entry: str, why: str) -> None:
    with pytest.raises(BoundaryError, match="msgen reads and writes only inside the project") as info:
        checked(entry, BASELINE)
    message = str(info.value)
    assert why in message and "\n" not in message and "\x00" not in message and "\x1b" not in message
    assert message.startswith(f"{BASELINE}: entry '")


def test_normal_entries_pass() -> None:
    for entry in ("msgen.yaml", "services/stock/stock_service/models.py", ".github/workflows/ci.yaml", "a..b/c"):
        assert checked(entry, BASELINE) == entry


def test_regen_does_not_delete_a_file_above_the_project(project: Path, tmp_path: Path) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text(SECRET)
    list_in_baseline(project, "../canary.txt", SECRET)  # same content: "unchanged by you, no longer generated"
    before = tree(project)
    done = msgen("regen", str(project), "--force")
    assert done.returncode == 2, done.stdout + done.stderr
    line = one_error_line(done.stderr)
    assert "'../canary.txt'" in line and BASELINE in line
    assert canary.read_text() == SECRET
    assert tree(project) == before  # nothing written either


def test_regen_does_not_delete_an_absolute_path(project: Path, outside: Path) -> None:
    canary = outside / "canary.txt"
    canary.write_text(SECRET)
    list_in_baseline(project, str(canary), SECRET)
    with pytest.raises(BoundaryError, match="is an absolute path"):
        r.regen(project, force=True)
    assert canary.read_text() == SECRET


def test_diff_does_not_print_a_file_outside_the_project(project: Path, outside: Path) -> None:
    canary = outside / "canary.txt"
    canary.write_text(SECRET + "\n")
    # Listed with other content, the file would be "orphaned" (changed by you): shown, and kept.
    list_in_baseline(project, os.path.relpath(canary, project), "something else\n")
    done = msgen("diff", str(project))
    assert done.returncode == 2
    assert SECRET not in done.stdout + done.stderr
    assert "goes up with '..'" in one_error_line(done.stderr)
    assert canary.read_text() == SECRET + "\n"


def test_a_manifest_entry_leaving_the_project_is_refused(project: Path) -> None:
    manifest = json.loads((project / MANIFEST).read_text())
    manifest["files"]["/etc/passwd"] = "0" * 64
    (project / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BoundaryError, match=r"manifest.json: entry '/etc/passwd' is an absolute path"):
        r.plan(project)


@pytest.mark.parametrize("name", [MANIFEST, BASELINE])
def test_json_nested_beyond_the_stack_is_a_damaged_project(project: Path, name: str) -> None:
    (project / name).write_text("[" * 200_000 + "]" * 200_000)
    done = msgen("diff", str(project))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "is damaged (nested too deeply)" in one_error_line(done.stderr)


# -- symbolic links in the project -------------------------------------------------------


def link_folder_outside(project: Path, outside: Path, folder: str) -> Path:
    """`folder` of the project moved outside, and a link to it left in its place."""
    target = outside / Path(folder).name
    shutil.move(str(project / folder), str(target))
    (project / folder).symlink_to(target, target_is_directory=True)
    return target


def test_regen_never_writes_through_a_linked_folder(project: Path, outside: Path) -> None:
    target = link_folder_outside(project, outside, STOCK)
    edit_spec(project, LEVEL_BEFORE, LEVEL_AFTER)
    before, before_project = tree(target), tree(project)
    done = msgen("regen", str(project), "--force")
    assert done.returncode == 2, done.stdout + done.stderr
    line = one_error_line(done.stderr)
    assert f"{STOCK} is a symbolic link" in line
    assert tree(target) == before
    assert tree(project) == before_project
    done = msgen("diff", str(project))
    assert done.returncode == 2 and f"{STOCK} is a symbolic link" in one_error_line(done.stderr)
    assert "class Level" not in done.stdout  # the linked folder's files are not shown


def test_a_linked_file_is_neither_read_nor_replaced(project: Path, outside: Path) -> None:
    canary = outside / "models.py"
    canary.write_text((project / STOCK_MODELS).read_text() + f"# {SECRET}\n")
    (project / STOCK_MODELS).unlink()
    (project / STOCK_MODELS).symlink_to(canary)
    edit_spec(project, LEVEL_BEFORE, LEVEL_AFTER)
    done = msgen("diff", str(project))
    assert done.returncode == 2
    assert SECRET not in done.stdout + done.stderr
    assert f"{STOCK_MODELS} is a symbolic link" in one_error_line(done.stderr)
    with pytest.raises(BoundaryError, match="is a symbolic link"):
        r.regen(project, force=True)
    assert (project / STOCK_MODELS).is_symlink() and SECRET in canary.read_text()


def test_a_linked_msgen_folder_is_refused(project: Path, outside: Path) -> None:
    target = link_folder_outside(project, outside, ".msgen")
    before = tree(target)
    with pytest.raises(BoundaryError, match=r"\.msgen is a symbolic link"):
        r.regen(project, force=True)
    assert tree(target) == before


def test_a_linked_project_spec_is_refused_by_add_service(project: Path, outside: Path) -> None:
    from msgen.add_service import add_service

    spec = outside / "msgen.yaml"
    shutil.move(str(project / "msgen.yaml"), str(spec))
    (project / "msgen.yaml").symlink_to(spec)
    text = spec.read_text()
    with pytest.raises(BoundaryError, match=r"msgen\.yaml is a symbolic link"):
        add_service(project, "review", force=True)
    assert spec.read_text() == text
    assert not (project / "services" / "review").exists()


def test_a_template_service_is_not_moved_through_a_linked_folder(project: Path, outside: Path) -> None:
    from msgen.add_service import add_service
    from msgen.service_template import TemplateOptions

    target = link_folder_outside(project, outside, "services")
    before, spec = tree(target), (project / "msgen.yaml").read_text()
    template = TemplateOptions(path=ROOT / "tests" / "fixtures" / "templates" / "copier-service")
    with pytest.raises(BoundaryError, match=r"^services is a symbolic link, on the way to 'services/search':"):
        add_service(project, "search", template=template, force=True)
    assert tree(target) == before and not (target / "search").exists()
    assert (project / "msgen.yaml").read_text() == spec


def test_a_linked_revision_of_the_user_is_refused(project: Path, outside: Path) -> None:
    canary = outside / "0002_mine.py"
    canary.write_text(f'revision = "{SECRET}"\ndown_revision = "x"\n')
    versions = project / STOCK / "stock_service" / "migrations" / "versions"
    (versions / "0002_mine.py").symlink_to(canary)
    edit_spec(project, LEVEL_BEFORE, LEVEL_AFTER)  # a new revision: the folder's head is looked for
    with pytest.raises(BoundaryError, match=r"0002_mine\.py is a symbolic link"):
        r.plan(project)


def test_links_msgen_does_not_need_are_left_alone(project: Path, outside: Path, tmp_path: Path) -> None:
    """The project's folder may be a link (the user named it); a link the user added elsewhere is not msgen's."""
    (outside / "notes.md").write_text(SECRET)
    (project / "notes").symlink_to(outside, target_is_directory=True)
    (project / "services" / "docs").symlink_to(outside, target_is_directory=True)
    edit_spec(project, LEVEL_BEFORE, LEVEL_AFTER)
    via_link = tmp_path / "project-link"
    via_link.symlink_to(project, target_is_directory=True)
    done = r.regen(via_link, force=True)
    assert STOCK_MODELS in {c.path for c in done.writes}
    assert "note: Mapped" in (project / STOCK_MODELS).read_text()
    assert [p.name for p in outside.iterdir()] == ["notes.md"] and (outside / "notes.md").read_text() == SECRET
    assert r.plan(project).is_noop


def test_new_force_over_a_project_does_not_write_through_a_link(small: Generated, project: Path, outside: Path) -> None:
    target = link_folder_outside(project, outside, STOCK)
    before = tree(target)
    with pytest.raises(BoundaryError, match=f"{STOCK} is a symbolic link"):
        write_project(project, small.files, small.system.spec_hash, force=True)
    assert tree(target) == before


def test_a_folder_swapped_for_a_link_after_the_checks_is_not_followed(project: Path, outside: Path) -> None:
    """What regen checked in its plan is checked again, through descriptors, when it writes."""
    staged = project / ".msgen" / "staged"
    staged.write_text("new\n")
    link_folder_outside(project, outside, STOCK)
    with pytest.raises(BoundaryError, match="is a symbolic link"):
        ProjectTree(project).move_in(staged, STOCK_MODELS)
    assert "new\n" not in [p.read_text() for p in outside.rglob("*.py")]
    with pytest.raises(BoundaryError, match="is a symbolic link"):
        ProjectTree(project).remove(f"{STOCK}/README.md")
    assert (outside / "stock" / "README.md").is_file()


# -- bounded reads ---------------------------------------------------------------------


def test_a_huge_baseline_is_refused_without_reading_it(project: Path) -> None:
    with (project / BASELINE).open("r+b") as handle:
        handle.truncate(2 * 1024**3)  # 2 GB, sparse: costs no disk
    with pytest.raises(BoundaryError, match=r"baseline.json is larger than 64 MiB"):
        r.plan(project)


def run_with_deadline(*args: str) -> subprocess.CompletedProcess[str]:
    """msgen in its own process group, killed (group and all) if it outlives a generous bound."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return run([sys.executable, "-m", "msgen", *args], env=env, timeout=120)


@pytest.mark.parametrize("path", [BASELINE, STOCK_MODELS])
def test_a_fifo_in_place_of_a_file_does_not_hang(project: Path, path: str) -> None:
    (project / path).unlink()
    os.mkfifo(project / path)
    edit_spec(project, LEVEL_BEFORE, LEVEL_AFTER)
    # Were msgen to open the FIFO for reading, it would wait for a writer forever: nobody writes.
    done = run_with_deadline("diff", str(project))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{path} is not a regular file" in one_error_line(done.stderr)
