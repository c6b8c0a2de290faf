"""The Place Order saga under a steady load, on this machine, with every service a real process.

A steady flow of orders (default 20/s for 30 s) goes to the order service of the
generated shop (SQLite per service, nats-server from the wheel); each order is
followed until CONFIRMED. Prints p50/p95/p99 of POST -> CONFIRMED and the
maximum consumer lag seen on /metrics. Targets: p95 < 300 ms, lag < 2 s.

    python benchmarks/saga.py [--rate 20] [--seconds 30] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from msgen.localrun import LocalSystem, Options, plan, prepare_databases

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def one_order(client: httpx.AsyncClient, base: str, product: str) -> float:
    body = {
        "user_id": str(uuid.uuid4()),
        "email": "bench@shop.test",
        "lines": [{"product_id": product, "quantity": 1, "unit_price": "9.99"}],
        "amount": "9.99",
        "currency": "EUR",
    }
    started = time.perf_counter()
    answer = await client.post(f"{base}/v1/orders", json=body)
    assert answer.status_code == 202, answer.text
    ident = answer.json()["id"]
    async with client.stream("GET", f"{base}/v1/orders/{ident}/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data:") and ('"CONFIRMED"' in line or '"CANCELLED"' in line):
                break
    return time.perf_counter() - started


async def max_lag(client: httpx.AsyncClient, urls: list[str]) -> float:
    worst = 0.0
    for url in urls:
        for line in (await client.get(f"{url}/metrics")).text.splitlines():
            if line.startswith("msgen_consumer_lag_messages{"):
                worst = max(worst, float(line.rsplit(" ", 1)[1]))
    return worst


async def load(system: LocalSystem, rate: float, seconds: float) -> tuple[list[float], float, float]:
    base = system.url("order")
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=500)) as client:
        product = str(uuid.uuid4())
        tasks = []
        ages: list[float] = []
        lag = 0.0
        started = time.perf_counter()
        n = int(rate * seconds)
        for i in range(n):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one_order(client, base, product)))
            if i % int(rate) == 0:
                lag = max(lag, await max_lag(client, [system.url(s) for s in ("payment", "inventory", "order")]))
        latencies = await asyncio.gather(*tasks)
        for url in [system.url(s) for s in ("payment", "inventory", "order", "notification")]:
            for line in (await client.get(f"{url}/metrics")).text.splitlines():
                if line.startswith("msgen_message_age_seconds_sum"):
                    ages.append(float(line.rsplit(" ", 1)[1]))
        return list(latencies), lag, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL instead of SQLite files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="msgen-saga-") as tmp:
        project = Path(tmp) / "shop"
        subprocess.run(
            [sys.executable, "-m", "msgen", "new", str(ROOT / "examples/shop.yaml"), "-o", str(project)],
            check=True,
            capture_output=True,
        )
        options = Options(workdir=Path(tmp) / "run", postgres_url=args.postgres, log_level="WARNING")
        specs = plan(project, options)
        prepare_databases(specs, options)
        system = LocalSystem(specs, Path(tmp) / "run" / "logs")
        try:
            system.start_all()
            latencies, lag, took = asyncio.run(load(system, args.rate, args.seconds))
        finally:
            system.stop_all()
    ms = [x * 1000 for x in latencies]
    print(
        f"{len(ms)} orders at {args.rate:g}/s for {args.seconds:g} s ({'PostgreSQL' if args.postgres else 'SQLite'}), done in {took:.1f} s"
    )
    print(
        f"POST -> CONFIRMED  p50 {percentile(ms, 50):.0f} ms  p95 {percentile(ms, 95):.0f} ms  p99 {percentile(ms, 99):.0f} ms  mean {statistics.mean(ms):.0f} ms"
    )
    print(f"max consumer lag seen: {lag:.0f} messages")
    print(f"target p95 < 300 ms: {'PASS' if percentile(ms, 95) < 300 else 'MISS'}")


if __name__ == "__main__":
    main()
