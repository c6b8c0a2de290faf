"""The SDKs' requests as Pact consumer contracts of the gateway, verified by `msgen contracts verify`.

Each SDK's own consumer test (generated: sdk/python/tests/test_pact_consumer.py with pact-python,
sdk/typescript/test/pact.test.mjs with Pact JS under Node's test runner) drives the SDK's calls
against Pact's mock server and writes its pact; `msgen contracts verify` then starts the gateway
with the services behind it (real uvicorn processes, scratch databases) and replays them, with
the provider states stored in the services' databases and a token of the dev issuer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from msgen.generate import Generated
from msgen.writer import write_project
from tests import processes
from tests.test_sdk import TOOLS, _node_modules, _sdk, tools_lock

pytestmark = pytest.mark.slow

MARKET_SPEC = Path(__file__).resolve().parent / "fixtures" / "market.yaml"
PYTHON_PACT = "shop-sdk-python-gateway.json"
TYPESCRIPT_PACT = "shop-sdk-typescript-gateway.json"


@dataclass
class Project:
    root: Path

    @property
    def pacts(self) -> Path:
        return self.root / "pacts"


@pytest.fixture(scope="module")
def project(shop: Generated, tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("sdk-pact") / "shop"
    write_project(root, shop.files, shop.system.spec_hash)
    _sdk(root)
    return Project(root)


def _python_consumer_tests(project: Project, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    sdk = project.root / "sdk" / "python"
    path = os.pathsep.join([str(sdk), os.environ.get("PYTHONPATH", "")])
    return processes.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=sdk,
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
        timeout=600,
    )


def _verify(project: Project, pacts: Path) -> subprocess.CompletedProcess[str]:
    return processes.run(
        [sys.executable, "-m", "msgen", "contracts", "verify", str(project.root), "--pacts", str(pacts)],
        env={**os.environ, "COLUMNS": "200"},
        timeout=900,
    )


def _interactions(path: Path) -> dict[str, dict[str, object]]:
    document = json.loads(path.read_text())
    return {i["description"]: i for i in document["interactions"]}


def test_the_python_sdk_writes_its_pact_with_the_gateway(project: Project) -> None:
    done = _python_consumer_tests(project)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout, done.stdout[-2000:]
    document = json.loads((project.pacts / PYTHON_PACT).read_text())
    assert document["consumer"]["name"] == "shop-sdk-python"
    assert document["provider"]["name"] == "gateway"
    interactions = _interactions(project.pacts / PYTHON_PACT)
    place = interactions["placeOrder: POST /v1/orders"]
    assert [s["name"] for s in place["providerStates"]] == ["a Product exists", "a User exists", "no Order exists"]
    assert {"Authorization", "X-Correlation-ID", "Idempotency-Key"} <= set(place["request"]["headers"])
    assert place["response"]["status"] == 202
    get = interactions["getOrder: GET /v1/orders/{id}"]
    assert get["request"]["path"] == "/v1/orders/00000000-0000-4000-8000-000000000001"
    assert "Idempotency-Key" not in get["request"]["headers"]
    missing = interactions["getOrder of a missing Order: a problem"]
    assert missing["response"]["status"] == 404
    assert [s["name"] for s in missing["providerStates"]] == ["no Order exists"]


def test_the_python_consumer_test_fails_when_the_sdk_strays_from_its_pact(project: Project, tmp_path: Path) -> None:
    """The mock server holds the SDK to the pact: a request the pact does not hold fails the test."""
    sdk = project.root / "sdk" / "python"
    copy = tmp_path / "python"
    shutil.copytree(sdk, copy, ignore=shutil.ignore_patterns("__pycache__"))
    test = copy / "tests" / "test_pact_consumer.py"
    test.write_text(test.read_text().replace('"/v1/orders/00000000', '"/v1/order/00000000'))
    path = os.pathsep.join([str(copy), os.environ.get("PYTHONPATH", "")])
    done = processes.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=copy,
        env={**os.environ, "PYTHONPATH": path, "PACT_DIR": str(tmp_path / "pacts")},
        timeout=600,
    )
    assert done.returncode != 0, done.stdout[-3000:]
    assert not (tmp_path / "pacts" / PYTHON_PACT).exists()


def test_the_typescript_sdk_writes_its_pact_with_the_gateway(project: Project) -> None:
    package = project.root / "sdk" / "typescript"
    _node_modules(package)
    assert (package / "node_modules" / "@pact-foundation" / "pact").is_dir()
    build = processes.run([package / "node_modules" / ".bin" / "tsc", "-p", "."], cwd=package, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    node = shutil.which("node")
    assert node is not None, "node is needed for the TypeScript SDK tests"
    done = processes.run([node, "--test", "test/"], cwd=package, timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "# pass 3" in done.stdout and "# fail 0" in done.stdout, done.stdout[-3000:]
    document = json.loads((project.pacts / TYPESCRIPT_PACT).read_text())
    assert document["consumer"]["name"] == "shop-sdk-typescript"
    assert document["provider"]["name"] == "gateway"
    typescript = _interactions(project.pacts / TYPESCRIPT_PACT)
    assert sorted(typescript) == [
        "getOrder of a missing Order: a problem",
        "getOrder: GET /v1/orders/{id}",
        "placeOrder: POST /v1/orders",
    ]
    place = typescript["placeOrder: POST /v1/orders"]
    assert [s["name"] for s in place["providerStates"]] == ["a Product exists", "a User exists", "no Order exists"]
    assert {"Authorization", "X-Correlation-ID", "Idempotency-Key"} <= set(place["request"]["headers"])


def _sdk_pacts(project: Project, folder: Path) -> Path:
    """The SDKs' pacts alone (the services' pairs are test_pact.py's), written by their tests if not yet."""
    if not (project.pacts / PYTHON_PACT).exists():
        assert _python_consumer_tests(project).returncode == 0
    if not (project.pacts / TYPESCRIPT_PACT).exists():
        test_the_typescript_sdk_writes_its_pact_with_the_gateway(project)
    folder.mkdir()
    for name in (PYTHON_PACT, TYPESCRIPT_PACT):
        shutil.copy(project.pacts / name, folder / name)
    return folder


def test_msgen_contracts_verify_replays_the_sdk_pacts_against_the_gateway(project: Project, tmp_path: Path) -> None:
    pacts = _sdk_pacts(project, tmp_path / "pacts")
    done = _verify(project, pacts)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    rows = [line for line in done.stdout.splitlines() if "│ gateway" in line]
    assert len(rows) == 2 and all("verified" in row for row in rows), done.stdout
    assert "shop-sdk-python" in done.stdout and "shop-sdk-typescript" in done.stdout
    assert "All 2 pairs verified." in done.stdout


def test_a_pact_the_gateway_does_not_honour_fails_verify(project: Project, tmp_path: Path) -> None:
    pacts = _sdk_pacts(project, tmp_path / "pacts")
    broken = pacts / PYTHON_PACT
    document = json.loads(broken.read_text())
    for interaction in document["interactions"]:
        if interaction["description"] == "getOrder: GET /v1/orders/{id}":
            interaction["request"]["path"] = interaction["request"]["path"].replace("/v1/orders/", "/v1/order/")
        if interaction["description"] == "placeOrder: POST /v1/orders":
            interaction["response"]["body"]["content"]["status_url"] = 7
            interaction["response"]["matchingRules"]["body"].pop("$.status_url")
    broken.write_text(json.dumps(document))
    done = _verify(project, pacts)
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-4000:]
    python_row = next(line for line in done.stdout.splitlines() if "shop-sdk-python" in line)
    typescript_row = next(line for line in done.stdout.splitlines() if "shop-sdk-typescript" in line)
    assert "FAILED" in python_row and "verified" in typescript_row, done.stdout
    assert "getOrder: GET /v1/orders/{id}" in done.stderr, done.stderr[-4000:]
    assert "$.status_url" in done.stderr, done.stderr[-4000:]


def test_a_project_without_the_gateway_s_provider_states_fails_its_pairs_with_the_fix(
    project: Project, tmp_path: Path
) -> None:
    pacts = _sdk_pacts(project, tmp_path / "pacts")
    older = tmp_path / "shop"
    shutil.copytree(project.root, older, ignore=shutil.ignore_patterns("node_modules", "sdk", "pacts"))
    (older / "gateway" / "pact_provider.py").unlink()
    done = _verify(Project(older), pacts)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "gateway/pact_provider.py is missing: msgen regen writes it" in done.stderr, done.stderr[-3000:]
    assert done.stdout.count("FAILED") == 2, done.stdout


def test_a_synchronous_create_with_a_self_reference_and_a_unique_field_verifies(tmp_path: Path) -> None:
    """market.yaml: no saga (the create answers the row), an Item that refers to an Item, a unique sku."""
    env = {**os.environ, "MSGEN_SDK_TOOLS": str(TOOLS), "COLUMNS": "200"}
    root = tmp_path / "market"
    for args in (["new", str(MARKET_SPEC), "-o", str(root)], ["sdk", str(root), "--lang", "python"]):
        with tools_lock():  # the generators are installed on first use (tests/test_sdk.py)
            done = processes.run([sys.executable, "-m", "msgen", *args], env=env, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
    pacts = tmp_path / "pacts"
    consumer = _python_consumer_tests(Project(root), {"PACT_DIR": str(pacts)})
    assert consumer.returncode == 0, consumer.stdout[-4000:] + consumer.stderr[-2000:]
    create = _interactions(pacts / "market-sdk-python-gateway.json")["createItem: POST /v1/items"]
    assert [s["name"] for s in create["providerStates"]] == ["a Item exists"]  # the parent it refers to
    assert create["response"]["status"] == 201
    done = _verify(Project(root), pacts)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "All 1 pairs verified." in done.stdout
