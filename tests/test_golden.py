"""The examples' generated projects are committed: examples/shop.yaml under tests/golden/shop,
examples/courier.yaml under tests/golden/courier.

Regenerate both after an intended change with:

    MSGEN_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py

and review the diff like any other change.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from msgen.generate import Generated, generate
from msgen.writer import MANIFEST, metadata_files
from tests.conftest import COURIER_SPEC, ROOT, SHOP_SPEC

GOLDEN = ROOT / "tests" / "golden"


def _expected_tree(shop: Generated) -> dict[str, str]:
    # The baseline is every file again; the golden tree keeps the manifest, which hashes them.
    meta = metadata_files(shop.files, shop.system.spec_hash)
    return {**shop.files, MANIFEST: meta[MANIFEST]}


def _read_tree(root: Path) -> dict[str, str]:
    # what Python caches beside a module (a test importing a golden service's models) is not the tree's
    files = (p for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts)
    return {p.relative_to(root).as_posix(): p.read_text() for p in files}


def _compare_with_golden(generated: Generated, name: str) -> None:
    """The project equals tests/golden/<name> byte for byte; MSGEN_UPDATE_GOLDEN=1 rewrites the tree first."""
    expected = _expected_tree(generated)
    golden = GOLDEN / name
    if os.environ.get("MSGEN_UPDATE_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        for path, text in expected.items():
            target = golden / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    actual = _read_tree(golden)
    assert sorted(actual) == sorted(expected), "files added or removed: run MSGEN_UPDATE_GOLDEN=1"
    changed = [path for path in expected if actual[path] != expected[path]]
    assert not changed, f"generated files differ from tests/golden/{name}: {changed}"


def test_generated_shop_matches_golden_tree(shop: Generated) -> None:
    _compare_with_golden(shop, "shop")


def test_generated_courier_matches_golden_tree(courier: Generated) -> None:
    _compare_with_golden(courier, "courier")


@pytest.mark.parametrize("spec", [SHOP_SPEC, COURIER_SPEC], ids=["shop", "courier"])
def test_generation_is_byte_identical(spec: Path) -> None:
    first = generate(spec)
    second = generate(spec)
    assert first.files == second.files
    assert metadata_files(first.files, first.system.spec_hash) == metadata_files(second.files, second.system.spec_hash)
