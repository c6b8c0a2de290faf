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
