"""What msgen up's dashboard costs: CPU of the whole run, and order latency, with and without it.

Usage: python benchmarks/dashboard.py [ORDERS]   (default 40)

Generates the shop into a temporary folder, then twice (with the dashboard, then with
--no-dashboard) starts `msgen up --port 0`, waits for every service to be ready, places ORDERS
orders one after another through the gateway (each followed to CONFIRMED), and reports the CPU
seconds of every process of the run (msgen up, the services, the gateway, the nats-server; from
/proc) spent while the orders went through, the orders' median time to CONFIRMED, and the CPU of
an idle 20 s. With the dashboard, every request is traced (100% sampled, exported over OTLP to
it) and every log line stored in its SQLite file.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of `pid` and of every process below it, alive now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
        except OSError:
            pass
        todo += children.get(current, [])
    return total


def run(project: Path, orders: int, dashboard: bool) -> dict[str, float]:
    from msgen_runtime.gateway.devtokens import mint

    args = [sys.executable, "-m", "msgen", "up", str(project), "--port", "0"]
    if not dashboard:
        args.append("--no-dashboard")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout is not None
    output = ""
    while "(this summary stays in" not in output:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(output[-3000:])
        output += line
    import threading

    threading.Thread(target=proc.stdout.read, daemon=True).start()
    gateway = re.search(r"gateway\s*│\s*(http://127\.0\.0\.1:\d+)", output)
    assert gateway, output[-2000:]
    base = gateway.group(1)
    token = mint(project, scopes=["orders:create", "orders:read", "users:read", "users:write", "products:write"])
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        email = f"b{time.time_ns()}@example.com"
        user = client.post("/v1/users", json={"email": email, "full_name": "B", "active": True})
        product = client.post("/v1/products", json={"name": "P", "sku": f"SKU-{time.time_ns()}", "price": "12.50"})
        assert user.status_code == 201 and product.status_code == 201, (user.text, product.text)
        body = {
            "user_id": user.json()["id"],
            "email": email,
            "lines": [{"product_id": product.json()["id"], "quantity": 1, "unit_price": "12.50"}],
            "amount": "12.50",
            "currency": "EUR",
        }
        time.sleep(5)  # the start-up's last spans and lines
        cpu0, latencies = tree_cpu(proc.pid), []
        t0 = time.monotonic()
        for _ in range(orders):
            started = time.monotonic()
            placed = client.post("/v1/orders", json=body, headers={"Idempotency-Key": os.urandom(8).hex()})
            assert placed.status_code == 202, placed.text
            ident = placed.json()["id"]
            while client.get(f"/v1/orders/{ident}").json()["status"] not in ("CONFIRMED", "CANCELLED"):
                time.sleep(0.01)
            latencies.append(time.monotonic() - started)
        busy = time.monotonic() - t0
        time.sleep(2)
        cpu1 = tree_cpu(proc.pid)
        time.sleep(20)
        cpu2 = tree_cpu(proc.pid)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    return {
        "orders_cpu_s": cpu1 - cpu0,
        "orders_wall_s": busy,
        "confirmed_p50_ms": statistics.median(latencies) * 1000,
        "idle_cpu_s_per_20s": cpu2 - cpu1,
    }


def main() -> None:
    orders = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "shop"
        subprocess.run(
            [sys.executable, "-m", "msgen", "new", str(ROOT / "examples" / "shop.yaml"), "-o", str(project)],
            check=True,
            capture_output=True,
        )
        for dashboard in (True, False):
            figures = run(project, orders, dashboard)
            load = os.getloadavg()[0]
            shown = ", ".join(f"{k}={v:.2f}" for k, v in figures.items())
            print(f"dashboard={'on' if dashboard else 'off'}: {orders} orders: {shown} (load {load:.1f})", flush=True)


if __name__ == "__main__":
    main()
