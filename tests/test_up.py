"""`msgen up` as a user runs it: the demo confirms an order; SIGTERM stops everything it started."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from msgen.generate import Generated, generate
from msgen.writer import write_project
from tests.processes import CALL_TIMEOUT_FLOOR, communicate, run, scaled, spawned, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def project(shop: Generated, tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    write_project(root, shop.files, shop.system.spec_hash)
    return root


def _pids(output: str) -> list[int]:
    return [int(p) for p in re.findall(r"│\s*(\d{2,7})\s*│\s*yes", output)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_demo_confirms_an_order_and_leaves_nothing_running(project: Path) -> None:
    """Also: --log-format json prints the services' raw JSON lines, the demo's requests under its correlation id;
    --no-dashboard serves no dashboard, and the services send their traces nowhere."""
    command = [sys.executable, "-m", "msgen", "up", str(project), "--demo", "--port", "0", "--log-format", "json"]
    command.append("--no-dashboard")
    # its own process group: whatever msgen up leaves behind is checked, then ended with the test
    with spawned(command, env={**os.environ, **CALL_TIMEOUT_FLOOR, "COLUMNS": "200"}) as proc:
        out, err = communicate(proc, timeout=300)
        output = out + err
        assert proc.returncode == 0, output[-3000:]
        records = [json.loads(m) for m in re.findall(r"^\d\d:\d\d:\d\d \w+\s*\| (\{.*\})$", out, re.MULTILINE)]
        assert {r["service"] for r in records if r.get("event") == "service.started"} >= {"order", "payment"}, out[
            -3000:
        ]
        demo = [r for r in records if str(r.get("correlation_id")).startswith("demo-")]
        assert {(r["service"], r["event"]) for r in demo} >= {("order", "http.request"), ("gateway", "http.request")}
        assert re.search(r"Order [0-9a-f-]{36} is CONFIRMED", output)
        last = err.strip().splitlines()[-1]
        assert last == "Demo: the saga ended CONFIRMED (as expected); every process has stopped.", err[-2000:]
        for status in ("PENDING_PAYMENT", "PAID", "CONFIRMED"):
            assert status in output
        # the order refers to a product and a user that exist: made first, the project being new
        assert re.search(r"Created Product [0-9a-f-]{36} through the gateway", output), output[-3000:]
        assert re.search(r"Created User [0-9a-f-]{36}", output)
        assert "Creating an order through the gateway: it starts saga place_order" in output
        # and what the participants' default handlers recorded is shown
        assert re.search(r"payment[\s│]+Payment [0-9a-f-]{36}[\s│]+AUTHORIZED[\s│]+authorize_payment", output), output
        assert re.search(r"inventory[\s│]+Reservation [0-9a-f-]{36}[\s│]+RESERVED[\s│]+reserve_inventory", output)
        assert "The generated default handlers let every saga step succeed" in output
        # no dashboard: none announced, no telemetry store, no OTLP endpoint given to the services
        assert "Dashboard:" not in output and "open http" not in output, output[-3000:]
        assert not (project / ".msgen" / "run" / "telemetry.sqlite3").exists()
        assert not [r for r in records if "otlp" in json.dumps(r).lower()], out[-3000:]
        pids = _pids(output)
        assert len(pids) >= 7  # nats-server and the six services
        wait_for(lambda: not [pid for pid in pids if _alive(pid)], timeout=30, what="msgen up left processes running")


def _free_block(size: int) -> int:
    """A base port with `size` free ports from it, below the range outgoing connections take."""
    import socket

    from msgen.localrun import _ephemeral_range

    low, _ = _ephemeral_range()
    for base in range(20000 if low > 21000 else 1024, low - size, 97):
        socks = [socket.socket() for _ in range(size)]
        try:
            for offset, sock in enumerate(socks):
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError("no free block of ports")


def test_sigterm_stops_every_process(project: Path) -> None:
    """Also: --port fixes the ports, the pids are the services' own, the next steps are printed and kept."""
    base = _free_block(9)  # the gateway, six services, the nats-server, the dashboard
    command = [sys.executable, "-m", "msgen", "up", str(project), "--port", str(base)]
    with spawned(command, env={**os.environ, "COLUMNS": "200"}, merge_stderr=True) as proc:
        assert proc.stdout is not None
        lines: list[str] = []
        while "(this summary stays in" not in "".join(lines[-1:]):  # printed last, once everything is ready
            line = proc.stdout.readline()
            assert line, "".join(lines)[-3000:]
            lines.append(line)
        output = "".join(lines)
        pids = _pids(output)
        assert len(pids) >= 8, output[-3000:]
        # the logs read as columns, uncoloured on a pipe; other lines (the nats-server's) as they came
        assert "\x1b[" not in output
        clock = r"^\d\d:\d\d:\d\d\.\d{3} "
        started = re.findall(clock + r"(\w+)\s+INFO  service\.started version=\S+$", output, re.MULTILINE)
        assert set(started) >= {"user", "product", "inventory", "order", "payment", "notification"}, output[-3000:]
        assert re.search(clock + r"nats         \[\d+\] [\d/: .]+\[INF\] Server is ready$", output, re.MULTILINE)
        assert "Migrating the databases of user, product, inventory, order, payment, notification" in output
        assert re.search(r"^ready gateway \(\d of 7, \d+\.\d s\)$", output, re.MULTILINE), output[-3000:]
        urls = dict(re.findall(r"^\s*(\w+)\s*│ \w+://127\.0\.0\.1:(\d+)", output, re.MULTILINE))
        assert urls["gateway"] == str(base) and urls["user"] == str(base + 1) and urls["nats"] == str(base + 7)
        for pid in pids:  # the process itself, not a shell around it
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            assert any(part.endswith((b"uvicorn", b"msgen.launch", b"nats-server")) for part in cmdline), cmdline
        token_step = f"msgen token --scope users:read {project}"
        assert token_step in output
        assert "/v1/users" in output and "curl -s -H" in output
        summary = project / ".msgen" / "run" / "summary.txt"
        assert token_step in summary.read_text() and f"127.0.0.1:{base + 1}" in summary.read_text()
        # the dashboard, on the port after the nats-server's, printed and kept with the next steps
        dashboard = f"http://127.0.0.1:{base + 8}"
        assert f"Dashboard: {dashboard} " in output and f"open {dashboard}" in summary.read_text(), output[-3000:]
        assert httpx.get(f"{dashboard}/api/services").json()["system"] == "shop"
        assert (project / ".msgen" / "run" / "telemetry.sqlite3").is_file()  # its store (see the demo's test)
        proc.send_signal(signal.SIGTERM)
        rest, _ = communicate(proc, timeout=60)
        wait_for(lambda: not [pid for pid in pids if _alive(pid)], timeout=30, what="msgen up left processes running")
    assert not summary.exists()
    # the services stop first, the nats-server they publish to after them: no broken connection at shutdown
    broker = rest.index("sending SIGTERM to nats")
    for name in ("gateway", "user", "order", "payment"):
        assert rest.index(f"{name} stopped") < broker, rest[-3000:]
    assert "SIGKILL" not in rest, rest[-3000:]


def test_a_port_in_use_is_refused_with_what_to_do() -> None:
    import socket

    from msgen.localrun import RunError, fixed_ports

    base = _free_block(3)
    assert fixed_ports(base, ["shop"]) == {"gateway": base, "shop": base + 1, "nats": base + 2}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 1))
        taken.listen()
        with pytest.raises(
            RunError, match=rf"port {base + 1} \(shop\) is in use: .* --port BASE \(0: any free ports\)"
        ):
            fixed_ports(base, ["shop"])


def test_a_port_held_only_by_closed_connections_is_free() -> None:
    """Right after a run stops, its ports hold connections in TIME-WAIT: a new run may bind them (as uvicorn does)."""
    import socket

    from msgen.localrun import fixed_ports

    base = _free_block(3)
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", base + 1))
        listener.listen()
        with socket.create_connection(("127.0.0.1", base + 1)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server side closes first: its end of the connection waits in TIME-WAIT
            client.recv(1)
    held = Path("/proc/net/tcp").read_text()
    assert f":{base + 1:04X} " in held  # the closed connection is still there
    assert fixed_ports(base, ["shop"])["shop"] == base + 1


def test_migrations_run_only_for_a_database_behind_its_head(tmp_path: Path) -> None:
    from msgen.localrun import Options, plan, prepare_databases

    docs = (Path(__file__).resolve().parents[1] / "docs" / "spec.md").read_text()
    spec = tmp_path / "minimal.yaml"
    spec.write_text(docs.split("## A minimal spec", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0])
    project = tmp_path / "out"
    minimal = generate(spec)
    write_project(project, minimal.files, minimal.system.spec_hash)
    options = Options(workdir=tmp_path / "run")
    specs = plan(project, options)
    assert prepare_databases(specs, options) == ["product"]  # a new database
    assert prepare_databases(specs, options) == []  # at head: no Alembic process
    (tmp_path / "run" / "product.db").unlink()
    assert prepare_databases(specs, options) == ["product"]


def test_a_run_on_the_users_broker_makes_its_run_folder_for_the_databases(tmp_path: Path) -> None:
    """With --broker no nats-server store is made, which used to be what created the run folder:
    every service's migration then failed with "unable to open database file"."""
    from msgen.localrun import Options, plan, prepare_databases

    docs = (Path(__file__).resolve().parents[1] / "docs" / "spec.md").read_text()
    spec = tmp_path / "minimal.yaml"
    spec.write_text(docs.split("## A minimal spec", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0])
    project = tmp_path / "out"
    minimal = generate(spec)
    write_project(project, minimal.files, minimal.system.spec_hash)
    options = Options(workdir=tmp_path / "fresh" / "run", broker_url="amqp://guest:guest@127.0.0.1:5672/")
    specs = plan(project, options)
    assert "nats" not in [s.name for s in specs]
    assert prepare_databases(specs, options) == ["product"]
    assert (tmp_path / "fresh" / "run" / "product.db").is_file()


def test_a_service_that_cannot_start_is_reported(project: Path) -> None:
    (project / "services/product/product_service/main.py").write_text("raise SystemExit('broken on purpose')\n")
    done = run(
        [sys.executable, "-m", "msgen", "up", str(project), "--port", "0"],
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 1
    assert "product failed to start" in done.stderr
    assert "broken on purpose" in done.stderr


NEVER_READY = """
import json
import sys

from fastapi import FastAPI
from fastapi.responses import JSONResponse


def create_app() -> FastAPI:
    record = {"level": "WARNING", "service": "product", "correlation_id": None, "trace_id": None,
              "event": "database.unreachable", "logger": "test", "host": "db.invalid",
              "timestamp": "2026-12-02T10:00:00+00:00"}
    print(json.dumps(record), flush=True)
    app = FastAPI()

    @app.get("/health/ready")
    async def ready() -> JSONResponse:
        return JSONResponse({"status": "unavailable", "checks": {"database": "failing"}}, status_code=503)

    return app
"""


def test_a_service_never_ready_is_named_with_why_after_the_ready_timeout(project: Path) -> None:
    """Also: FORCE_COLOR colours the logs on a pipe, and a service's record reads as columns."""
    (project / "services/product/product_service/main.py").write_text(NEVER_READY)
    limit = scaled(30)  # the other services are ready well before on a busy machine; this one never is
    command = [sys.executable, "-m", "msgen", "up", str(project), "--port", "0", "--ready-timeout", f"{limit:.0f}"]
    done = run(command, timeout=300, env={**os.environ, "COLUMNS": "200", "FORCE_COLOR": "1"})
    err, out = _no_ansi(done.stderr), _no_ansi(done.stdout)
    assert done.returncode == 1, err[-3000:]
    found = re.search(rf"^product is not ready after {limit:.0f} s: (.*)$", err, re.MULTILINE)
    assert found, err[-3000:]
    assert re.fullmatch(
        r"http://127\.0\.0\.1:\d+/health/ready answers 503: "
        r'\{"status":"unavailable","checks":\{"database":"failing"\}\}',
        found.group(1),
    ), found.group(1)
    assert "database.unreachable" in err.split("its last lines:")[1]  # its own log, to see why
    assert "\x1b[" in done.stdout  # FORCE_COLOR: coloured although stdout is a pipe
    assert re.search(r"product\s+WARN  database\.unreachable host=db\.invalid$", out, re.MULTILINE), out[-3000:]


def _no_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize("driver", ["postgresql", "postgresql+asyncpg", "postgres"])
def test_up_makes_each_service_a_database_on_the_given_server_whatever_its_url_says(
    postgres_url: str, driver: str, tmp_path: Path
) -> None:
    import asyncio
    import uuid

    import asyncpg
    from sqlalchemy.engine import make_url

    from msgen.localrun import Options, _create_databases, database_url

    server = make_url(postgres_url).set(drivername=driver, query={"application_name": "msgen-up"})
    options = Options(workdir=tmp_path, postgres_url=server.render_as_string(hide_password=False))
    system = f"up_{uuid.uuid4().hex[:8]}"
    url = make_url(database_url("order", system, options))
    assert (url.drivername, url.database, dict(url.query)) == (
        driver,
        f"{system}_order",
        {"application_name": "msgen-up"},
    )

    admin = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def exists() -> bool:
        conn = await asyncpg.connect(admin)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database))
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        finally:
            await conn.close()

    try:
        asyncio.run(_create_databases(options.postgres_url or "", [url.render_as_string(hide_password=False)]))
        assert asyncio.run(exists())
        # a second run finds it there and leaves it
        asyncio.run(_create_databases(options.postgres_url or "", [url.render_as_string(hide_password=False)]))
    finally:
        asyncio.run(drop())


def test_ports_for_the_local_run_stay_out_of_the_range_outgoing_connections_take() -> None:
    """A service's port is picked seconds before it binds it; in the ephemeral range, an outgoing
    connection of another service (to the broker, say) could take it first (seen: errno 98)."""
    from msgen.localrun import _ephemeral_range, free_port

    low, _ = _ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(port < low for port in ports)


def test_the_demo_follows_the_first_saga_with_an_entity_and_statuses(shop: Generated) -> None:
    from msgen.up import demo_plan

    scenario = demo_plan(shop.system)
    assert (scenario.saga, scenario.entity, scenario.service) == ("place_order", "Order", "order")
    assert (scenario.create_path, scenario.stream_path) == ("/v1/orders", "/v1/orders/{id}/events")
    assert scenario.scopes == ("orders:create", "orders:read")
    assert scenario.completed == "CONFIRMED"
    assert {"user_id", "email", "lines", "amount"} <= set(scenario.body)
    # the refs it fills with existing entities, and the records it shows at the end
    assert [(r.path, r.service, r.create_path) for r in scenario.refs] == [
        (("user_id",), "user", "/v1/users"),
        (("lines", "product_id"), "product", "/v1/products"),
    ]
    assert {(b.entity, b.step, b.applied) for b in scenario.books} >= {
        ("Payment", "authorize_payment", "AUTHORIZED"),
        ("Reservation", "reserve_inventory", "RESERVED"),
    }
    assert {"users:write", "products:write", "payments:read", "inventory:read"} <= set(scenario.all_scopes)


def test_the_demo_of_a_spec_without_such_a_saga_is_refused_before_anything_starts(tmp_path: Path) -> None:
    spec = Path(__file__).resolve().parent / "fixtures" / "market.yaml"
    project = tmp_path / "market"
    made = run([sys.executable, "-m", "msgen", "new", str(spec), "-o", str(project)], timeout=300)
    assert made.returncode == 0, made.stderr
    done = run([sys.executable, "-m", "msgen", "up", str(project), "--demo", "--port", "0"], timeout=120)
    assert done.returncode == 2
    assert "--demo follows a saga" in done.stderr
    assert not (project / ".msgen" / "run").exists() or not any((project / ".msgen" / "run").glob("*.db"))
