"""Specs that validated but generated broken code: each generates, and the code does what the spec says."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from msgen.errors import EXIT_INTERNAL
from msgen.render.formatting import FormatError, format_python
from tests.conftest import ROOT


def msgen(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "msgen", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120
    )


def generate(tmp_path: Path, spec: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(spec))
    done = msgen("new", str(path), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    return tmp_path / "out"


def run_python(service_dir: Path, code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter, in a generated service's folder (its package importable)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(service_dir), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=service_dir,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def results(stdout: str) -> list[str]:
    """The lines a snippet printed as `result: ...` (the service logs on stdout too)."""
    return [line.removeprefix("result: ") for line in stdout.splitlines() if line.startswith("result: ")]


@pytest.mark.slow
def test_path_parameters_named_like_python_keywords(tmp_path: Path) -> None:
    """`{from}` and `{class}` become `from_` and `class_` in Python; the URL and the contract keep the names."""
    out = generate(
        tmp_path,
        """\
        msgen: 1
        system: { name: fx, broker: nats }
        services:
          rates:
            value_objects:
              Rate:
                fields:
                  value: { type: decimal, precision: 12, scale: 4 }
            api:
              operations:
                getRate: { method: GET, path: "/rates/{from}/{class}", response: Rate }
          quotes:
            calls:
              - { service: rates, operation: getRate, timeout: 1s }
        """,
    )
    done = run_python(
        out / "services" / "rates",
        """\
        from fastapi.testclient import TestClient
        from rates_service.main import create_app
        from rates_service.settings import Settings

        app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", dev_mode=True))
        params = app.openapi()["paths"]["/v1/rates/{from}/{class}"]["get"]["parameters"]
        print("result:", sorted((p["name"], p["in"]) for p in params))
        with TestClient(app) as client:
            answer = client.get("/v1/rates/usd/eur")
        print("result:", answer.status_code, answer.json()["type"])
        """,
    )
    assert done.returncode == 0, done.stderr
    names, answer = results(done.stdout)
    assert names == "[('class', 'path'), ('from', 'path')]"
    assert answer.startswith("501 "), answer  # routed to the handler that awaits its logic, not 404/422
    client = (out / "services" / "quotes" / "quotes_service" / "clients" / "rates.py").read_text()
    assert 'f"/v1/rates/{from_}/{class_}"' in client
    done = run_python(out / "services" / "quotes", "import quotes_service.clients.rates")
    assert done.returncode == 0, done.stderr


def test_a_formatting_failure_names_the_file_line_and_column() -> None:
    files = {"pyproject.toml": "", "services/x/x_service/bad.py": "def f(from: str):\n    pass\n"}
    with pytest.raises(FormatError) as caught:
        format_python(files)
    assert caught.value.exit_code == EXIT_INTERNAL
    assert "services/x/x_service/bad.py:1:7" in str(caught.value)


@pytest.mark.slow
def test_a_value_object_named_like_another_services_entity(tmp_path: Path) -> None:
    """`Address` is a value object of customer and an entity of shipping: customer's code uses its own."""
    out = generate(
        tmp_path,
        """\
        msgen: 1
        system: { name: crm, broker: nats }
        services:
          customer:
            value_objects:
              Address:
                fields:
                  street: { type: string, max_length: 80 }
            api:
              operations:
                normalizeAddress: { method: POST, path: /addresses/normalize, request: Address, response: Address }
          shipping:
            entities:
              Address:
                fields:
                  street: { type: string, max_length: 80 }
            api:
              crud:
                Address: {}
        """,
    )
    done = run_python(
        out / "services" / "customer",
        """\
        from customer_service.main import create_app
        from customer_service.settings import Settings

        app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", dev_mode=True))
        operation = app.openapi()["paths"]["/v1/addresses/normalize"]["post"]
        print("result:", operation["requestBody"]["content"]["application/json"]["schema"]["$ref"])
        """,
    )
    assert done.returncode == 0, done.stderr
    assert results(done.stdout) == ["#/components/schemas/Address"]
