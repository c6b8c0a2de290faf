"""deploy/'s and observability/'s YAML (msgen.render.yamltext) is PyYAML's pure-Python emitter's, written faster.

Where a document holds only printable ASCII text (and short, non-empty keys), numbers, booleans
and nulls, yamltext hands it to libyaml's emitter, which writes the same text ten times faster;
any other document goes to the pure-Python emitter as before. These tests compare the two on the
examples' documents and on random documents of awkward text, both inside and outside that set.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from msgen.loader import load_spec_text
from msgen.render import yamltext
from msgen.render.observability import rule_groups, rule_tests
from msgen.resolve import resolve

ROOT = Path(__file__).resolve().parents[1]


def pure(value: Any) -> str:
    text: str = yaml.dump(
        value, Dumper=yamltext._Dumper, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True
    )
    return text


ASCII = [chr(c) for c in range(0x20, 0x7F)] + list(":#-'\"{}[],&*!|>%@`? ") * 3 + ["  ", "- ", ": ", " #", "---"]
WORDS = ["yes", "No", "null", "~", "1.5", "0o7", "1e3", ".inf", "2001-12-14", "=", "<<", " x", "x ", "on", "+1"]
AWKWARD = ["\n", "\t", "\r", "\x85", "\u2028", "\ufeff", "é", "😀", "\x00", "\x7f", "\xa0"]


def document(rng: random.Random, pieces: list[str]) -> Any:
    def text(longest: int) -> str:
        if rng.random() < 0.3:
            return rng.choice(WORDS)
        return "".join(rng.choices(pieces, k=rng.randint(1, longest)))

    value, key = text(rng.choice([5, 40, 200, 1100])), text(60)
    return {
        "k": value,
        key: [1, -2, 2.5, None, True, 1e-7, 10**20, {"m": value, key: [value, {"a": [value]}]}],
        "e": {},
        "f": [],
        "g": [[value, [key]]],
        "h": {"i": {"j": {"k": value}}},
    }


def test_plain_documents_are_written_by_libyaml_as_the_pure_emitter_writes_them() -> None:
    rng = random.Random(17)
    for _ in range(1000):
        doc = document(rng, ASCII)
        assert yamltext._plain(doc)
        assert yamltext.dump(doc) == pure(doc)


def test_other_documents_go_to_the_pure_emitter() -> None:
    rng = random.Random(19)
    for _ in range(600):
        doc = document(rng, ASCII + AWKWARD * 4)
        assert yamltext.dump(doc) == pure(doc)
        assert yamltext.block(doc, 4).startswith(pure(doc).split("\n", 1)[0])
    for key in ("", "a" * 101, 1, None):
        doc = {key: "x"}
        assert not yamltext._plain(doc)
        assert yamltext.dump(doc) == pure(doc)
    assert not yamltext._plain({"a": ("tuple",)})


@pytest.mark.parametrize("example", ["shop", "courier"])
def test_the_examples_rules_take_the_fast_path_and_are_the_pure_emitters(example: str) -> None:
    system = resolve(load_spec_text((ROOT / "examples" / f"{example}.yaml").read_text(), f"{example}.yaml"))
    for value in ({"groups": rule_groups(system)}, rule_tests(system, f"{system.name}.rules.yaml")):
        assert yamltext._plain(value)
        assert yamltext.dump(value) == pure(value)
