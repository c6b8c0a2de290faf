"""The command line as a user meets it: real processes, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from msgen import __version__
from msgen.schema import spec_json_schema_text
from tests.conftest import ROOT, SHOP_SPEC

COMMANDS = ["new", "validate", "schema", "graph", "serve"]


def msgen(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "msgen", *args], cwd=cwd, capture_output=True, text=True, env=full_env, timeout=120
    )


def test_version() -> None:
    done = msgen("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"msgen {__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    done = msgen(command, "--help")
    assert done.returncode == 0
    assert "Example: msgen " + command in done.stdout


def test_shell_completion_is_offered() -> None:
    assert "--install-completion" in msgen("--help").stdout


def test_validate_accepts_the_shop() -> None:
    done = msgen("validate", str(SHOP_SPEC))
    assert done.returncode == 0, done.stderr
    for service in ("user", "product", "inventory", "order", "payment", "notification"):
        assert service in done.stdout


def test_schema_is_committed_and_current() -> None:
    committed = (ROOT / "schema" / "msgen-spec.v1.json").read_text()
    assert committed == spec_json_schema_text(), "run: msgen schema -o schema/msgen-spec.v1.json"
    schema = json.loads(msgen("schema").stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    assert {"msgen", "system", "services"} <= set(schema["required"])


def test_shop_validates_against_the_json_schema() -> None:
    import jsonschema
    from ruamel.yaml import YAML

    document = YAML(typ="safe").load(SHOP_SPEC.read_text())
    jsonschema.validate(document, json.loads(spec_json_schema_text()))
    assert SHOP_SPEC.read_text().startswith("# yaml-language-server: $schema=../schema/msgen-spec.v1.json")


def test_graph_draws_calls_events_and_the_saga() -> None:
    done = msgen("graph", str(SHOP_SPEC))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("flowchart LR")
    assert 'order -- "getProduct" --> product' in text
    assert 'order -. "order.created" .-> payment' in text
    assert 'gateway -- "HTTP /v1/orders" --> order' in text  # what each gateway edge carries
    assert "subgraph legend [legend]" in text and "operation: an HTTP call" in text
    assert "sequenceDiagram" not in text  # a Mermaid text holds one diagram

    saga = msgen("graph", str(SHOP_SPEC), "--saga", "place_order")
    assert saga.returncode == 0, saga.stderr
    assert saga.stdout.startswith("sequenceDiagram\n  title saga place_order")
    assert "order->>payment: order.created (authorize_payment)" in saga.stdout
    # payment publishes payment.authorized, which triggers the next step: drawn from payment, not from order
    assert "payment->>inventory: payment.authorized (reserve_inventory)" in saga.stdout
    assert "order->>inventory: payment.authorized" not in saga.stdout
    # every compensation trigger, each from its publisher
    assert "inventory->>payment: inventory.rejected (undo authorize_payment)" in saga.stdout
    assert "order->>payment: order.cancelled (undo authorize_payment)" in saga.stdout
    assert "order->>inventory: order.cancelled (undo reserve_inventory)" in saga.stdout

    unknown = msgen("graph", str(SHOP_SPEC), "--saga", "place_ordr")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: no saga 'place_ordr' in shop (its sagas: place_order)"

    doc = msgen("graph", str(SHOP_SPEC), "--format", "markdown")
    assert doc.returncode == 0, doc.stderr
    blocks = doc.stdout.split("```mermaid\n")[1:]
    assert [b.split("\n", 1)[0] for b in blocks] == ["flowchart LR", "sequenceDiagram"]
    assert all(b.count("```") == 1 for b in blocks)  # each block closed once


def test_graph_dot_and_missing_graphviz(tmp_path: Path) -> None:
    dot = msgen("graph", str(SHOP_SPEC), "--format", "dot")
    assert dot.returncode == 0 and dot.stdout.startswith('digraph "shop"')
    assert 'gateway -> "order" [label="HTTP /v1/orders"];' in dot.stdout and "cluster_legend" in dot.stdout
    # With no Graphviz on PATH, an image is refused with one clear line.
    no_dot = msgen(
        "graph", str(SHOP_SPEC), "--format", "svg", "-o", str(tmp_path / "g.svg"), env={"PATH": str(tmp_path)}
    )
    assert no_dot.returncode == 3  # the environment lacks a tool
    assert no_dot.stderr.strip().startswith("error: Graphviz is not installed")
    assert "Traceback" not in no_dot.stderr


def test_new_generates_then_refuses_to_clobber(tmp_path: Path) -> None:
    out = tmp_path / "shop"
    first = msgen("new", str(SHOP_SPEC), "-o", str(out))
    assert first.returncode == 0, first.stderr
    assert ", 1 saga," in first.stdout  # not "1 sagas"
    assert (out / "services/order/order_service/main.py").is_file()
    manifest = json.loads((out / ".msgen/manifest.json").read_text())
    assert manifest["msgen_version"] == __version__
    assert len(manifest["spec_hash"]) == 64
    again = msgen("new", str(SHOP_SPEC), "-o", str(out))
    assert again.returncode == 1
    assert "already holds a msgen project" in again.stderr


def test_new_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    done = msgen("new", str(SHOP_SPEC), "-o", str(tmp_path))
    assert done.returncode == 1
    assert "not empty and was not generated by msgen" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    forced = msgen("new", str(SHOP_SPEC), "-o", str(tmp_path), "--force")
    assert forced.returncode == 0
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_missing_spec_file_is_one_line() -> None:
    done = msgen("validate", "no-such.yaml")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_the_minimal_spec_of_the_docs_generates_and_its_suites_pass(tmp_path: Path) -> None:
    """docs/spec.md's minimal spec: one service, crud with no scopes, no gateway section."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "spec.md").read_text()
    minimal = docs.split("## A minimal spec", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = tmp_path / "minimal.yaml"
    spec.write_text(minimal)
    done = msgen("new", str(spec), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    for suite in ("gateway", "services/product"):
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=tmp_path / "out" / suite,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
