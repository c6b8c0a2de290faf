"""What the generated service's production behaviour costs: generated product-service vs a bare FastAPI app.

Both serve GET /v1/products/{id} from the same SQLite file under uvicorn (1 worker),
loaded by the same wrk run. The generated service has everything on: correlation
ids, JSON access logs, RED metrics, problem+json, and OpenTelemetry tracing sampled
at 1% and exported over OTLP/HTTP to a local sink. It runs twice: with its cache
switched off (every read goes to the database) and on (reads are cache hits).

    benchmarks/setup.sh                            # installs wrk
    python benchmarks/service_overhead.py [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import http.server
import os
import secrets
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import httpx

from msgen_runtime.callers import HEADER as CREDENTIAL_HEADER
from msgen_runtime.callers import InternalAuth

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import HEADER, Server, free_port, require_wrk, run_wrk

ROOT = Path(__file__).resolve().parents[1]


class _Sink(http.server.BaseHTTPRequestHandler):
    """Accepts OTLP exports and drops them."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    require_wrk()
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="msgen-bench-") as tmp:
        project = Path(tmp) / "shop"
        subprocess.run(
            [sys.executable, "-m", "msgen", "new", str(ROOT / "examples/shop.yaml"), "-o", str(project)],
            check=True,
            capture_output=True,
        )
        service = project / "services" / "product"
        database = f"sqlite+aiosqlite:///{Path(tmp) / 'product.db'}"
        env = {"DATABASE_URL": database, "LOG_LEVEL": "INFO"}
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=service,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        secret = secrets.token_urlsafe(32)
        # production settings: every call carries the gateway's credential, which the service verifies
        credential = {
            CREDENTIAL_HEADER: InternalAuth(secret, issuer="gateway", ttl=args.seconds * 3 + 120).mint(
                "user:bench", audience="product"
            )
        }
        generated_env = {
            **env,
            "INTERNAL_AUTH_SECRET": secret,
            "TRACE_SAMPLE_RATIO": "0.01",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_port}",
        }
        results = []
        uvicorn = [sys.executable, "-m", "uvicorn", "--workers", "1", "--no-access-log", "--log-level", "warning"]
        for name, extra in (("generated, cache off", {"CACHE_ENABLED": "false"}), ("generated, cache hit", {})):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            with Server(
                [*uvicorn, "--factory", "product_service.main:create_app", "--port", str(port)],
                cwd=service,
                env={**generated_env, **extra},
                ready_url=f"{base}/health/ready",
            ):
                created = httpx.post(
                    f"{base}/v1/products",
                    json={"sku": f"B-{port}", "name": "Bench", "price": "9.99"},
                    headers=credential,
                )
                url = f"{base}/v1/products/{created.json()['id']}"
                run_wrk("warm-up", url, seconds=2, connections=args.connections, headers=credential)
                results.append(
                    run_wrk(name, url, seconds=args.seconds, connections=args.connections, headers=credential)
                )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with Server(
            [*uvicorn, "bare_app:app", "--port", str(port), "--app-dir", str(Path(__file__).resolve().parent)],
            cwd=service,
            env=env,
            ready_url=f"{base}/health/ready",
        ):
            url = f"{base}/v1/products/{created.json()['id']}"
            run_wrk("warm-up", url, seconds=2, connections=args.connections)
            bare = run_wrk("bare FastAPI + SQLAlchemy", url, seconds=args.seconds, connections=args.connections)
    sink.shutdown()
    print(
        f"GET /v1/products/{{id}} on 127.0.0.1, uvicorn 1 worker, wrk 1 thread, {args.connections} connections, {args.seconds} s each"
    )
    print(HEADER)
    for result in (bare, *results):
        print(result.row())
    uncached, cached = results
    ratio = uncached.requests_per_s / bare.requests_per_s
    print(
        f"throughput of the generated service (cache off) vs bare: {ratio:.0%} (target >= 80%: {'PASS' if ratio >= 0.8 else 'MISS'})"
    )
    faster = cached.p50_ms < bare.p50_ms
    print(
        f"cache hit p50 {cached.p50_ms:.2f} ms vs bare database read p50 {bare.p50_ms:.2f} ms "
        f"(target: hit faster: {'PASS' if faster else 'MISS'})"
    )


if __name__ == "__main__":
    main()
