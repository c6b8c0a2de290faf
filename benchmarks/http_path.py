"""CPU per request on the HTTP path of an order: the gateway proxying, and a service's own HTTP stack.

Starts, per checkout given with --src, a service on the runtime's HTTP stack and a gateway before it
(benchmarks/http_path_apps.py, one uvicorn process each), then sends through each gateway, in
alternating rounds so that every checkout is measured in the same minutes under the same load:

- POST /v1/things: a 201 with a short JSON body (the service does no database work);
- GET /v1/things/{id}/events: the saga's status stream (three statuses, the last final), read to its end.

Prints the CPU time (user + system, /proc) each process spent per POST and per stream, in microseconds,
for each round, and the machine's load. Several clients (--clients, threads of this process) keep the
processes busy; the client's own CPU is not counted.

    python benchmarks/http_path.py --src /work/main/src --src src [--requests 1500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
SECRET = "http-path-benchmark-secret-0123456789abcdef"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    one, five = Path("/proc/loadavg").read_text().split()[:2]
    return f"load {one} (1 min) {five} (5 min)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Pair:
    src: str
    service: subprocess.Popen[bytes]
    gateway: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        for process in (self.gateway, self.service):
            process.terminate()
            process.wait(10)


def _uvicorn(factory: str, port: int, src: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", f"http_path_apps:{factory}", "--factory", "--port", str(port)),
            *("--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"),
        ],
        cwd=HERE,
        env={**os.environ, **env, "PYTHONPATH": f"{Path(src).resolve()}:{HERE}", "INTERNAL_AUTH_SECRET": SECRET},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: exited\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health/live", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url}: not up within 120 s")


def start(src: str, tmp: Path, index: int) -> Pair:
    service_port, gateway_port = free_port(), free_port()
    logs = [tmp / f"service-{index}.log", tmp / f"gateway-{index}.log"]
    service = _uvicorn("service", service_port, src, {"BENCH_STATUS_DB": str(tmp / f"status-{index}.db")}, logs[0])
    _ready(f"http://127.0.0.1:{service_port}", service, logs[0])
    gateway = _uvicorn(
        "gateway",
        gateway_port,
        src,
        {"BENCH_SERVICE_URL": f"http://127.0.0.1:{service_port}", "MSGEN_DEV_MODE": "1"},
        logs[1],
    )
    _ready(f"http://127.0.0.1:{gateway_port}", gateway, logs[1])
    return Pair(src, service, gateway, f"http://127.0.0.1:{gateway_port}")


def post(http: httpx.Client) -> None:
    answer = http.post("/v1/things", json={"customer": "bench", "items": [{"sku": "A-1", "quantity": 2}]})
    assert answer.status_code == 201, answer.text


def stream(http: httpx.Client) -> None:
    with http.stream("GET", f"/v1/things/{random.randrange(50)}/events") as answer:
        assert answer.status_code == 200, answer.read()
        text = b"".join(answer.iter_raw())
    assert text.count(b"event: status") == 3 and b"CONFIRMED" in text, text


def measure(pair: Pair, call: object, requests: int, clients: int) -> tuple[float, float]:
    """CPU microseconds per request of the gateway and of the service."""
    per_client = requests // clients

    def run(_: int) -> None:
        with httpx.Client(base_url=pair.url, timeout=30) as http:
            for _ in range(per_client):
                call(http)  # type: ignore[operator]

    before = cpu_seconds(pair.gateway.pid), cpu_seconds(pair.service.pid)
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    after = cpu_seconds(pair.gateway.pid), cpu_seconds(pair.service.pid)
    done = per_client * clients
    return (after[0] - before[0]) / done * 1e6, (after[1] - before[1]) / done * 1e6


def profile(pair: Pair, out: Path, requests: int, clients: int) -> None:
    """py-spy (200 Hz, GIL-holding samples only) of the gateway and the service under POSTs, then streams."""
    from saga_profile import summary

    out.mkdir(parents=True, exist_ok=True)
    for kind, call in (("post", post), ("stream", stream)):
        spies = {
            name: subprocess.Popen(
                [
                    *("py-spy", "record", "--pid", str(process.pid), "--rate", "200", "--format", "raw", "--gil"),
                    *("--nonblocking", "--output", str(out / f"{name}-{kind}.txt")),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name, process in (("gateway", pair.gateway), ("service", pair.service))
        }
        time.sleep(1)  # py-spy attaches
        measure(pair, call, requests, clients)
        for spy in spies.values():
            spy.send_signal(2)  # SIGINT: py-spy writes what it sampled
            spy.wait()
        for name in spies:
            print(summary(out / f"{name}-{kind}.txt", 25))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", action="append", help="a checkout's src/ (repeat to compare side by side)")
    parser.add_argument("--requests", type=int, default=1500, help="POSTs and streams per round and checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--profile", type=Path, help="after the rounds, py-spy the first checkout's processes into DIR")
    args = parser.parse_args()
    sources = args.src or [str(HERE.parent / "src")]
    with tempfile.TemporaryDirectory(prefix="msgen-http-path-") as tmp:
        pairs: list[Pair] = []
        try:
            for index, src in enumerate(sources):
                pairs.append(start(src, Path(tmp), index))
            for pair in pairs:  # warm up: imports, pools, caches
                measure(pair, post, 100, args.clients)
                measure(pair, stream, 100, args.clients)
            print(f"{args.requests} POSTs and {args.requests} streams per round, {args.clients} clients")
            print(
                "round  src                                  gateway/POST  service/POST  gateway/stream  service/stream (us CPU)  load"
            )
            for round_ in range(1, args.rounds + 1):
                for pair in pairs:
                    gp, sp = measure(pair, post, args.requests, args.clients)
                    gs, ss = measure(pair, stream, args.requests, args.clients)
                    print(
                        f"{round_:>5}  {pair.src[-36:]:<36} {gp:>13.0f} {sp:>13.0f} {gs:>15.0f} {ss:>15.0f}  {load()}"
                    )
            if args.profile:
                profile(pairs[0], args.profile, args.requests, args.clients)
        finally:
            for pair in pairs:
                pair.stop()


if __name__ == "__main__":
    main()
