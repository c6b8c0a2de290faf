"""The floor under the Place Order saga's capacity: the least code msgen's stack can run an order with.

    python benchmarks/saga_floor.py [--seconds 15] [--shop] [--postgres URL]

Runs the processes of benchmarks/saga_floor_apps.py (a gateway, the user, order, payment, inventory and
notification services, each a uvicorn process with its own SQLite file, or with --postgres its own
database on that server, created for the run and dropped after it) and a nats-server of its own
with JetStream. An order there takes the shop's hops and nothing else: the gateway's proxy, the order
service's POST with the user check, six deliveries of four events through durable JetStream consumers
(each acknowledged after a transaction that writes its inbox row), four outbox rows published after
commit, the 201 once the order is CONFIRMED. Then, in the same run:

- the bare app (benchmarks/bare_app.py, one row per POST) on a SQLite file or a PostgreSQL database, as
  `saga.py --capacity` measures it: the denominator of issue 11's target (capacity >= 0.25 x the bare insert rate);
- with --shop, the generated shop's closed loop through its gateway, as `saga.py --capacity` runs it.

Each is driven the same way: wrk, 16 connections, closed loop, each POST answered 201 CONFIRMED (the
bare app: 201). Prints the rates, their ratios to the bare app's, and the CPU milliseconds each process
spent per order (with --postgres the server's too: it shares the two cores). Everything targets 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import nats
from load import LoadResult, Server, free_port, require_wrk
from saga import (
    bare_insert_rate,
    closed_loop,
    cpu_seconds,
    drop_databases,
    load_line,
    order_body,
    postgres_cpu,
    proc_name,
    proc_stat,
    shop,
)

from msgen_runtime.testing import nats_server

HERE = Path(__file__).resolve().parent
ROLES = ("user", "payment", "inventory", "notification", "order", "gateway")
BODY = {
    "user_id": "00000000-0000-4000-8000-000000000001",
    "email": "floor@example.com",
    "lines": [{"product_id": str(uuid.UUID(int=7)), "quantity": 2, "unit_price": "12.50"}],
    "amount": "25.00",
    "currency": "EUR",
}


def nats_pid() -> int:
    """The nats-server `msgen_runtime.testing.nats_server` started for this process (its child)."""
    mine = str(os.getpid())
    for comm in Path("/proc").glob("[0-9]*/comm"):
        pid = comm.parent.name
        if proc_name(pid) == "nats-server" and proc_stat(pid)[1:2] == [mine]:
            return int(pid)
    raise RuntimeError("no nats-server child")


async def add_stream(url: str) -> None:
    nc = await nats.connect(url)
    await nc.jetstream().add_stream(name="FLOOR", subjects=["floor.>"])
    await nc.close()


def cpu(pids: dict[str, int], postgres: bool) -> dict[str, float]:
    """CPU seconds so far of each process, and of the PostgreSQL server with `postgres`."""
    return {n: cpu_seconds(pid) for n, pid in pids.items()} | ({"postgres": postgres_cpu()} if postgres else {})


def measure(
    name: str,
    base: str,
    pids: dict[str, int],
    seconds: int,
    headers: dict[str, str],
    body: dict[str, Any],
    postgres: bool,
) -> None:
    """The closed loop through the gateway at `base`, and the CPU each process spent on it, its warm-up apart."""
    closed_loop(base, headers, body, 2, warm_up=False)  # connections, pools, the shop's product cache
    before = cpu(pids, postgres)
    result = closed_loop(base, headers, body, seconds, warm_up=False)
    report(name, result, {n: used - before[n] for n, used in cpu(pids, postgres).items()}, seconds)


RESULTS: dict[str, float] = {}


def report(name: str, result: LoadResult, cpu: dict[str, float], seconds: int) -> None:
    orders = max(1.0, result.requests_per_s * seconds)
    RESULTS[name] = result.requests_per_s
    print(
        f"{name}: {result.requests_per_s:.1f} orders/s, p50 {result.p50_ms:.0f} ms, p95 {result.p95_ms:.0f} ms, "
        f"{result.errors} errors or other answers",
        flush=True,
    )
    print("  CPU ms per order: " + "  ".join(f"{n} {1000 * c / orders:.2f}" for n, c in cpu.items()))
    print(f"  together: {1000 * sum(cpu.values()) / orders:.2f} ms", flush=True)


def floor(tmp: Path, seconds: int, databases: dict[str, str] | None) -> None:
    (tmp / "nats").mkdir()
    with nats_server(str(tmp / "nats")) as nats_url:
        asyncio.run(add_stream(nats_url))
        run_floor(tmp, seconds, databases, nats_url, nats_pid())


def run_floor(tmp: Path, seconds: int, databases: dict[str, str] | None, nats_url: str, nats_process: int) -> None:
    token = secrets.token_hex(16)
    ports = {role: free_port() for role in ROLES}
    servers: list[Server] = []
    try:
        for role in ROLES:
            env = {
                "FLOOR_ROLE": role,
                "NATS_URL": nats_url,
                "DATABASE_URL": databases[role] if databases else f"sqlite+aiosqlite:///{tmp / role}.db",
                "FLOOR_USER_URL": f"http://127.0.0.1:{ports['user']}",
                "FLOOR_ORDER_URL": f"http://127.0.0.1:{ports['order']}",
                "FLOOR_TOKEN": token,
            }
            args = [sys.executable, "-m", "uvicorn", "saga_floor_apps:app", "--host", "127.0.0.1"]
            args += ["--port", str(ports[role]), "--no-access-log", "--log-level", "warning"]
            servers.append(Server(args, cwd=HERE, env=env, ready_url=f"http://127.0.0.1:{ports[role]}/health/ready"))
        pids = {role: server.proc.pid for role, server in zip(ROLES, servers, strict=True)} | {"nats": nats_process}
        measure(
            "floor",
            f"http://127.0.0.1:{ports['gateway']}",
            pids,
            seconds,
            {"Authorization": f"Bearer {token}"},
            BODY,
            databases is not None,
        )
    finally:
        for server in servers:
            server.stop()


def generated_shop(tmp: Path, seconds: int, postgres: str | None) -> None:
    with shop(tmp, postgres, {"RATE_LIMIT_REQUESTS": "100000000"}) as (system, project, _name):
        body, headers = order_body(system, project, direct=False)
        base = system.url("gateway")
        pids = {name: proc.pid for name, proc in system.procs.items()}
        measure("shop", base, pids, seconds, headers, body, postgres is not None)


async def create_databases(server: str, names: list[str]) -> dict[str, str]:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(server)
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        for name in names:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return {name: url.set(drivername="postgresql+asyncpg", database=name).render_as_string(False) for name in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--shop", action="store_true", help="also the generated shop's closed loop, for its ratio")
    parser.add_argument("--postgres", help="a PostgreSQL server URL instead of SQLite files")
    args = parser.parse_args()
    require_wrk()
    print(f"before: {load_line()}")
    with tempfile.TemporaryDirectory(prefix="msgen-floor-") as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "floor").mkdir()
        databases: dict[str, str] | None = None
        if args.postgres:  # `floor<run>_<role>`, and `..._bare` for the bare app
            run = f"floor{uuid.uuid4().hex[:8]}"
            made = asyncio.run(create_databases(args.postgres, [f"{run}_{role}" for role in (*ROLES, "bare")]))
            databases = {name.rsplit("_", 1)[1]: url for name, url in made.items()}
        try:
            floor(tmp / "floor", args.seconds, databases)
            if args.shop:
                (tmp / "shop").mkdir()
                generated_shop(tmp / "shop", args.seconds, args.postgres)
            if databases:
                bare_url = databases["bare"]
            else:  # in write-ahead-log mode, as msgen's services and the floor's run SQLite (it stays with the file)
                with sqlite3.connect(tmp / "bare.db") as db:
                    db.execute("PRAGMA journal_mode=WAL")
                bare_url = f"sqlite+aiosqlite:///{tmp / 'bare.db'}"
            bare, bare_cpu, bare_server = bare_insert_rate(bare_url, args.seconds)
        finally:
            if args.postgres and databases:
                asyncio.run(drop_databases(args.postgres, list(databases.values())))
    print(f"after: {load_line()}")
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite'}")
    server = f" (the PostgreSQL server {bare_server:.2f} ms besides)" if args.postgres else ""
    print(f"bare FastAPI insert, one row per POST: {bare:.0f} inserts/s, {bare_cpu:.2f} ms of CPU per insert{server}")
    for name, rate in RESULTS.items():
        print(f"{name}: ratio to the bare insert rate {rate / bare:.3f} (issue 11's target: >= 0.25)")


if __name__ == "__main__":
    main()
