"""The loader's fast reading (libyaml) gives exactly what ruamel's reading gives, or leaves the spec to ruamel.

msgen.loader reads a spec with libyaml when it uses nothing unusual, with ruamel's own
YAML 1.2 resolver and constructors for the scalars; these tests compare both readings,
values, types and positions, on every spec of the repository and on mutations of them.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest

from msgen import loader
from msgen.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # the specs that are not text: refused before any YAML is read
        return None


SPECS = sorted(
    path
    for path in [
        *ROOT.glob("examples/*.yaml"),
        *ROOT.glob("tests/specs/**/*.yaml"),
        *ROOT.glob("tests/fixtures/**/*.yaml"),
    ]
    if _text(path) is not None
)

pytestmark = pytest.mark.skipif(loader._libyaml() is None, reason="PyYAML without libyaml: ruamel reads every spec")


def ruamel_reading(text: str) -> tuple[Any, dict[Any, Any], dict[Any, Any]] | None:
    """What the ruamel path makes of `text`: (plain tree, value positions, key positions), None if it refuses it."""
    positions = loader.Positions("spec.yaml")
    try:
        tree = loader._parse_yaml(text, "spec.yaml")
        if not isinstance(tree, loader.CommentedMap):
            return None
        plain = loader._to_plain(tree, (), positions)
    except SpecError:
        return None
    return plain, positions.values, positions.keys


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


def agrees(text: str) -> bool | None:
    """True if the fast reading equals ruamel's, None if it left the spec to ruamel; fails if they differ."""
    fast = loader._fast_plain(text, "spec.yaml")
    if fast is None:
        return None
    slow = ruamel_reading(text)
    assert slow is not None, f"read fast, but ruamel refuses it:\n{text}"
    plain, positions = fast
    assert same(plain, slow[0]), f"values differ:\n{text}"
    assert positions.values == slow[1], f"value positions differ:\n{text}"
    assert positions.keys == slow[2], f"key positions differ:\n{text}"
    return True


def test_the_examples_are_read_fast_and_alike() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from synthetic import synthetic_spec
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for text in [*(p.read_text() for p in ROOT.glob("examples/*.yaml")), synthetic_spec(3)]:
        assert agrees(text) is True


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_spec_of_the_repository_reads_alike(spec: Path) -> None:
    agrees(spec.read_text(encoding="utf-8"))


SCALARS = """\
msgen: 1
a: 'quoted'
b: "double \\u00e9 \\t"
c: plain text # a comment
d: [1, -2, +3, 0o17, 0x1F, 1_000, 1.5, 1e3, .inf, -.Inf, .nan, true, True, FALSE, null, Null, ~]
e: [yes, no, on, off, y, n, 010, 0b101, 1:20]
f: |
  literal
   kept
g: >-
  folded
  text
h: {x: 1, "y": [ ], z: {}}
1: one
'2': two
false: three
é: ü
i: "😀"
j:
- k: 1
  l:
  - - nested
    - again
- 'item'
"""


def test_scalars_mean_what_ruamel_says() -> None:
    assert agrees(SCALARS) is True
    assert agrees(SCALARS.replace("\n", "\r\n")) is True


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",
        "a: &x {b: 1}\n",
        "a: !!str 1\n",
        "a: !custom 1\n",
        "%YAML 1.1\n---\na: yes\n",
        "a: 1\na: 2\n",
        "a: {b: 1, b: 2}\n",
        "1: x\n1.0: y\n",
        "? [a, b]\n: 1\n",
        "a:\nb: 1\n",
        "a: 2001-12-14\n",
        "<<: {a: 1}\n",
        "a: =\n",
        "a:\tb\n",
        "a: b\u2028c\n",
        "a: 1\n---\nb: 2\n",
        "- 1\n- 2\n",
        "just text\n",
        "",
        "a: [1, 2\n",
        'a: "\\ud800"\n',
    ],
)
def test_anything_unusual_is_left_to_ruamel(text: str) -> None:
    assert loader._fast_plain(text, "spec.yaml") is None


def test_near_the_limits_ruamel_reads() -> None:
    deep = (
        "a:\n" + "".join("  " * depth + f"k{depth}:\n" for depth in range(1, loader.MAX_DEPTH)) + "  " * 40 + "x: 1\n"
    )
    assert loader._fast_plain(deep, "spec.yaml") is None
    wide = "a:\n" + "".join(f"  k{n}: {n}\n" for n in range(loader.MAX_NODES // 2))
    assert loader._fast_plain(wide, "spec.yaml") is None
    assert loader._fast_plain("a:\n" + "".join(f"  k{n}: {n}\n" for n in range(100)), "spec.yaml") is not None


MUTATIONS = [*" :-'\"#\n[]{},?|>&*!%@`\\0aZ9.\t", "é", "😀", "  ", "- ", ": ", "yes", "1e3", "~", "''"]


def test_mutated_specs_read_alike_or_go_to_ruamel() -> None:
    """Specs with characters inserted, deleted or lines moved: never a different reading."""
    rng = random.Random(17)
    bases = [p.read_text() for p in ROOT.glob("examples/*.yaml")] + [
        p.read_text() for p in ROOT.glob("tests/specs/*.yaml") if p.stat().st_size < 20_000
    ][:20]
    fast = 0
    for _ in range(300):
        lines = rng.choice(bases).split("\n")
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(lines))
            line = lines[at]
            choice = rng.random()
            if choice < 0.2:
                del lines[at]
            elif choice < 0.4:
                lines.insert(at, lines[rng.randrange(len(lines))])
            elif choice < 0.8:
                cut = rng.randint(0, len(line))
                lines[at] = line[:cut] + rng.choice(MUTATIONS) + line[cut:]
            elif line:
                cut = rng.randrange(len(line))
                lines[at] = line[:cut] + line[cut + 1 :]
        fast += agrees("\n".join(lines)) is True
    assert fast > 40  # most mutations still read fast: the comparison is not vacuous
