"""The contracts' YAML (msgen.render.openapi.to_yaml) is exactly yaml.dump's, written faster.

to_yaml hands the emitter its events straight from the document instead of building
yaml.dump's tree of nodes; these tests compare the two texts on the examples' contracts
and on documents with awkward text, numbers, shared dicts and lists (anchors) and spec text.
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from msgen.loader import load_spec_text
from msgen.render.escape import SpecText
from msgen.render.openapi import _BaseDumper, openapi_document, to_yaml
from msgen.render.public import public_document
from msgen.resolve import resolve

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _written_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emitter is under test here, not msgen's cache of its texts (tests/test_generation_caches.py)."""
    monkeypatch.setenv("MSGEN_NO_CACHE", "1")


def dumped(document: Any) -> str:
    text: str = yaml.dump(
        document, Dumper=_BaseDumper, sort_keys=False, default_flow_style=False, width=100, allow_unicode=True
    )
    return text


@pytest.mark.parametrize("example", ["shop", "courier"])
def test_the_examples_contracts_are_yaml_dumps(example: str) -> None:
    system = resolve(load_spec_text((ROOT / "examples" / f"{example}.yaml").read_text(), f"{example}.yaml"))
    contracts = {service.name: openapi_document(system, service) for service in system.services}
    documents = [*contracts.values(), public_document(system, contracts)]
    assert any("&id001" in to_yaml(document) for document in documents)  # shared parts: anchors are compared too
    for document in documents:
        assert to_yaml(document) == dumped(document)


PIECES = [*"ab :#-'\"\n\t\\{}[],&*!|>%@`?\r", "\x85", "\u2028", "\ufeff", "é", "😀", "\x00", "\x07", "\x7f", "\xa0"]
WORDS = ["yes", "No", "null", "~", "1.5", "0o7", "1e3", ".inf", "2001-12-14", "=", "<<", "", " x", "x ", "a" * 130]


def test_awkward_documents_are_yaml_dumps() -> None:
    rng = random.Random(11)
    for _ in range(1500):
        text = rng.choice(WORDS) if rng.random() < 0.3 else "".join(rng.choices(PIECES, k=rng.randint(1, 10)))
        shared = {"x": [text]}
        pair = [1, shared]
        document: Any = {
            "k": text,
            text: [1, -2, 2.5, -0.0, 1e-7, 10**20, float("inf"), None, True, SpecText(text), {"m": text}],
            "z": shared,
            "w": shared,
            "e": {},
            "f": [],
            "q": pair,
            "r": [pair, pair, shared],
            SpecText(f"s{text}"): {text: pair},
        }
        if rng.random() < 0.3:
            document = [document, shared, text]
        assert to_yaml(document) == dumped(document)


@pytest.mark.parametrize("value", [Decimal("1.5"), (1, 2)])
def test_values_it_does_not_write_go_to_yaml_dump(value: Any) -> None:
    document = {"a": value, "b": {"c": 1}}
    try:
        expected = dumped(document)
    except yaml.YAMLError as exc:
        with pytest.raises(type(exc)):
            to_yaml(document)
    else:
        assert to_yaml(document) == expected
