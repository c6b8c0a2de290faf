"""Time `msgen regen` on the shop: unchanged, and after a one-field change to an entity.

Each run is a fresh ``python -m msgen regen DIR`` child process, so the figures
include interpreter start-up and imports: what a user waits for. The shop is
generated once; the one-field case runs on a fresh copy of it each time, with a
user edit in the model file the change touches (so the run merges, too).

Usage, from the repository root::

    python benchmarks/regen.py              # 5 runs of each case
    python benchmarks/regen.py --repeat 10

The targets come from issue 7: unchanged shop <= 0.5 s, one-field change <= 1 s,
judged on the median wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHOP = REPO / "examples" / "shop.yaml"
UNCHANGED_TARGET_S = 0.5
ONE_FIELD_TARGET_S = 1.0
FIELD_BEFORE = "          released_on: { type: date, required: false }\n"
FIELD_AFTER = FIELD_BEFORE + "          weight_grams: { type: int, min: 0, required: false }\n"
MODELS = "services/product/product_service/models.py"


@dataclass
class Timing:
    wall: float
    cpu: float  # user + system of the child and of what it waited for (ruff, git)


def msgen(*args: str) -> tuple[Timing, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "msgen", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=300
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu), done


def one_field_change(project: Path) -> None:
    spec = project / "msgen.yaml"
    spec.write_text(spec.read_text().replace(FIELD_BEFORE, FIELD_AFTER))
    models = project / MODELS
    models.write_text("# Edited by hand.\n" + models.read_text())


def run(pristine: Path, work: Path, repeat: int) -> tuple[list[Timing], list[Timing]]:
    unchanged: list[Timing] = []
    changed: list[Timing] = []
    for i in range(repeat + 1):  # the first round warms the caches and is not counted
        wall, done = msgen("regen", str(pristine))
        if done.returncode != 0 or "Nothing to change" not in done.stdout:
            raise SystemExit(f"regen of the unchanged shop failed:\n{done.stdout}{done.stderr}")
        project = work / f"changed-{i}"
        shutil.copytree(pristine, project)
        one_field_change(project)
        wall_changed, done = msgen("regen", str(project))
        if done.returncode != 0 or "0002_add_products_weight_grams.py" not in done.stdout:
            raise SystemExit(f"regen after a one-field change failed:\n{done.stdout}{done.stderr}")
        shutil.rmtree(project)
        if i:
            unchanged.append(wall)
            changed.append(wall_changed)
            print(
                f"  run {i}/{repeat}: unchanged {wall.wall:.2f} s ({wall.cpu:.2f} s CPU), "
                f"one field {wall_changed.wall:.2f} s ({wall_changed.cpu:.2f} s CPU)",
                file=sys.stderr,
            )
    return unchanged, changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each case (default 5)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="msgen-bench-regen-") as tmp:
        work = Path(tmp)
        pristine = work / "shop"
        _, done = msgen("new", str(SHOP), "-o", str(pristine))
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        load_before = os.getloadavg()[0]
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        unchanged, changed = run(pristine, work, args.repeat)
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print()
    print(f"{'case':<20} {'runs':>4} {'median s':>9} {'best s':>7} {'median CPU s':>13} {'target s':>9}")
    rows = [("unchanged shop", unchanged, UNCHANGED_TARGET_S), ("one-field change", changed, ONE_FIELD_TARGET_S)]
    for label, timings, target in rows:
        median = statistics.median(t.wall for t in timings)
        best = min(t.wall for t in timings)
        cpu = statistics.median(t.cpu for t in timings)
        verdict = "PASS" if median <= target else "MISS"
        print(f"{label:<20} {len(timings):>4} {median:>9.2f} {best:>7.2f} {cpu:>13.2f} {target:>9.1f}   {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
