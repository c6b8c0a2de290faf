"""How long `msgen up` takes to have the shop ready, on this machine.

    python benchmarks/up_ready.py [--runs 3] [--msgen-src DIR]

Generates the shop (examples/shop.yaml) into a temporary folder, then runs `msgen up PROJECT --port 0`
--runs times cold (a new project each time: every database is created and migrated) and --runs times
warm (the same project again: nothing to migrate). Each run is timed from the spawn of `msgen up` to its
"ready in" line (every /health/ready answered 200), with the CPU seconds it and its processes spent until then
(steadier than the wall time on a busy machine), then stopped with SIGTERM and waited for. Prints the
1-minute load average before each run: on a shared two-core machine it says more than the figure.

--msgen-src DIR runs another checkout's msgen (its src/ folder, e.g. a worktree of main) the same way,
for a before/after comparison under the same load; run both in the same minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"ready in (\d+(?:\.\d+)?) s")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def generate(target: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "msgen", "new", str(ROOT / "examples" / "shop.yaml"), "-o", str(target), "--force"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) spent so far by a process and its descendants, with their reaped children.

    Steadier than wall time on a shared machine: what msgen up and the processes it started cost, whatever
    else runs (honcho starts each in a session of its own: the tree is followed by parent pid). In
    /proc/PID/stat after the command: the parent is the 2nd field, utime, stime, cutime and cstime the
    12th to 15th.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue  # ended meanwhile
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += sum(int(f) for f in stats[pid][11:15])
        todo.extend(children.get(pid, []))
    return total / ticks


def one_run(project: Path, env: dict[str, str], logs: Path, limit: float) -> tuple[float, float, float]:
    """(wall seconds from spawn to "ready in", the figure msgen up printed, CPU seconds spent until then)."""
    command = [sys.executable, "-m", "msgen", "up", str(project), "--port", "0"]
    t0 = time.monotonic()
    with logs.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.PIPE, text=True, start_new_session=True)
        assert proc.stderr is not None
        seen: list[str] = []
        try:
            while True:
                line = proc.stderr.readline()
                if not line:
                    raise SystemExit(f"msgen up ended before it was ready:\n{''.join(seen)[-3000:]}")
                seen.append(line)
                found = READY.search(line)
                if found:
                    return time.monotonic() - t0, float(found.group(1)), tree_cpu(proc.pid)
                if time.monotonic() - t0 > limit:
                    raise SystemExit(f"not ready after {limit:.0f} s:\n{''.join(seen)[-3000:]}")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--msgen-src", type=Path, help="the src/ folder of the msgen to run (default: this one)")
    parser.add_argument("--limit", type=float, default=300, help="seconds before a run counts as failed")
    args = parser.parse_args()
    src = (args.msgen_src or ROOT / "src").resolve()
    env = {**os.environ, "PYTHONPATH": str(src), "NO_COLOR": "1"}
    work = Path(tempfile.mkdtemp(prefix="msgen-up-ready-"))
    print(f"msgen from {src}")
    results: dict[str, list[float]] = {"cold": [], "warm": []}
    cpus: dict[str, list[float]] = {"cold": [], "warm": []}
    try:
        base = work / "template"
        generate(base, env)
        for run in range(args.runs):
            project = work / f"shop{run}"
            shutil.copytree(base, project, symlinks=True)
            for kind in ("cold", "warm"):
                before = load()
                wall, printed, cpu = one_run(project, env, work / f"{kind}{run}.log", args.limit)
                results[kind].append(wall)
                cpus[kind].append(cpu)
                print(
                    f"{kind} run {run + 1}: ready in {wall:.1f} s (msgen up printed {printed:.1f} s), "
                    f"{cpu:.1f} CPU s, load {before}"
                )
        for kind, values in results.items():
            print(
                f"{kind}: median {statistics.median(values):.1f} s, min {min(values):.1f} s, max {max(values):.1f} s"
                f" over {len(values)} runs; CPU median {statistics.median(cpus[kind]):.1f} s"
            )
        print(f"load average now {load()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
