"""Hostile specs are answered in bounded time and memory, with a positioned message.

Each case writes a spec built from examples/shop.yaml into a temporary folder, runs
``msgen validate spec.yaml`` in-process, and checks its exit code and exact first line
on stderr. The CPU time of the run (``time.thread_time``, which neither other processes nor the
threads other tests left running inflate the way they inflate the wall clock) must stay under 2 s, and the
peak of Python allocations (tracemalloc, in a second run, since tracing slows Python
down) under 200 MB.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from msgen.cli import app
from msgen.errors import SpecError
from msgen.generate import generate
from msgen.loader import MAX_DEPTH, MAX_NODES, MAX_SPEC_BYTES, load_spec_text
from msgen.writer import write_project
from tests.processes import run, run_ok

ROOT = Path(__file__).resolve().parent.parent
SHOP = (ROOT / "examples" / "shop.yaml").read_text(encoding="utf-8")
END = SHOP.count("\n") + 1  # the line of anything appended to the shop
# A bound on the work, not a speed test: an unbounded reader (quadratic, or reading on past a limit) takes
# many times this; a busy machine or a spec read a second time near a limit (by ruamel after libyaml) does not.
MAX_CPU_SECONDS = 4.0
MAX_PEAK_BYTES = 200 * 1024 * 1024
MB = 1024 * 1024


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str
    cpu: float
    peak: int

    @property
    def first(self) -> str:
        return self.stderr.splitlines()[0] if self.stderr else ""


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def validate(folder: Path, content: str | bytes, *, measure_memory: bool = True) -> Run:
    """Write spec.yaml and run `msgen validate spec.yaml` in-process, measured."""
    spec = folder / "spec.yaml"
    if isinstance(content, str):
        spec.write_text(content, encoding="utf-8")
    else:
        spec.write_bytes(content)
    runner = CliRunner()
    # this thread's CPU: validate runs in it, while the whole process's also counts the threads other
    # tests of the session left running (servers, proxies), which made the bound fail in the full suite
    start = time.thread_time()
    result = runner.invoke(app, ["validate", "spec.yaml"])
    cpu = time.thread_time() - start
    peak = 0
    if measure_memory:
        tracemalloc.start()
        try:
            again = runner.invoke(app, ["validate", "spec.yaml"])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert again.exit_code == result.exit_code
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    return Run(result.exit_code, result.stdout, result.stderr, cpu, peak)


def refused(run: Run, message: str) -> None:
    """The run exited 2 with `message` as its only problem, within the time and memory bounds."""
    assert run.exit_code == 2, run.stderr
    assert run.stdout == ""
    assert run.stderr == f"{message}\n1 problem found; nothing was written.\n"
    bounded(run)


def bounded(run: Run) -> None:
    assert run.cpu < MAX_CPU_SECONDS, f"{run.cpu:.2f} s of CPU"
    assert run.peak < MAX_PEAK_BYTES, f"{run.peak / MB:.0f} MB at peak"


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of character `offset`."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def too_large_at(text: str) -> str:
    line, column = position(text, MAX_SPEC_BYTES)  # ASCII: bytes are characters
    return f"spec.yaml:{line}:{column}: the spec is larger than {MAX_SPEC_BYTES // 1024} KiB, the most msgen reads"


# -- size ---------------------------------------------------------------------------


def test_fifty_megabytes_of_comments_are_refused_by_size(in_tmp: Path) -> None:
    text = SHOP + "# " + "x" * 77 + "\n" * 1 + ("# " + "y" * 77 + "\n") * (50 * MB // 80)
    run = validate(in_tmp, text)
    refused(run, too_large_at(text))


def test_a_fifty_megabyte_description_is_refused_by_size(in_tmp: Path) -> None:
    marker = "  description: An online shop"
    text = SHOP.replace(marker, "  description: " + "x" * (50 * MB) + " An online shop", 1)
    run = validate(in_tmp, text)
    line = SHOP[: SHOP.index(marker)].count("\n") + 1
    assert run.first.startswith(f"spec.yaml:{line}:")  # on the description's line
    refused(run, too_large_at(text))


def test_the_largest_accepted_spec_is_answered_in_time(in_tmp: Path) -> None:
    """Small services up to just under the value limit: the most work a spec within the limits asks for.

    The bound is the one generous exception to 2 s: at the limit, parsing with positions
    and resolving cost about 90 us per value, some 2 s of CPU on a busy machine.
    """
    head = "msgen: 1\nsystem:\n  name: big\nservices:\n"
    block = textwrap.indent(
        textwrap.dedent("""\
            svc{n}:
              entities:
                Item{n}:
                  fields:
                    name: {{ type: string, max_length: 80, pattern: "^[a-z]+$" }}
                    price: decimal
                    count: {{ type: int, min: 0 }}
              api:
                crud: [Item{n}]
            """),
        "  ",
    )
    per_service = _values(head + block.format(n=0)) - _values(head + "  {}\n")
    count = (MAX_NODES - 100) // per_service
    text = head + "".join(block.format(n=n) for n in range(count))
    assert MAX_NODES - 200 < _values(text) <= MAX_NODES
    assert len(text.encode()) <= MAX_SPEC_BYTES
    run = validate(in_tmp, text, measure_memory=False)
    assert run.exit_code == 0, run.stderr
    assert run.cpu < 2 * MAX_CPU_SECONDS, f"{run.cpu:.2f} s of CPU"


def _values(text: str) -> int:
    """How many nodes (scalars, lists, mappings) the YAML text holds."""
    kinds = ("ScalarEvent", "SequenceStartEvent", "MappingStartEvent")
    return sum(type(event).__name__ in kinds for event in YAML(typ="rt").parse(text))


def test_too_many_values_are_refused_where_the_limit_is_reached(in_tmp: Path) -> None:
    text = SHOP + "x: [" + ",".join(["1"] * (MAX_NODES + 10)) + "]\n"
    run = validate(in_tmp, text)
    assert re.fullmatch(
        rf"spec\.yaml:{END}:\d+: the spec holds more than {MAX_NODES} values, the most msgen reads", run.first
    )
    refused(run, run.first)


# -- aliases and tags -----------------------------------------------------------------

BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def test_an_alias_bomb_is_refused_at_its_first_anchor(in_tmp: Path) -> None:
    refused(validate(in_tmp, BOMB), "spec.yaml:1:4: YAML anchors and aliases (&name, *name) are not allowed in a spec")


def test_an_alias_bomb_after_the_shop_is_refused_at_its_first_anchor(in_tmp: Path) -> None:
    run = validate(in_tmp, SHOP + BOMB)
    refused(run, f"spec.yaml:{END}:4: YAML anchors and aliases (&name, *name) are not allowed in a spec")


def test_an_undefined_alias_is_refused(in_tmp: Path) -> None:
    run = validate(in_tmp, SHOP + "x: *nowhere\n")
    refused(run, f"spec.yaml:{END}:4: YAML anchors and aliases (&name, *name) are not allowed in a spec")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("!custom [1]", "!custom"),
        ("!!omap [a: 1]", "!!omap"),
        ("!!set {a}", "!!set"),
        ("!!binary aGk=", "!!binary"),
        ("!!python/object/apply:os.system [true]", "!!python/object/apply:os.system"),
        ("!<tag:example.com,2000:x> 1", "tag:example.com,2000:x"),
    ],
)
def test_tags_are_refused_with_their_position(in_tmp: Path, value: str, shown: str) -> None:
    run = validate(in_tmp, SHOP + f"x: {value}\n")
    refused(run, f"spec.yaml:{END}:4: the YAML tag {shown} is not allowed in a spec")


def test_core_tags_are_accepted(in_tmp: Path) -> None:
    run = validate(in_tmp, SHOP.replace("  name: shop\n", "  name: !!str shop\n", 1), measure_memory=False)
    assert run.exit_code == 0, run.stderr


# -- bytes and characters -----------------------------------------------------------


def test_a_nul_byte_is_not_a_text_file_at_its_place(in_tmp: Path) -> None:
    text = SHOP.replace("\nservices:", "\nserv\x00ices:", 1)
    line, column = position(text, text.index("\x00"))
    run = validate(in_tmp, text.encode())
    refused(run, f"spec.yaml:{line}:{column}: not a text file (a NUL byte): the spec must be UTF-8 YAML")


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\x08", "\x7f", "\x9b", "\ufffe"])
def test_a_control_character_is_refused_at_its_place(in_tmp: Path, char: str) -> None:
    text = SHOP.replace("Customer accounts.", f"Customer{char}[2J accounts.", 1)
    line, column = position(text, text.index(char))
    run = validate(in_tmp, text)
    refused(run, f"spec.yaml:{line}:{column}: control character U+{ord(char):04X}: a spec holds printable text only")


def test_an_escaped_control_character_is_escaped_in_the_message(in_tmp: Path) -> None:
    text = SHOP.replace("msgen: 1\n", 'msgen: 1\n"bad\\e[2J\\u202e": 1\n', 1)
    line = text[: text.index('"bad')].count("\n") + 1
    run = validate(in_tmp, text)
    assert "\x1b" not in run.stderr and "\u202e" not in run.stderr
    assert run.first.startswith(f"spec.yaml:{line}:1: unknown key 'bad\\x1b[2J\\u202e'")
    refused(run, run.first)


@pytest.mark.parametrize(
    ("text", "where"),
    [("", "1:1"), ("\n\n\n", "4:1"), ("# nothing yet\n#\n", "3:1"), ("---\n# a comment", "2:12")],
)
def test_an_empty_spec_is_reported_where_it_ends(in_tmp: Path, text: str, where: str) -> None:
    refused(validate(in_tmp, text), f"spec.yaml:{where}: the spec is empty: expected keys msgen, system and services")


def test_a_top_level_list_is_reported_where_it_starts(in_tmp: Path) -> None:
    refused(
        validate(in_tmp, "# a list\n\n  - msgen: 1\n"),
        "spec.yaml:3:3: the spec must be a mapping (msgen, system, services, ...), found a list",
    )


# -- nesting ----------------------------------------------------------------------


def test_deep_flow_nesting_is_refused_where_it_gets_too_deep(in_tmp: Path) -> None:
    text = "msgen: 1\nx: " + "[" * 50_000 + "]" * 50_000 + "\n"
    # The root mapping is level 1 and the first '[' (column 4) level 2.
    column = 4 + (MAX_DEPTH + 1 - 2)
    refused(validate(in_tmp, text), f"spec.yaml:2:{column}: the spec is nested more than {MAX_DEPTH} levels deep")


def test_deep_block_nesting_is_refused_where_it_gets_too_deep(in_tmp: Path) -> None:
    text = "".join(" " * i + f"k{i}:\n" for i in range(200))
    run = validate(in_tmp, text)
    assert re.fullmatch(rf"spec\.yaml:(\d+):(\d+): the spec is nested more than {MAX_DEPTH} levels deep", run.first)
    line, column = map(int, run.first.split(":")[1:3])
    assert column == line  # key k{i} is on line i + 1, at column i + 1
    assert MAX_DEPTH - 2 <= line <= MAX_DEPTH + 1
    refused(run, run.first)


# -- the console ------------------------------------------------------------------


def test_a_position_on_line_100_is_printed_as_written(in_tmp: Path) -> None:
    text = "#\n" * 99 + "bogus: 1\n" + SHOP
    run = validate(in_tmp, text)
    assert run.first.startswith("spec.yaml:100:1: unknown key 'bogus'"), run.stderr
    assert "\U0001f4af" not in run.stderr
    refused(run, run.first)


# -- patterns -------------------------------------------------------------------------

COUNTRY = '          country: { type: string, min_length: 2, max_length: 2, pattern: "^[A-Z]{2}$" }\n'


def with_field(field: str) -> tuple[str, int]:
    """The shop with `field` added to the user's Address, and the line it is on."""
    assert COUNTRY in SHOP
    text = SHOP.replace(COUNTRY, COUNTRY + f"          code: {field}\n", 1)
    return text, SHOP[: SHOP.index(COUNTRY)].count("\n") + 2


def test_a_default_is_checked_against_a_backtracking_pattern_in_linear_time(in_tmp: Path) -> None:
    default = "a" * 37 + "!"
    text, line = with_field(f'{{ type: string, pattern: "^(a+)+$", default: "{default}" }}')
    column = text.splitlines()[line - 1].index(f'"{default}"') + 1
    run = validate(in_tmp, text)
    refused(run, f"spec.yaml:{line}:{column}: default '{default}' does not match the pattern")


def test_an_example_is_checked_against_a_backtracking_pattern_in_linear_time(in_tmp: Path) -> None:
    example = "a" * 5000 + "!"
    text, line = with_field(f'{{ type: string, max_length: 6000, pattern: "^(a+)+$", example: "{example}" }}')
    column = text.splitlines()[line - 1].index(f'"{example}"') + 1
    run = validate(in_tmp, text)
    refused(run, f"spec.yaml:{line}:{column}: example '{example}' does not match the pattern")


def test_no_example_is_searched_for_by_backtracking(in_tmp: Path) -> None:
    text, line = with_field('{ type: string, pattern: "^(a+)+b$" }')
    run = validate(in_tmp, text)
    refused(run, f"spec.yaml:{line}:11: msgen cannot find a value that matches this pattern: give an 'example'")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("^(?=a)a$", "the services' regex engine cannot use it: look-around, including look-ahead and look-behind"),
        ("^(a)\\\\1$", "the services' regex engine cannot use it: backreferences are not supported"),
        ("^a{1000}{1000}$", "the services' regex engine cannot use it: Compiled regex exceeds size limit"),
        ("x" * 1001, "it is 1001 characters long; at most 1000 are allowed"),
        ("^[a$", "the services' regex engine cannot use it: unclosed character class"),
    ],
)
def test_a_pattern_the_linear_engine_cannot_compile_is_refused(in_tmp: Path, pattern: str, reason: str) -> None:
    text, line = with_field(f'{{ type: string, pattern: "{pattern}" }}')
    column = text.splitlines()[line - 1].index(f'"{pattern}"') + 1
    run = validate(in_tmp, text)
    assert run.first.startswith(f"spec.yaml:{line}:{column}: pattern: {reason}"), run.stderr
    refused(run, run.first)


def test_generated_models_match_patterns_in_linear_time() -> None:
    """The runtime's base models use pydantic's linear engine: 26 'a's and a '!' answer at once."""
    script = textwrap.dedent("""\
        from typing import Annotated
        from pydantic import Field, ValidationError
        from msgen_runtime.schemas import ClientModel, EventPayload, RequestModel, ResponseModel

        for base in (RequestModel, ResponseModel, ClientModel, EventPayload):
            class Body(base):
                code: Annotated[str, Field(pattern=r"^(a+)+$")]

            Body.model_validate({"code": "aaaa"})
            for hostile in ("a" * 26 + "!", "a" * 100_000 + "!"):
                try:
                    Body.model_validate({"code": hostile})
                except ValidationError:
                    pass
                else:
                    raise SystemExit(f"{base.__name__} accepted {hostile[-5:]}")
        print("ok")
        """)
    done = run([sys.executable, "-c", script], timeout=120, cwd=ROOT)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_generated_service_answers_a_backtracking_body_at_once(tmp_path: Path) -> None:
    """product-service under a real uvicorn, its sku pattern ^(a+)+$: 30 'a's and a '!' are a quick 422.

    Python's re takes minutes on that body (2^30 ways to split the 'a's); the service
    must refuse it at once and keep answering its health probe.
    """
    sku = '          sku: { type: string, unique: true, max_length: 32, pattern: "^[A-Z0-9-]+$" }\n'
    assert sku in SHOP
    spec = tmp_path / "shop.yaml"
    spec.write_text(SHOP.replace(sku, sku.replace("^[A-Z0-9-]+$", "^(a+)+$"), 1), encoding="utf-8")
    generated = generate(spec)
    project = tmp_path / "shop"
    write_project(project, generated.files, generated.system.spec_hash)
    cwd = project / "services" / "product"
    env = {**os.environ, "MSGEN_DEV_MODE": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'product.db'}"}
    run_ok([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=cwd, env=env, timeout=120)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "product_service.main:create_app", "--factory", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "product-service exited"
            assert time.monotonic() < deadline, "product-service did not become ready"
            try:
                if httpx.get(f"{base}/health/ready", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        body = {"sku": "a" * 30 + "!", "name": "Teapot", "price": "19.90"}
        refused = httpx.post(f"{base}/v1/products", json=body, timeout=30)
        assert refused.status_code == 422, refused.text
        assert "sku" in refused.text
        assert httpx.get(f"{base}/health/live", timeout=30).status_code == 200
        accepted = httpx.post(f"{base}/v1/products", json={**body, "sku": "a" * 30}, timeout=30)
        assert accepted.status_code == 201, accepted.text
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("msgen: 1\nx: a\x00b\n", "m.yaml:2:5: not a text file (a NUL byte): the spec must be UTF-8 YAML"),
        ("msgen: 1\n  x: \x1b\n", "m.yaml:2:6: control character U+001B: a spec holds printable text only"),
        ("x: " + "é" * MAX_SPEC_BYTES, f"m.yaml:1:{4 + (MAX_SPEC_BYTES - 3) // 2}: the spec is larger than 256 KiB"),
    ],
)
def test_text_loaded_without_a_file_has_the_same_limits(text: str, message: str) -> None:
    """regen and add-service hand the loader text (from git, from an edit): the same checks apply."""
    with pytest.raises(SpecError) as caught:
        load_spec_text(text, "m.yaml")
    assert str(caught.value).startswith(message)


# -- found by trying msgen as an attacker: sizes that made `msgen new` run for minutes, values it choked on


def _shop_with(old: str, new: str) -> str:
    assert SHOP.count(old) == 1, old
    return SHOP.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'lines: { type: "list[OrderLine]", min_items: 1 }',
            'lines: { type: "list[OrderLine]", min_items: 100000 }',
            "spec.yaml:102:56: min_items: 100000 is above the maximum, 1000",
        ),
        (
            "full_name: { type: string, max_length: 120 }",
            "full_name: { type: string, min_length: 50000000, max_length: 60000000 }",
            "spec.yaml:21:50: min_length: 50000000 is above the maximum, 10000",
        ),
        (
            "full_name: { type: string, max_length: 120 }",
            "full_name: { type: string, max_length: 99999999999999999999999 }",
            "spec.yaml:21:50: max_length: 99999999999999999999999 is above the maximum, 100000000",
        ),
        (
            "rate_limit: { requests: 100, per: 1s, by: token }",
            "rate_limit: { requests: 100, per: 0s, by: token }",
            "spec.yaml:301:37: per: a rate limit's period must be longer than 0",
        ),
        (
            "description: Customer accounts.",
            'description: "\\ud800 x"',
            "spec.yaml:16:18: contains U+D800, a lone surrogate: not a character, cannot be written",
        ),
        (
            "      full_name: { type: string, max_length: 120 }",
            '      "full_name\\n": { type: string, max_length: 120 }',
            "spec.yaml:21:11: field name 'full_name\\x0a' is not a safe identifier: use lowercase letters, "
            "digits and '_', starting with a letter (e.g. 'unit_price')",
        ),
    ],
    ids=["min-items", "min-length", "huge-int", "zero-period", "lone-surrogate", "trailing-newline-name"],
)
def test_sizes_and_values_that_generation_cannot_hold_are_refused(
    in_tmp: Path, old: str, new: str, message: str
) -> None:
    refused(validate(in_tmp, _shop_with(old, new)), message)


def test_a_fifo_is_not_a_spec_and_is_refused_without_waiting(in_tmp: Path) -> None:
    os.mkfifo(in_tmp / "spec.yaml")  # nobody writes to it: reading it would block for ever
    result = CliRunner().invoke(app, ["validate", "spec.yaml"])
    assert result.exit_code == 2, result.stderr
    assert result.stderr == "error: spec.yaml: not a regular file: a spec is a YAML file\n"


@pytest.mark.parametrize("version", ["true", "1.0"])
def test_the_language_version_is_the_number_one_not_something_equal_to_it(in_tmp: Path, version: str) -> None:
    run = validate(in_tmp, _shop_with("msgen: 1\n", f"msgen: {version}\n"))
    assert run.exit_code == 2 and run.stderr.startswith("spec.yaml:6:8: msgen: "), run.stderr
