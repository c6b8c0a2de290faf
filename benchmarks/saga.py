"""The Place Order saga under load, on this machine, with every service a real process.

The generated shop runs locally (SQLite files, or PostgreSQL databases of its own
with --postgres; a nats-server from the wheel; six uvicorn services and the
gateway). Orders go in at a steady rate and each is followed until it is final
(CONFIRMED or CANCELLED): by default the POST asks for the final state itself
(`Prefer: wait`, one request; an answer not final yet is followed over the stream),
with `--follow stream` the POST is followed over its Server-Sent Events stream.
Both measure POST sent -> final status known by the client; the mode is printed.

    python benchmarks/saga.py [--rate 20] [--seconds 30] [--postgres URL]
        one steady rate, straight to the order service: p50/p95/p99 of POST -> final,
        the largest consumer lag seen. Targets: p95 < 300 ms, lag < 2 s.

    python benchmarks/saga.py --capacity [--postgres URL] [--step-seconds 12]
        the highest steady rate THROUGH THE GATEWAY (a dev token, as `msgen token`
        mints it) with p95 POST -> final < 300 ms, every order final within 2 s of
        the last POST (no growing lag) and no error; then, in the same run and on the
        same database, the rate of a bare FastAPI app inserting one row per POST
        (benchmarks/bare_app.py, wrk). Prints both, the ratio and the machine's load,
        then the CPU time each process spends per order at --cpu-rate against the
        bare app's per insert (steadier than rates on a shared machine). With the default
        `--follow wait` it also measures the shop the way the bare app is measured: wrk,
        16 connections, closed loop, every answer 201 CONFIRMED (no Python load generator
        on the two cores), and prints that rate and its ratio beside the search's.
        Target: capacity >= 0.25 x the bare insert rate.

Everything targets 127.0.0.1 and stops by itself; the PostgreSQL databases are
created for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import LoadResult, Server, free_port, require_wrk, run_wrk

from msgen.localrun import LocalSystem, Options, plan, prepare_databases
from msgen.up import _fill_refs, _Front, demo_plan, load_project
from msgen_runtime.db import async_url
from msgen_runtime.gateway.devtokens import mint

ROOT = Path(__file__).resolve().parents[1]
FINAL = ('"CONFIRMED"', '"CANCELLED"')
P95_TARGET_MS = 300.0
DRAIN_TARGET_S = 2.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def load_line() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min), {os.cpu_count()} CPUs"


def proc_stat(pid: int | str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command's name (state first), [] when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def proc_name(pid: int | str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def ticks(fields: list[str], *indexes: int) -> float:
    """Seconds from the clock-tick fields of a `proc_stat` (0 when the process was gone)."""
    return sum(int(fields[i]) for i in indexes) / os.sysconf("SC_CLK_TCK") if fields else 0.0


UTIME, STIME, CUTIME, CSTIME = 11, 12, 13, 14  # indexes in `proc_stat`; PPID is 1


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0 when it is gone."""
    return ticks(proc_stat(pid), UTIME, STIME)


def postgres_cpu() -> float:
    """CPU time of this machine's PostgreSQL server so far: every server process alive now, and what the
    backends that have ended used (the postmaster reaps them: their time is its children's).

    With --postgres the server shares the two cores with the shop. Any other use of the server on the
    machine meanwhile counts too."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        pid = comm.parent.name
        if proc_name(pid) != "postgres":
            continue
        fields = proc_stat(pid)
        total += ticks(fields, UTIME, STIME)
        if fields and proc_name(fields[1]) != "postgres":  # the postmaster: its reaped children's too
            total += ticks(fields, CUTIME, CSTIME)
    return total


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Order:
    latency: float | None  # seconds from POST to a final status; None: refused or never final
    done_at: float
    error: str = ""


# How the client learns that an order is final. Both measure the same thing, POST sent -> final status
# known by the client: "wait" asks it in the POST (Prefer: wait, one request; a 202 because the saga was not
# final within the wait is followed over the stream), "stream" POSTs then follows the status stream.
FOLLOW_MODES = ("wait", "stream")
PREFER_WAIT = 10  # seconds: the longest the generated shop's services and gateway wait


async def one_order(
    client: aiohttp.ClientSession, base: str, body: dict[str, Any], headers: dict[str, str], follow: str = "wait"
) -> Order:
    started = time.perf_counter()
    try:
        if follow == "wait":
            headers = {**headers, "Prefer": f"wait={PREFER_WAIT}"}
        async with client.post(f"{base}/v1/orders", json=body, headers=headers) as answer:
            status = answer.status
            payload = await answer.json() if status in (201, 202) else {}
        if status == 201 and follow == "wait" and f'"{payload.get("status")}"' in FINAL:
            now = time.perf_counter()
            return Order(now - started, now)
        if status != 202:
            return Order(None, time.perf_counter(), f"POST {status}")
        ident = payload["id"]
        async with client.get(f"{base}/v1/orders/{ident}/events", headers=headers) as stream:
            async for raw in stream.content:
                line = raw.decode()
                if line.startswith("data:") and any(final in line for final in FINAL):
                    now = time.perf_counter()
                    return Order(now - started, now)
        return Order(None, time.perf_counter(), "stream ended before a final status")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Order(None, time.perf_counter(), f"{type(exc).__name__}")


def load_client(timeout: float) -> aiohttp.ClientSession:
    """The load generator's HTTP client. aiohttp, not httpx: the generator shares the two cores with the shop,
    and httpx's pool costs 0.5-3 ms of CPU per request (more the more connections it holds) against aiohttp's
    0.1 ms (measured side by side here on a local server)."""
    # uvicorn closes a connection idle for 5 s: one kept longer could be reused just as it closes (a failed order)
    connector = aiohttp.TCPConnector(limit=2000, keepalive_timeout=4)
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), connector=connector)


async def recovered(base: str, headers: dict[str, str], body: dict[str, Any], follow: str, limit: float = 90) -> float:
    """Seconds until three orders in a row succeed one at a time (at most `limit`): a step over capacity can
    leave a circuit breaker open (a reference check timed out five times: the order service refuses
    orders for its 10 s recovery time) or a backlog, and the next step must not inherit them."""
    started = time.perf_counter()
    async with load_client(30) as client:
        good = 0
        while good < 3 and time.perf_counter() - started < limit:
            order = await one_order(client, base, body, headers, follow)
            if order.latency is None:
                good = 0
                await asyncio.sleep(0.5)
            else:
                good += 1
    return time.perf_counter() - started


async def max_lag(client: aiohttp.ClientSession, urls: list[str]) -> float:
    worst = 0.0
    for url in urls:
        try:
            async with client.get(f"{url}/metrics") as answer:
                text = await answer.text()
        except (aiohttp.ClientError, TimeoutError):  # a service too busy to answer: the next probe tells
            continue
        for line in text.splitlines():
            if line.startswith("msgen_consumer_lag_messages{"):
                worst = max(worst, float(line.rsplit(" ", 1)[1]))
    return worst


@dataclass
class Step:
    rate: float
    seconds: float
    orders: list[Order]
    sent_for: float  # seconds from the first POST to the last one
    drain: float  # seconds from the last POST until every order was final
    lag: float  # the largest consumer lag (messages) the services reported

    @property
    def ms(self) -> list[float]:
        return [o.latency * 1000 for o in self.orders if o.latency is not None]

    @property
    def errors(self) -> int:
        return sum(1 for o in self.orders if o.latency is None)

    @property
    def ok(self) -> bool:
        ms = self.ms
        return bool(ms) and not self.errors and percentile(ms, 95) < P95_TARGET_MS and self.drain < DRAIN_TARGET_S

    def row(self) -> str:
        ms = self.ms or [float("nan")]
        return (
            f"{self.rate:>7.1f} {len(self.orders):>7} {self.errors:>6} {percentile(ms, 50):>8.0f} "
            f"{percentile(ms, 95):>8.0f} {percentile(ms, 99):>8.0f} {self.drain:>8.2f} {self.lag:>6.0f}  "
            f"{'ok' if self.ok else 'over'}"
        )


STEP_HEADER = (
    f"{'rate/s':>7} {'orders':>7} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'drain s':>8} {'lag':>6}"
)


async def steady(
    base: str,
    metrics: list[str],
    rate: float,
    seconds: float,
    headers: dict[str, str],
    body: dict[str, Any],
    order_timeout: float = 60,
    follow: str = "wait",
) -> Step:
    """`rate` orders a second for `seconds` (open loop: a slow answer does not slow the next POST)."""
    async with load_client(order_timeout) as client:
        tasks = []
        lag = 0.0
        started = time.perf_counter()
        next_probe = started
        for i in range(max(1, int(rate * seconds))):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one_order(client, base, body, headers, follow)))
            if time.perf_counter() >= next_probe:
                next_probe += 1.0
                lag = max(lag, await max_lag(client, metrics))
        last_sent = time.perf_counter()
        orders = list(await asyncio.gather(*tasks))
        lag = max(lag, await max_lag(client, metrics))
    done = max(o.done_at for o in orders)
    return Step(rate, seconds, orders, last_sent - started, max(0.0, done - last_sent), lag)


def order_body(system: LocalSystem, project: Path, *, direct: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The demo's order body, its user and product created first through the gateway (a create checks its
    references), and the headers for the orders: the gateway's token, or with `direct` the internal
    credential the gateway would send the order service."""
    scenario = demo_plan(load_project(project))
    token = mint(project, scopes=tuple(scenario.all_scopes), sub="bench", ttl="2h")
    front = _Front(list(system.specs.values()), lambda _scopes: token, scenario)
    with front.client:
        body = _fill_refs(front, Console(quiet=True), scenario)
    if not direct:
        return body, {"Authorization": f"Bearer {token}"}
    services = [spec for spec in system.specs.values() if spec.name != "gateway"]
    inside = _Front(services, None, scenario)
    inside.client.close()
    return body, inside.headers_for(scenario.service)


@contextmanager
def shop(tmp: Path, postgres: str | None, extra_env: dict[str, str]) -> Iterator[tuple[LocalSystem, Path, str]]:
    """The generated shop, running; yields the system, the project folder and the system's name."""
    project = tmp / "shop"
    spec = (ROOT / "examples/shop.yaml").read_text()
    name = "shop"
    if postgres:  # databases of its own: `<system>_<service>`, dropped at the end
        name = f"shopbench{uuid.uuid4().hex[:8]}"
        assert "\nsystem:\n  name: shop\n" in spec
        spec = spec.replace("\nsystem:\n  name: shop\n", f"\nsystem:\n  name: {name}\n", 1)
    (tmp / "shop.yaml").write_text(spec)
    subprocess.run(
        [sys.executable, "-m", "msgen", "new", str(tmp / "shop.yaml"), "-o", str(project)],
        check=True,
        capture_output=True,
    )
    options = Options(workdir=tmp / "run", postgres_url=postgres, log_level="WARNING", extra_env=extra_env)
    specs = plan(project, options)
    system = LocalSystem(specs, tmp / "run" / "logs")
    try:
        # the gateway has no database (localrun's prepare_databases asks every ready_url for one)
        prepare_databases([s for s in specs if "DATABASE_URL" in s.env], options)
        system.start_all(timeout=180)  # a shared, loaded machine starts seven processes slowly
        yield system, project, name
    finally:
        system.stop_all()
        if postgres:
            asyncio.run(drop_databases(postgres, [s.env["DATABASE_URL"] for s in specs if "DATABASE_URL" in s.env]))


async def drop_databases(server: str, urls: list[str]) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    conn = await asyncpg.connect(make_url(server).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        for url in urls:
            await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await conn.close()


def bare_insert_rate(database_url: str, seconds: int) -> tuple[float, float, float]:
    """Inserts per second of benchmarks/bare_app.py (one uvicorn worker), wrk with 16 connections,
    the app's CPU milliseconds per insert, and the PostgreSQL server's (meaningless on SQLite)."""
    port = free_port()
    with Server(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=Path(__file__).resolve().parent,
        env={"DATABASE_URL": database_url, "BENCH_ROWS": "1"},
        ready_url=f"http://127.0.0.1:{port}/health/ready",
    ) as server:
        url = f"http://127.0.0.1:{port}/v1/rows"
        run_wrk("warm-up", url, seconds=2, connections=16, post_json='{"note": "warm-up"}')
        before, database = cpu_seconds(server.proc.pid), postgres_cpu()
        result = run_wrk("bare insert", url, seconds=seconds, connections=16, post_json='{"note": "bench"}')
        used, database = cpu_seconds(server.proc.pid) - before, postgres_cpu() - database
    if result.errors:
        print(f"bare app: {result.errors} errors")
    inserts = max(1.0, result.requests_per_s * seconds)
    return result.requests_per_s, 1000 * used / inserts, 1000 * database / inserts


CLOSED_CONNECTIONS = 16  # as many as the bare app's wrk run


def closed_loop(
    base: str, headers: dict[str, str], body: dict[str, Any], seconds: int, *, warm_up: bool = True
) -> LoadResult:
    """Orders through the gateway the way the bare app's inserts are measured: wrk, 16 connections, each
    sending its next order once the last one's answer came. With `Prefer: wait` the answer is the order
    in its final status, so each request is one whole saga; an answer that is not 201 CONFIRMED counts as
    an error. No Python load generator shares the two cores with the shop here (the open-loop search's
    client spends 1-3 ms of CPU per order). `warm_up`: 2 s of the same load first, not measured."""
    url = f"{base}/v1/orders"
    waiting = {**headers, "Prefer": f"wait={PREFER_WAIT}"}
    payload = json.dumps(body)
    if warm_up:
        run_wrk("warm-up", url, seconds=2, connections=CLOSED_CONNECTIONS, headers=waiting, post_json=payload)
    return run_wrk(
        "orders, closed loop",
        url,
        seconds=seconds,
        connections=CLOSED_CONNECTIONS,
        headers=waiting,
        post_json=payload,
        expect=(201, "CONFIRMED"),
    )


def follow_line(follow: str) -> str:
    if follow == "wait":
        return f"mode: wait (POST with Prefer: wait={PREFER_WAIT}, the stream only after a 202)"
    return "mode: stream (POST, then the status stream)"


def add_follow_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--follow",
        choices=FOLLOW_MODES,
        default="wait",
        help="how a client learns the final status: Prefer: wait in the POST (default), or POST then the stream",
    )


def capacity(args: argparse.Namespace) -> None:
    require_wrk()
    print(f"before: {load_line()}")
    with tempfile.TemporaryDirectory(prefix="msgen-saga-") as tmpdir:
        tmp = Path(tmpdir)
        # the shop allows 100 requests a second per token: lift it to measure the system, not the limit
        with shop(tmp, args.postgres, {"RATE_LIMIT_REQUESTS": "100000000"}) as (system, project, _name):
            order_db = async_url(system.specs["order"].env["DATABASE_URL"])
            body, headers = order_body(system, project, direct=False)
            base = system.url("gateway")
            metrics = [system.url(s) for s in ("payment", "inventory", "order")]
            asyncio.run(steady(base, metrics, 5, 2, headers, body, follow=args.follow))  # warm-up: connections, pools
            print(f"saga through the gateway, {args.step_seconds:g} s per rate, {follow_line(args.follow)}")
            print(STEP_HEADER)
            steps: list[Step] = []
            best: Step | None = None
            over: float | None = None
            rate = args.start
            for _ in range(args.max_steps):
                step = asyncio.run(steady(base, metrics, rate, args.step_seconds, headers, body, follow=args.follow))
                steps.append(step)
                print(step.row(), flush=True)
                if not step.ok:  # let what the overload left behind (an open breaker, a backlog) pass first
                    waited = asyncio.run(recovered(base, headers, body, args.follow))
                    print(f"        (recovered in {waited:.1f} s)", flush=True)
                if step.ok:
                    best = step if best is None or step.rate > best.rate else best
                else:
                    over = rate if over is None else min(over, rate)
                if over is None:
                    rate *= 1.5
                elif best is None:
                    if rate < 1:
                        break  # not even one order a second
                    rate = rate / 2
                elif over / best.rate <= 1.12:
                    break
                else:
                    rate = (best.rate + over) / 2
            # CPU per order, per process: what the saga costs, much less disturbed by other jobs than the rate
            # (user and product included: they answer each order's two reference checks)
            names = list(system.procs)
            before = {n: cpu_seconds(system.procs[n].pid) for n in names}
            mine, server = own_cpu(), postgres_cpu()
            costed = asyncio.run(
                steady(base, metrics, args.cpu_rate, args.step_seconds, headers, body, follow=args.follow)
            )
            client, server = own_cpu() - mine, postgres_cpu() - server
            costs = {n: cpu_seconds(system.procs[n].pid) - before[n] for n in names}
            closed = closed_loop(base, headers, body, args.bare_seconds) if args.follow == "wait" else None
            bare, bare_cpu, bare_server = bare_insert_rate(order_db, args.bare_seconds)
        print(f"after: {load_line()}")
    db = "PostgreSQL" if args.postgres else "SQLite"
    found = best.rate if best else 0.0
    print(f"database: {db}")
    print(
        f"saga capacity (p95 < {P95_TARGET_MS:.0f} ms, drain < {DRAIN_TARGET_S:g} s, no errors): {found:.1f} orders/s"
    )
    if best:
        print(
            f"  at that rate: p50 {percentile(best.ms, 50):.0f} ms, p95 {percentile(best.ms, 95):.0f} ms, lag {best.lag:.0f}"
        )
    print(f"bare FastAPI insert, one row per POST: {bare:.0f} inserts/s")
    ratio = found / bare if bare else 0.0
    print(f"ratio: {ratio:.3f} (target >= 0.25: {'PASS' if ratio >= 0.25 else 'MISS'})")
    if closed is not None:
        print(
            f"closed loop, as the bare app is measured (wrk, {CLOSED_CONNECTIONS} connections, each POST answered "
            f"201 CONFIRMED through Prefer: wait): {closed.requests_per_s:.1f} orders/s, p50 {closed.p50_ms:.0f} ms, "
            f"p95 {closed.p95_ms:.0f} ms, {closed.errors} errors or other answers; "
            f"ratio {closed.requests_per_s / bare if bare else 0.0:.3f}"
        )
    n = len(costed.orders)
    print(f"CPU per order at {args.cpu_rate:g} orders/s ({n} orders, {costed.errors} errors), ms:")
    print(
        "  "
        + "  ".join(f"{name} {1000 * used / n:.1f}" for name, used in costs.items())
        + f"  client {1000 * client / n:.1f}"
    )
    services = sum(costs.values()) * 1000 / n
    print(f"  services, gateway and nats together: {services:.1f} ms; the bare app: {bare_cpu:.2f} ms per insert")
    if args.postgres:
        print(
            f"  the PostgreSQL server besides: {1000 * server / n:.1f} ms per order; "
            f"{bare_server:.2f} ms per bare insert"
        )
    print(f"  CPU ratio (bare ms per insert / system ms per order): {bare_cpu / services:.3f}")


def single(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="msgen-saga-") as tmpdir, shop(Path(tmpdir), args.postgres, {}) as shop_run:
        system, project, _name = shop_run
        metrics = [system.url(s) for s in ("payment", "inventory", "order")]
        body, headers = order_body(system, project, direct=True)
        print(follow_line(args.follow))
        step = asyncio.run(
            steady(system.url("order"), metrics, args.rate, args.seconds, headers, body, follow=args.follow)
        )
    ms = step.ms
    db = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{len(step.orders)} orders at {args.rate:g}/s for {args.seconds:g} s ({db}), {step.errors} errors")
    print(
        f"POST -> final  p50 {percentile(ms, 50):.0f} ms  p95 {percentile(ms, 95):.0f} ms  "
        f"p99 {percentile(ms, 99):.0f} ms  mean {statistics.mean(ms) if ms else float('nan'):.0f} ms"
    )
    print(f"all final {step.drain:.2f} s after the last POST; max consumer lag seen: {step.lag:.0f} messages")
    print(f"target p95 < 300 ms: {'PASS' if percentile(ms, 95) < 300 else 'MISS'}; {load_line()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL instead of SQLite files")
    parser.add_argument("--capacity", action="store_true", help="find the highest steady rate through the gateway")
    parser.add_argument("--start", type=float, default=10.0, help="capacity: the first rate tried")
    parser.add_argument("--step-seconds", type=float, default=12.0, help="capacity: seconds at each rate")
    parser.add_argument("--max-steps", type=int, default=9, help="capacity: rates tried at most")
    parser.add_argument("--bare-seconds", type=int, default=10, help="capacity: seconds of the bare insert run")
    parser.add_argument("--cpu-rate", type=float, default=10.0, help="capacity: the rate of the CPU-per-order run")
    add_follow_argument(parser)
    args = parser.parse_args()
    if args.postgres:
        assert "127.0.0.1" in args.postgres or "localhost" in args.postgres, "benchmarks target only 127.0.0.1"
    capacity(args) if args.capacity else single(args)


if __name__ == "__main__":
    main()
