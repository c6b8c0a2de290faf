"""msgen's own caches of generation (compiled templates, the spec's JSON Schema): safe, and never wrong.

They live in $XDG_CACHE_HOME/msgen/, in folders that must be the user's own and that no one
else may write; a damaged entry is made again; MSGEN_NO_CACHE=1 turns them off.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import jinja2
import pytest

from msgen.render import _spec_schema_text
from msgen.render.templates import _template_cache, _TemplateCache, cache_folder, environment
from msgen.schema import spec_json_schema_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv("MSGEN_NO_CACHE", raising=False)
    return home


def test_a_cache_folder_is_the_users_own(cache_home: Path) -> None:
    folder = cache_folder("templates")
    assert folder == cache_home / "msgen" / "templates"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_folder_others_can_write_is_not_used(cache_home: Path) -> None:
    folder = cache_home / "msgen" / "templates"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    assert cache_folder("templates") is None
    folder.chmod(0o700)
    (cache_home / "msgen").chmod(0o777)
    assert cache_folder("templates") is None


def test_a_link_is_not_used(cache_home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (cache_home / "msgen").mkdir(parents=True)
    (cache_home / "msgen" / "templates").symlink_to(elsewhere)
    assert cache_folder("templates") is None


def test_msgen_no_cache_turns_them_off(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSGEN_NO_CACHE", "1")
    assert cache_folder("templates") is None
    assert _template_cache(environment()) is None
    assert _spec_schema_text() == spec_json_schema_text()
    assert not (cache_home / "msgen").exists()


def test_compiled_templates_are_kept_and_checked_against_their_source(cache_home: Path, tmp_path: Path) -> None:
    sources = tmp_path / "templates"
    sources.mkdir()
    (sources / "t.j2").write_text("{{ 1 + 1 }}")
    folder = cache_folder("templates")
    assert folder is not None

    def render() -> str:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(sources)))
        env.bytecode_cache = _TemplateCache(folder, "test")
        return env.get_template("t.j2").render()

    assert render() == "2"
    kept = sorted(folder.glob("test-*.cache"))
    assert len(kept) == 1
    (sources / "t.j2").write_text("{{ 2 + 2 }}")  # an edited template is compiled again
    assert render() == "4"
    kept[0].write_bytes(b"not a compiled template")  # a damaged entry is compiled again
    assert render() == "4"
    folder.chmod(0o500)  # a cache that cannot be written only makes the run slower
    try:
        for entry in folder.glob("test-*.cache"):
            os.chmod(entry, 0o600)
        assert render() == "4"
    finally:
        folder.chmod(0o700)


def test_the_spec_schema_is_kept_and_a_damaged_entry_made_again(cache_home: Path) -> None:
    expected = spec_json_schema_text()
    assert _spec_schema_text() == expected
    entries = list((cache_home / "msgen" / "schema").glob("*.json"))
    assert len(entries) == 1
    assert entries[0].read_text() == expected
    assert _spec_schema_text() == expected  # from the cache
    entries[0].write_text('{"truncated": ')
    assert _spec_schema_text() == expected
    assert entries[0].read_text() == expected


def test_the_runtime_wheel_is_built_once_per_runtime_and_a_damaged_entry_built_again(
    cache_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from msgen import runtime_dist

    first = runtime_dist.build_wheel(tmp_path / "one" / "wheels")
    entries = list((cache_home / "msgen" / "wheels").glob("*.whl"))
    assert len(entries) == 1 and entries[0].name.endswith(f"-{first.name}")
    assert stat.S_IMODE(first.stat().st_mode) == 0o644

    built: list[Path] = []  # built from the checkout (hatchling) or repacked from the installed runtime
    build, repack = runtime_dist._build, runtime_dist._repack
    monkeypatch.setattr(runtime_dist, "_build", lambda project, out: built.append(out) or build(project, out))
    monkeypatch.setattr(runtime_dist, "_repack", lambda *args: built.append(args[-1]) or repack(*args))
    second = runtime_dist.build_wheel(tmp_path / "two" / "wheels")  # another project: no build
    assert built == [] and second.read_bytes() == first.read_bytes()

    entries[0].write_bytes(entries[0].read_bytes()[:-100])  # damaged: built again, and kept again
    third = runtime_dist.build_wheel(tmp_path / "three" / "wheels")
    assert len(built) == 1 and third.read_bytes() == first.read_bytes()
    assert [e.read_bytes() for e in (cache_home / "msgen" / "wheels").glob("*.whl")] == [first.read_bytes()]


def test_no_cache_builds_the_wheel_and_keeps_nothing(
    cache_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from msgen import runtime_dist

    monkeypatch.setenv("MSGEN_NO_CACHE", "1")
    wheel = runtime_dist.build_wheel(tmp_path / "wheels")
    assert wheel.is_file() and not (cache_home / "msgen").exists()


@pytest.fixture(scope="module")
def unformatted_shop() -> dict[str, str]:
    """The shop's files as rendered, before ruff."""
    import msgen.render
    from msgen.generate import generate

    patch = pytest.MonkeyPatch()
    patch.setattr(msgen.render, "format_python", lambda files: files)
    try:
        return generate(ROOT / "examples" / "shop.yaml").files
    finally:
        patch.undo()


def test_formatted_files_are_kept_per_batch_and_ruff_runs_on_the_others_only(
    cache_home: Path, unformatted_shop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from msgen.render import formatting

    monkeypatch.setenv("MSGEN_NO_CACHE", "1")
    expected = formatting.format_python(unformatted_shop)
    monkeypatch.delenv("MSGEN_NO_CACHE")
    assert formatting.format_python(unformatted_shop) == expected  # ruff on all, then kept
    assert len(list((cache_home / "msgen" / "formatted").glob("*.json"))) == 1

    ran: list[list[str]] = []
    run = formatting._ruff
    monkeypatch.setattr(formatting, "_ruff", lambda *args: ran.append(args[3]) or run(*args))
    assert formatting.format_python(unformatted_shop) == expected  # all kept: no ruff
    assert ran == []

    # two files changed: ruff sees the same tree and formats those two only, as it would have in one batch
    module = next(p for p in unformatted_shop if p.endswith("_service/main.py"))
    init = next(p for p in unformatted_shop if p.endswith("__init__.py"))
    edited = {
        **unformatted_shop,
        module: unformatted_shop[module] + "\nimport sys\nimport os\nimport json\n\nprint( json.dumps( os.sep ) )\n",
        init: unformatted_shop[init] + "\nVALUE = ( 1 )\n",
    }
    monkeypatch.setenv("MSGEN_NO_CACHE", "1")
    expected_edited = formatting.format_python(edited)
    assert ran == [[p for p in edited if p.endswith(".py")]]  # without the cache: every file
    ran.clear()
    monkeypatch.delenv("MSGEN_NO_CACHE")
    assert formatting.format_python(edited) == expected_edited
    assert ran == [[p for p in edited if p in (module, init)]]
    assert expected_edited[module] != expected[module] and expected_edited[init] != expected[init]
    assert formatting.format_python(unformatted_shop) == expected  # the other version is kept too
    assert len(ran) == 1


def test_a_damaged_formatting_entry_is_formatted_again(
    cache_home: Path, unformatted_shop: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from msgen.render import formatting

    expected = formatting.format_python(unformatted_shop)
    (entry,) = (cache_home / "msgen" / "formatted").glob("*.json")
    entry.write_text('{"truncated": ')
    assert formatting.format_python(unformatted_shop) == expected
    entry.write_text("[]")
    assert formatting.format_python(unformatted_shop) == expected


def test_contract_yaml_is_kept_by_the_documents_values_types_and_shared_parts(cache_home: Path) -> None:
    from msgen.render.openapi import _to_yaml, to_yaml

    shared = {"type": "object", "properties": {"id": {"type": "string"}}}
    documents: list[dict[str, object]] = [
        {"a": shared, "b": shared},  # one dict met twice: an anchor and an alias
        {"a": shared, "b": {"type": "object", "properties": {"id": {"type": "string"}}}},  # equal, not shared
        {"a": 1, "b": True},
        {"a": 1.0, "b": 1},
        {"a": "1", "b": 1},
    ]
    texts = [to_yaml(d) for d in documents]
    assert texts == [_to_yaml(d) for d in documents]
    assert len(set(texts)) == len(texts) and "&id001" in texts[0] and "&id001" not in texts[1]
    entries = sorted((cache_home / "msgen" / "yaml").glob("*.yaml"))
    assert len(entries) == len(documents)
    assert [to_yaml(d) for d in documents] == texts  # read back
    for entry in entries:  # damaged: written again
        entry.write_bytes(entry.read_bytes()[:-3] + b"xyz")
    assert [to_yaml(d) for d in documents] == texts
    from msgen.caches import read_checked

    assert all(read_checked(entry.parent, entry.name) is not None for entry in entries)


def test_a_cache_folder_is_kept_under_its_size(cache_home: Path) -> None:
    from msgen import caches

    folder = caches.cache_folder("test")
    assert folder is not None
    for i in range(10):
        entry = folder / f"{i}.bin"
        entry.write_bytes(b"x" * 100)
        os.utime(entry, ns=(i * 10**9, i * 10**9))
    caches.prune(folder, limit=450)
    assert sorted(p.name for p in folder.iterdir()) == ["6.bin", "7.bin", "8.bin", "9.bin"]  # the newest
