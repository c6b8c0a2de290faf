"""Specs that validated but generated broken code: each generates, and the code does what the spec says."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import aio_pika
import pytest

from msgen.errors import EXIT_INTERNAL
from msgen.render.formatting import FormatError, format_python
from tests.conftest import ROOT
from tests.processes import communicate, run, spawned


def msgen(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return run([sys.executable, "-m", "msgen", *args], cwd=cwd, env=env, timeout=120)


def generate(tmp_path: Path, spec: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(spec))
    done = msgen("new", str(path), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    return tmp_path / "out"


def run_python(service_dir: Path, code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter, in a generated service's folder (its package importable)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(service_dir), os.environ.get("PYTHONPATH", "")])}
    return run([sys.executable, "-c", textwrap.dedent(code)], cwd=service_dir, env=env, timeout=120)


def results(stdout: str) -> list[str]:
    """The lines a snippet printed as `result: ...` (the service logs on stdout too)."""
    return [line.removeprefix("result: ") for line in stdout.splitlines() if line.startswith("result: ")]


@pytest.mark.slow
def test_path_parameters_named_like_python_keywords(tmp_path: Path) -> None:
    """`{from}` and `{class}` become `from_` and `class_` in Python; the URL and the contract keep the names.

    The answer is cached: the cache key names the parameters as the URL does (`**{"from": from_}`)."""
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
                getRate: { method: GET, path: "/rates/{from}/{class}", response: Rate, cache_ttl: 1s }
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


def run_suite(folder: Path) -> subprocess.CompletedProcess[str]:
    """A generated suite in its own process group, killed whole if it outlives the timeout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}  # the suite's own servers
    with spawned(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=folder, env=env, merge_stderr=True
    ) as process:
        out, _ = communicate(process, timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, out, "")


@pytest.mark.slow
def test_bounded_decimals_and_a_rabbitmq_service_suite_that_keeps_to_itself(tmp_path: Path, rabbitmq_url: str) -> None:
    """A decimal within [-50, 50]: the contract's pattern says so, and its schemathesis test passes.

    The system's broker is RabbitMQ, whose default URL is this machine's server: the generated suite
    must run on its own broker and leave nothing there (no exchange named after the system).
    """
    suffix = uuid.uuid4().hex[:8]  # names of this run alone on the shared server
    system = f"meteo_{suffix}"
    out = generate(
        tmp_path,
        f"""\
        msgen: 1
        system: {{ name: {system}, broker: rabbitmq }}
        services:
          station:
            entities:
              Reading:
                fields:
                  delta: {{ type: decimal, min: -50, max: 50, precision: 6, scale: 2 }}
                  ratio: {{ type: decimal, min: 0.05, max: 2.5, precision: 5, scale: 3, required: false }}
            api:
              crud:
                Reading: {{}}
          archive:
            entities:
              Copy:
                fields:
                  reading_id: {{ type: uuid }}
        events:
          reading.recorded:
            publisher: station
            consumers: [archive]
            key: reading_id
            fields:
              reading_id: uuid
              delta: {{ type: decimal, min: -50, max: 50, precision: 6, scale: 2 }}
          station.recalibrated_{suffix}:
            publisher: archive
            consumers: [station]
            key: station_id
            fields:
              station_id: uuid
        """,
    )
    done = run_suite(out / "services" / "station")
    assert done.returncode == 0, done.stdout[-6000:]
    assert "test_contract.py" not in done.stdout  # its operations ran, none failed

    async def declared() -> list[str]:
        """What of the service's exchange and queue exists on the shared server; removed once seen."""
        found = []
        connection = await aio_pika.connect_robust(rabbitmq_url, timeout=10)
        try:
            for kind, name in (("exchange", system), ("queue", f"station.station.recalibrated_{suffix}")):
                channel = await connection.channel()
                try:
                    if kind == "exchange":  # passive declarations: an error if it does not exist
                        await (await channel.get_exchange(name, ensure=True)).delete()
                    else:
                        await (await channel.get_queue(name, ensure=True)).delete(if_unused=False, if_empty=False)
                    found.append(f"{kind} {name}")
                except aio_pika.exceptions.ChannelNotFoundEntity:
                    pass
        finally:
            await connection.close()
        return found

    assert asyncio.run(declared()) == [], "the suite left these on the shared RabbitMQ"


@pytest.mark.slow
def test_a_value_object_with_an_optional_field_reads_back_as_it_was_sent(tmp_path: Path) -> None:
    """An entity's `Location` with an optional `label`: the answer carries `label: null`.

    The generated lifecycle test compares what it created with what it reads back, so its example
    must carry every field of a value object (found by examples/courier.yaml: `test_delivery_lifecycle`
    failed with `AssertionError: pickup`)."""
    out = generate(
        tmp_path,
        """\
        msgen: 1
        system: { name: maps, broker: nats }
        value_objects:
          Location:
            fields:
              lat: { type: decimal, min: -90, max: 90, precision: 8, scale: 6 }
              label: { type: string, max_length: 200, required: false }
        services:
          place:
            entities:
              Place:
                fields:
                  at: { type: Location }
                  near: { type: Location, required: false }
            api:
              crud: [Place]
        """,
    )
    folder = out / "services" / "place"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_")}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_api.py"]
    with spawned(command, cwd=folder, env=env, merge_stderr=True) as process:
        output, _ = communicate(process, timeout=600)
    assert process.returncode == 0, output[-6000:]
    assert " passed" in output and "failed" not in output
