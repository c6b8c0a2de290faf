"""Where one order's CPU goes: the generated shop under a steady load through the gateway, per process.

    pip install -e '.[bench]'                 # py-spy
    python benchmarks/saga_profile.py [--rate 10] [--seconds 20] [--postgres URL] [--out DIR]
        [--processes order,gateway,payment,inventory] [--cpu-only]

Runs the shop as `benchmarks/saga.py --capacity` does (the same processes, the rate limit lifted), prints
the CPU milliseconds each process spends per order at `--rate` (from /proc, without a profiler attached),
then runs the same load again with py-spy sampling each of `--processes` (200 Hz, only while the thread
holds the GIL, so waiting does not count) and prints each one's busiest functions, by their own samples
and with what they call. The raw samples (py-spy's collapsed stacks, one file per process) stay in
`--out` for a flame graph tool.

SQLAlchemy runs database work inside greenlets, whose stacks py-spy shows apart from the coroutine that
awaited them: time under `greenlet_spawn` belongs to whoever issued the statement.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from saga import (
    STIME,
    add_follow_argument,
    cpu_seconds,
    follow_line,
    load_line,
    order_body,
    own_cpu,
    percentile,
    postgres_cpu,
    proc_stat,
    shop,
    steady,
    ticks,
)


def kernel_seconds(pid: int) -> float:
    """System (kernel) CPU time of a process: system calls, and on loopback the receiver's side of a send."""
    return ticks(proc_stat(pid), STIME)


def summary(samples: Path, top: int) -> str:
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in samples.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            under[frame] += int(count)
    lines = [f"{samples.stem}: {total} samples"]
    lines += ["  own:"] + [f"  {100 * n / total:5.1f}%  {name[:130]}" for name, n in own.most_common(top)]
    lines += ["  with callees:"] + [f"  {100 * n / total:5.1f}%  {name[:130]}" for name, n in under.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--processes", default="order,gateway,payment,inventory")
    parser.add_argument("--out", type=Path, default=Path("saga-profile"))
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--cpu-only", action="store_true", help="print the CPU per order only, no profile")
    add_follow_argument(parser)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="msgen-saga-") as tmpdir,
        shop(Path(tmpdir), args.postgres, {"RATE_LIMIT_REQUESTS": "100000000"}) as (system, project, _),
    ):
        body, headers = order_body(system, project, direct=False)
        base = system.url("gateway")
        metrics = [system.url(s) for s in ("payment", "inventory", "order")]
        asyncio.run(steady(base, metrics, 5, 2, headers, body, follow=args.follow))  # warm-up
        names = list(system.procs)
        print(follow_line(args.follow))
        print(load_line())
        before = {n: cpu_seconds(system.procs[n].pid) for n in names}
        kernel_before = {n: kernel_seconds(system.procs[n].pid) for n in names}
        mine, server = own_cpu(), postgres_cpu()
        step = asyncio.run(steady(base, metrics, args.rate, args.seconds, headers, body, follow=args.follow))
        client, server = own_cpu() - mine, postgres_cpu() - server
        n = len(step.orders)
        costs = {name: 1000 * (cpu_seconds(system.procs[name].pid) - before[name]) / n for name in names}
        kernel = {name: 1000 * (kernel_seconds(system.procs[name].pid) - kernel_before[name]) / n for name in names}
        print(
            f"{n} orders at {args.rate:g}/s, {step.errors} errors, p50 {percentile(step.ms, 50):.0f} ms, "
            f"p95 {percentile(step.ms, 95):.0f} ms; CPU ms per order:"
        )
        print("  " + "  ".join(f"{k} {v:.1f}" for k, v in costs.items()) + f"  client {1000 * client / n:.1f}")
        if step.errors:
            print(
                "  errors: "
                + ", ".join(f"{k} x{v}" for k, v in Counter(o.error for o in step.orders if o.error).items())
            )
        print("  of which in the kernel: " + "  ".join(f"{k} {v:.1f}" for k, v in kernel.items()))
        print(f"  services, gateway and nats together: {sum(costs.values()):.1f} ms")
        if args.postgres:
            print(f"  the PostgreSQL server besides: {1000 * server / n:.1f} ms per order")
        if args.cpu_only:
            return
        spies = [
            subprocess.Popen(
                [
                    *("py-spy", "record", "--pid", str(system.procs[name].pid), "--rate", "200"),
                    *("--duration", str(int(args.seconds) + 2), "--format", "raw"),
                    *("--output", str(args.out / f"{name}.txt"), "--nonblocking", "--gil"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for name in args.processes.split(",")
        ]
        time.sleep(1)  # py-spy attaches
        asyncio.run(steady(base, metrics, args.rate, args.seconds, headers, body, follow=args.follow))
        for spy in spies:
            spy.wait()
    print(load_line())
    for name in args.processes.split(","):
        if (args.out / f"{name}.txt").exists():
            print(summary(args.out / f"{name}.txt", args.top))


if __name__ == "__main__":
    main()
