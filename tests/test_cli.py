"""The command line as a user meets it: real processes, real exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from msgen import __version__
from msgen.cli import app
from msgen.generate import Generated
from msgen.schema import spec_json_schema_text
from msgen.writer import write_project
from tests.conftest import ROOT, SHOP_SPEC
from tests.processes import run, run_ok

COMMANDS = ["new", "validate", "schema", "graph", "serve"]


def msgen(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    return run([sys.executable, "-m", "msgen", *args], cwd=cwd, env=full_env, timeout=120)


def in_process(*args: str) -> Result:
    """msgen run in this process: for what needs no server nor generated code (each subprocess costs ~2 s)."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"}, prog_name="msgen")


def test_version() -> None:
    done = msgen("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"msgen {__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    done = msgen(command, "--help")
    assert done.returncode == 0
    assert "Example: msgen " + command in done.stdout


HELP_PAGES = [
    *COMMANDS,
    "deploy",
    "dlq",
    "up",
    "regen",
    "diff",
    "add-service",
    "token",
    "build",
    "sdk",
    "contracts verify",
    "contracts",
    "",
]


@pytest.mark.parametrize("command", HELP_PAGES)
def test_help_shows_plain_metavars(command: str) -> None:
    """No typer type labels (<bool>, <str>, <list[str]>) and no braces around required arguments."""
    done = in_process(*command.split(), "--help")
    assert done.exit_code == 0, done.stderr
    assert "<" not in done.stdout and "{" not in done.stdout, done.stdout
    assert " --help " in done.stdout


def test_help_names_arguments_in_capitals() -> None:
    assert "Usage: msgen new [OPTIONS] SPEC" in in_process("new", "--help").stdout
    assert "Usage: msgen up [OPTIONS] [PROJECT]" in in_process("up", "--help").stdout
    assert re.search(r"--ttl +TEXT +How long", in_process("token", "--help").stdout)


@pytest.mark.parametrize("command", ["up", "serve", "regen", "diff", "token", "deploy"])
def test_a_missing_project_folder_is_said_so(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    extra = {"serve": ["product"], "token": ["--scope", "orders:read"], "deploy": ["--k8s"]}.get(command, [])
    done = in_process(command, str(missing), *extra)
    assert done.exit_code != 0
    assert done.stderr.strip() == f"error: {missing}: no such folder", done.stderr


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


def test_graph_dot(tmp_path: Path) -> None:
    dot = msgen("graph", str(SHOP_SPEC), "--format", "dot")
    assert dot.returncode == 0 and dot.stdout.startswith('digraph "shop"')
    assert 'gateway -> "order" [label="HTTP /v1/orders"];' in dot.stdout and "cluster_legend" in dot.stdout


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGBA rows of an 8-bit RGBA PNG, every chunk's CRC checked (stdlib only)."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (depth, colour) == (8, 6), (depth, colour)  # RGBA
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * 4
    assert len(raw) == height * (stride + 1)
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):  # undo the scanline filters (PNG spec, section 9)
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - 4] if i >= 4 else 0
            up, corner = previous[i], previous[i - 4] if i >= 4 else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = bytes(line)
    return width, height, rows


def test_graph_images_without_graphviz(tmp_path: Path) -> None:
    """SVG and PNG are drawn with no Graphviz anywhere on PATH; both show every service."""
    import xml.etree.ElementTree as ET

    from msgen.generate import load_system

    services = [s.name for s in load_system(SHOP_SPEC).services]
    env = {"PATH": str(tmp_path)}  # no `dot` to be found
    made = msgen("graph", str(SHOP_SPEC), "--format", "svg", "-o", str(tmp_path / "g.svg"), env=env)
    assert made.returncode == 0, made.stderr
    root = ET.fromstring((tmp_path / "g.svg").read_bytes())  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    left, top, width, height = (float(v) for v in root.attrib["viewBox"].split())
    nodes = {
        g.attrib["id"].removeprefix("node-"): g for g in root.iter(f"{ns}g") if g.attrib.get("id", "")[:5] == "node-"
    }
    assert set(nodes) == {"client", "gateway", *services}
    for name, group in nodes.items():
        assert [t.text for t in group.iter(f"{ns}text")] == [name]
    texts = " ".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "order.created" in texts and "HTTP /v1/orders" in texts and "getProduct" in texts  # events, routes, calls
    assert len(root.findall(f".//{ns}path[@class='event']")) >= 5

    made = msgen("graph", str(SHOP_SPEC), "--format", "png", "-o", str(tmp_path / "g.png"), env=env)
    assert made.returncode == 0, made.stderr
    w, h, rows = _png_pixels((tmp_path / "g.png").read_bytes())
    assert (w, h) == (round(width), round(height))
    for name, group in nodes.items():  # each box is painted where the SVG puts it, in its fill colour
        rect = group.find(f"{ns}rect")
        assert rect is not None
        x = float(rect.attrib["x"]) + float(rect.attrib["width"]) / 2 - left  # above the name, below the border
        y = float(rect.attrib["y"]) - top + 4
        fill = bytes.fromhex(rect.attrib["fill"].lstrip("#"))
        pixel = rows[int(y)][int(x) * 4 : int(x) * 4 + 3]
        assert pixel == fill, (name, pixel, fill)
    # an image is never printed to a terminal, and a pipe gets the same bytes
    piped = run([sys.executable, "-m", "msgen", "graph", str(SHOP_SPEC), "-f", "svg"], cwd=ROOT, timeout=120)
    assert piped.stdout == (tmp_path / "g.svg").read_text()


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
    assert f"run msgen regen {out}" in again.stderr


def test_new_force_never_overwrites_an_edit_silently(shop_project: Path) -> None:
    handler = shop_project / "services/user/user_service/handlers/user.py"
    readme = shop_project / "README.md"
    generated = handler.read_text()
    assert in_process("new", str(SHOP_SPEC), "-o", str(shop_project), "--force").exit_code == 0  # nothing edited
    handler.write_text(generated + "# my business rule\n")
    readme.write_text("my notes\n")
    refused = in_process("new", str(SHOP_SPEC), "-o", str(shop_project), "--force")
    assert refused.exit_code == 1
    assert "--force would overwrite 2 file(s) that differ from what msgen generated" in refused.stderr
    assert "(README.md, services/user/user_service/handlers/user.py)" in refused.stderr
    assert f"msgen regen {shop_project}" in refused.stderr and "--discard-edits" in refused.stderr
    assert handler.read_text().endswith("# my business rule\n") and readme.read_text() == "my notes\n"
    discarded = in_process("new", str(SHOP_SPEC), "-o", str(shop_project), "--force", "--discard-edits")
    assert discarded.exit_code == 0, discarded.stderr
    assert handler.read_text() == generated


def test_new_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    done = msgen("new", str(SHOP_SPEC), "-o", str(tmp_path))
    assert done.returncode == 1
    assert "not empty and was not generated by msgen" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    forced = msgen("new", str(SHOP_SPEC), "-o", str(tmp_path), "--force")
    assert forced.returncode == 0
    assert (tmp_path / "notes.txt").read_text() == "mine"
    (tmp_path / "README.md").write_text("mine too")  # where msgen writes its own: someone's file
    again = in_process("new", str(SHOP_SPEC), "-o", str(tmp_path), "--force")
    assert again.exit_code == 1 and "(README.md)" in again.stderr
    assert (tmp_path / "README.md").read_text() == "mine too"


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
    done = msgen("new", str(spec), "-o", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # The hint after msgen new works as printed in the README's virtualenv, which has msgen alone:
    # it installs the service's test extra (pip finds it satisfied here) before running pytest.
    base = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in base if d.startswith(("pytest", "schemathesis"))]
    hint = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("cd ")]
    assert len(hint) == 1 and "pip install " in hint[0] and "'pytest>=" in hint[0], done.stdout
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    ran = run(["sh", "-c", hint[0]], cwd=tmp_path, timeout=900, env={**os.environ, "PATH": path})
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert " passed" in ran.stdout
    run_ok(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path / "out" / "gateway", timeout=900
    )


@pytest.fixture
def shop_project(shop: Generated, tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    write_project(root, shop.files, shop.system.spec_hash)
    return root


def test_token_lists_the_projects_scopes_and_refuses_an_unknown_one(shop_project: Path) -> None:
    listed = in_process("token", "--list-scopes", str(shop_project))
    assert listed.exit_code == 0, listed.stderr
    scopes = listed.stdout.split()
    assert {"orders:create", "orders:read", "users:write"} <= set(scopes) and scopes == sorted(scopes)
    assert "--list-scopes" in in_process("token", "--help").stdout

    typo = in_process("token", "--scope", "orders:read", "--scope", "orders:raed", str(shop_project))
    assert typo.exit_code == 2
    assert typo.stderr.startswith("error: unknown scope 'orders:raed'; the project's scopes: ")
    assert "orders:create" in typo.stderr
    assert typo.stdout == ""
    none = in_process("token", str(shop_project))
    assert none.exit_code == 2 and "give at least one --scope" in none.stderr

    good = in_process("token", "--scope", "orders:read", str(shop_project))
    assert good.exit_code == 0, good.stderr
    assert good.stdout.count(".") == 2  # a JWS: header.payload.signature


def test_token_loads_neither_the_web_stack_nor_the_spec(shop_project: Path) -> None:
    """What makes msgen token quick (docs/performance.md): only the dev issuer's code is imported."""
    probe = (
        "import sys\n"
        "from msgen.cli import app\n"
        "try:\n"
        f"    app(['token', '--scope', 'orders:read', {str(shop_project)!r}])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "heavy = ('fastapi', 'sqlalchemy', 'starlette', 'httpx', 'ruamel', 'jinja2', 'msgen.generate')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(".") == 2
    assert done.stderr.strip() == "[]"


def test_the_projects_spec_names_a_schema_inside_the_project(shop: Generated) -> None:
    import jsonschema
    from ruamel.yaml import YAML

    text = shop.files["msgen.yaml"]
    modeline = text.splitlines()[0]
    assert modeline.startswith("# yaml-language-server: $schema=")
    target = modeline.split("$schema=", 1)[1]
    assert not target.startswith(("/", "..")) and ":" not in target  # relative, inside the project
    assert shop.files[target] == spec_json_schema_text()
    jsonschema.validate(YAML(typ="safe").load(text), json.loads(shop.files[target]))
    # only that line differs from the spec it was generated from
    source = SHOP_SPEC.read_text().splitlines()
    assert source[0] != modeline and source[1:] == text.splitlines()[1:]


def test_the_projects_readme_and_the_dlq_example_use_the_ports_of_msgen_up(shop: Generated) -> None:
    readme = shop.files["README.md"]
    assert "msgen up ." in readme and "msgen token --list-scopes ." in readme
    services = [s.name for s in shop.system.services]
    ports = {name: 8001 + index for index, name in enumerate(services)}  # msgen up's default --port is 8000
    assert all(f"{name} {port}" in readme for name, port in ports.items())
    example = re.search(r"msgen dlq http://127\.0\.0\.1:(\d+)", in_process("dlq", "--help").stdout)
    assert example is not None
    consumer = next(name for name, port in ports.items() if port == int(example[1]))
    assert shop.system.service(consumer).consumes  # a service that has dead letters
