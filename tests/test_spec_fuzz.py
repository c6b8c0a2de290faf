"""A bounded fuzz of the spec loader: mutated shop specs are answered, never crash.

hypothesis mutates examples/shop.yaml in two ways: as text (characters and YAML tokens
inserted, deleted or overwritten anywhere) and as structure (keys removed, renamed or
duplicated, values replaced by random ones, then dumped back to YAML). Every mutant goes
through ``msgen validate`` in-process, which must exit 0 or 2, never print a traceback or
a raw control character, and, on exit 2, print only ``file:line:col: message`` lines and
the closing count.
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from typer.testing import CliRunner

from msgen.cli import app

SHOP_PATH = Path(__file__).resolve().parent.parent / "examples" / "shop.yaml"
SHOP = SHOP_PATH.read_text(encoding="utf-8")
SHOP_TREE: dict[str, Any] = json.loads(json.dumps(YAML(typ="safe", pure=True).load(SHOP)))
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOKENS = (
    ":", ": ", "- ", "-", "[", "]", "{", "}", ",", "? ", "|", ">", "#", "'", '"', "\\", "\n", "  ", "\t", "\r",
    "---\n", "...\n", "%YAML 1.1\n", "&a ", "*a", "<<: *a", "!x ", "!!omap ", "!!str ", "!!binary ",
    "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u202e", "\ufeff", "é", "😀", "{{ x }}", "${X}", "</script>",
    "null", "~", "yes", "1e9999", "-.inf", ".nan", "0x1f", "0o17", "2024-01-01", "12:30:00", ":100:",
)  # fmt: skip
ONE_LINE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "spec.yaml"


def check(spec_file: Path, content: str | bytes) -> None:
    """Validate `content` in-process and check the answer's shape."""
    if isinstance(content, str):
        content = content.encode("utf-8", "surrogatepass")
    spec_file.write_bytes(content)
    result = CliRunner().invoke(app, ["validate", str(spec_file)])
    output = result.stdout + result.stderr
    assert result.exit_code in (0, 2), f"exit code {result.exit_code}: {result.exception!r}\n{output}"
    event(f"exit code {result.exit_code}")
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 0:
        assert result.stderr == ""
        return
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert re.fullmatch(r"\d+ problems? found; nothing was written\.", lines[-1]), result.stderr
    positioned = re.compile(rf"{re.escape(str(spec_file))}:[1-9]\d*:[1-9]\d*: \S.*")
    for line in lines[:-1]:
        assert positioned.fullmatch(line), line
        assert not ONE_LINE.search(line), line


@st.composite
def text_mutants(draw: st.DrawFn) -> str:
    text = SHOP
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(text)))
        token = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)))
        kind = draw(st.sampled_from(("insert", "delete", "overwrite")))
        if kind == "insert":
            text = text[:where] + token + text[where:]
        elif kind == "delete":
            text = text[:where] + text[where + draw(st.integers(1, 60)) :]
        else:
            text = text[:where] + token + text[where + len(token) :]
    return text


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["v1", "nats", "^(a+)+$", "(?=x)", "list[Address]", "shop", "order.placed", "30s", "1MiB"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


@st.composite
def structure_mutants(draw: st.DrawFn) -> str:
    tree = copy.deepcopy(SHOP_TREE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(tree)))
        parent: Any = tree
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        kind = draw(st.sampled_from(("replace", "delete", "rename", "copy")))
        if kind == "replace":
            parent[last] = draw(VALUES)
        elif kind == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            new_key = draw(st.one_of(st.text(max_size=10), st.sampled_from([str(last) + "s", str(last)[:-1]])))
            parent[new_key] = parent[last] if kind == "copy" else parent.pop(last)
        else:
            parent.append(copy.deepcopy(parent[last]))
        if not paths(tree):
            break
    stream = io.StringIO()
    YAML(typ="safe", pure=True).dump(tree, stream)
    return stream.getvalue()


@FUZZ
@given(text=text_mutants())
def test_text_mutants_of_the_shop_are_answered(spec_file: Path, text: str) -> None:
    check(spec_file, text)


@FUZZ
@given(text=structure_mutants())
def test_structure_mutants_of_the_shop_are_answered(spec_file: Path, text: str) -> None:
    check(spec_file, text)


@FUZZ
@given(data=st.binary(max_size=64), where=st.integers(0, len(SHOP)))
def test_bytes_spliced_into_the_shop_are_answered(spec_file: Path, data: bytes, where: int) -> None:
    raw = SHOP.encode()
    check(spec_file, raw[:where] + data + raw[where:])


def test_the_unmutated_shop_is_valid() -> None:
    """The fuzz starts from a spec msgen accepts, so exit code 0 is reachable."""
    result = CliRunner().invoke(app, ["validate", str(SHOP_PATH)])
    assert result.exit_code == 0, result.stderr
