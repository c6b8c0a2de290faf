"""`msgen up` as a user runs it: the demo confirms an order; SIGTERM stops everything it started."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from msgen.generate import Generated, generate
from msgen.writer import write_project
from tests.processes import communicate, run, spawned, wait_for

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
    command = [sys.executable, "-m", "msgen", "up", str(project), "--demo", "--port", "0"]
    # its own process group: whatever msgen up leaves behind is checked, then ended with the test
    with spawned(command, env={**os.environ, "COLUMNS": "200"}) as proc:
        out, err = communicate(proc, timeout=300)
        output = out + err
        assert proc.returncode == 0, output[-3000:]
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
    base = _free_block(8)  # the gateway, six services, the nats-server
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
        urls = dict(re.findall(r"^\s*(\w+)\s*│ \w+://127\.0\.0\.1:(\d+)", output, re.MULTILINE))
        assert urls["gateway"] == str(base) and urls["user"] == str(base + 1) and urls["nats"] == str(base + 7)
        for pid in pids:  # the process itself, not a shell around it
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            assert any(part.endswith((b"uvicorn", b"nats-server")) for part in cmdline), cmdline
        token_step = f"msgen token --scope users:read {project}"
        assert token_step in output
        assert "/v1/users" in output and "curl -s -H" in output
        summary = project / ".msgen" / "run" / "summary.txt"
        assert token_step in summary.read_text() and f"127.0.0.1:{base + 1}" in summary.read_text()
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
