"""Shared pieces of the HTTP benchmarks: free ports, servers as processes, wrk runs with percentiles."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

# `unexpected` counts answers without the expected status and text (a 2xx that is not the answer wanted);
# each wrk thread has its own Lua state, so `done` adds up what every thread counted.
_EXPECT_LUA = """
response = function(status, headers, body)
  if status ~= STATUS or not string.find(body, TEXT, 1, true) then unexpected = unexpected + 1 end
end
"""
_PERCENTILES_LUA = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
unexpected = 0

done = function(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("unexpected") end
  io.write(string.format("MSGEN_UNEXPECTED %d\\n", bad))
  io.write(string.format("MSGEN %d %d %.1f %.1f %.1f %.1f\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
  io.write(string.format("MSGEN_ERRORS %d %d %d %d\\n", summary.errors.connect, summary.errors.read,
    summary.errors.status, summary.errors.timeout))
end
"""


@dataclass(frozen=True)
class LoadResult:
    name: str
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int

    def row(self) -> str:
        return (
            f"{self.name:<34} {self.requests_per_s:>9.0f} {self.p50_ms:>8.2f} {self.p95_ms:>8.2f} "
            f"{self.p99_ms:>8.2f} {self.errors:>7}"
        )


HEADER = f"{'target':<34} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is not installed: run benchmarks/setup.sh")
    return wrk


def run_wrk(
    name: str,
    url: str,
    *,
    seconds: int,
    connections: int,
    headers: dict[str, str] | None = None,
    post_json: str | None = None,
    expect: tuple[int, str] | None = None,
) -> LoadResult:
    """One wrk run (1 thread) against a 127.0.0.1 URL; it stops by itself after `seconds`.

    `post_json`: send POSTs with this JSON body instead of GETs. `expect`: (status, text) every answer
    must have, the text somewhere in its body; the others count as errors.
    """
    assert url.startswith("http://127.0.0.1:"), "load tests target only 127.0.0.1"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if post_json is not None:
            script.write(f'wrk.method = "POST"\nwrk.body = [[{post_json}]]\n')
            script.write('wrk.headers["Content-Type"] = "application/json"\n')
        script.write(_PERCENTILES_LUA)
        if expect is not None:
            script.write(_EXPECT_LUA.replace("STATUS", str(expect[0])).replace("TEXT", json.dumps(expect[1])))
    args = [require_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name]
    for key, value in (headers or {}).items():
        args += ["-H", f"{key}: {value}"]
    done = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 60, check=True)
    os.unlink(script.name)
    match = re.search(r"^MSGEN (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)$", done.stdout, re.M)
    errors = re.search(r"^MSGEN_ERRORS (\d+) (\d+) (\d+) (\d+)$", done.stdout, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    unexpected = re.search(r"^MSGEN_UNEXPECTED (\d+)$", done.stdout, re.M)
    assert match and errors and unexpected, done.stdout
    requests, micros = int(match.group(1)), int(match.group(2))
    return LoadResult(
        name=name,
        requests_per_s=requests / (micros / 1e6),
        p50_ms=float(match.group(3)) / 1000,
        p95_ms=float(match.group(4)) / 1000,
        p99_ms=float(match.group(5)) / 1000,
        errors=sum(int(g) for g in errors.groups())
        + (int(non2xx.group(1)) if non2xx else 0)
        + int(unexpected.group(1)),
    )


class Server:
    """A server process on 127.0.0.1 that is stopped (and waited for) on exit."""

    def __init__(self, args: list[str], *, cwd: Path, env: dict[str, str], ready_url: str) -> None:
        self.proc = subprocess.Popen(
            args, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{args} exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{args} did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
