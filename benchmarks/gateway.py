"""What the gateway adds: GET of a product through the generated gateway and directly, in one run.

The shop runs locally (nats-server from the wheel, the services, the gateway
trusting the dev issuer); wrk loads GET /v1/products/{id} on the product service
and on the gateway with the same connections and duration. Prints req/s,
p50/p95/p99 of both and the latency the gateway adds. Also times `msgen up` from
start to all-ready. Targets: gateway p95 < 300 ms, <= 2 ms added at p50, up <= 10 s.

    benchmarks/setup.sh          # installs wrk
    python benchmarks/gateway.py [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import HEADER, require_wrk, run_wrk

from msgen.localrun import LocalSystem, Options, plan, prepare_databases

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    require_wrk()
    with tempfile.TemporaryDirectory(prefix="msgen-gw-") as tmp:
        project = Path(tmp) / "shop"
        subprocess.run(
            [sys.executable, "-m", "msgen", "new", str(ROOT / "examples/shop.yaml"), "-o", str(project)],
            check=True,
            capture_output=True,
        )
        # the shop allows 100 requests a second per client: lift it to measure the proxy itself
        options = Options(
            workdir=Path(tmp) / "run", log_level="WARNING", extra_env={"RATE_LIMIT_REQUESTS": "100000000"}
        )
        started = time.monotonic()
        specs = plan(project, options)
        prepare_databases(specs, options)
        system = LocalSystem(specs, Path(tmp) / "run" / "logs")
        try:
            system.start_all()
            ready = time.monotonic() - started
            product = httpx.post(
                f"{system.url('product')}/v1/products", json={"sku": "BENCH-1", "name": "Bench", "price": "1.00"}
            ).json()["id"]
            direct_url = f"{system.url('product')}/v1/products/{product}"
            gateway_url = f"{system.url('gateway')}/v1/products/{product}"
            for url in (direct_url, gateway_url):
                run_wrk("warm-up", url, seconds=2, connections=args.connections)
            direct = run_wrk("product service directly", direct_url, seconds=args.seconds, connections=args.connections)
            through = run_wrk("through the gateway", gateway_url, seconds=args.seconds, connections=args.connections)
        finally:
            system.stop_all()
    print(f"GET /v1/products/{{id}}, wrk 1 thread, {args.connections} connections, {args.seconds} s each")
    print(HEADER)
    print(direct.row())
    print(through.row())
    added = through.p50_ms - direct.p50_ms
    print(f"added at p50: {added:.2f} ms (target <= 2 ms: {'PASS' if added <= 2 else 'MISS'})")
    print(f"gateway p95: {through.p95_ms:.1f} ms (target < 300 ms: {'PASS' if through.p95_ms < 300 else 'MISS'})")
    print(
        f"msgen up to all-ready (plan, migrations, start): {ready:.1f} s (target <= 10 s: {'PASS' if ready <= 10 else 'MISS'})"
    )


if __name__ == "__main__":
    main()
