"""Time `msgen new` as a whole process, on examples/shop.yaml and on synthetic specs.

Each run is a fresh ``python -m msgen new SPEC -o DIR --force`` child process
writing into a fresh directory, so the figures include interpreter start-up,
imports, loading, resolving, rendering, ruff and writing: what a user waits for.
Peak memory is the child's maximum resident set size as reported by
``os.wait4``; on Linux that is the larger of msgen's own peak and the peak of
any process it waited for (ruff).

Usage, from the repository root::

    python benchmarks/generate.py                  # the table and the targets
    python benchmarks/generate.py --sizes 10,20 --repeat 3
    python benchmarks/generate.py --breakdown 100  # also: where one run spends its time (or: --breakdown shop)
    python benchmarks/generate.py --profile 100    # also: cProfile of generate + write_project
    python benchmarks/generate.py --workdir DIR    # write the projects under DIR (default: the temporary folder)

The targets come from issue 17: shop <= 0.5 s, 100 services <= 5 s, and
time growing linearly with the number of services.

The children always write and use Python's bytecode cache (__pycache__), as an
installed msgen does: PYTHONDONTWRITEBYTECODE is removed from their environment,
since without it every run compiles msgen's modules again (about 1 s).
The SDK generators a user may have installed (``msgen sdk``) are left out: their
own run is not msgen's (``MSGEN_SDK_TOOLS`` points the children at an empty folder).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHOP = REPO / "examples" / "shop.yaml"
sys.path.insert(0, str(HERE))

from synthetic import synthetic_spec  # noqa: E402

SHOP_TARGET_S = 0.5
LARGE_TARGET_S = 5.0
LARGE_SERVICES = 100
# Linear growth: the CPU cost of one more service between the two largest sizes
# may exceed the cost between the two smallest by this factor (noise margin).
LINEAR_TOLERANCE = 1.25
RUN_TIMEOUT_S = 600.0


@dataclass
class Case:
    label: str
    spec: Path
    services: int
    repeat: int


@dataclass
class Result:
    case: Case
    times: list[float]
    cpu: list[float]
    peak_rss_kib: int
    files: int
    output_bytes: int

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)


class RunFailed(RuntimeError):
    pass


def run_once(spec: Path, out: Path, log: Path) -> tuple[float, float, int]:
    """One `msgen new` child process: (wall seconds, CPU seconds, max RSS in KiB).

    CPU is user + system time of the child and of the processes it waited for (ruff).
    A child still running after RUN_TIMEOUT_S is killed, so the benchmark always ends.
    """
    cmd = [sys.executable, "-m", "msgen", "new", str(spec), "-o", str(out), "--force"]
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    # msgen's own work only: the SDK generators (openapi-python-client, openapi-typescript), when a user
    # installed them, run after it as tools of their own (about 3 s for the shop); an empty tools folder
    # leaves them out, as on a machine without them
    env["MSGEN_SDK_TOOLS"] = str(out.parent / "no-sdk-tools")
    with log.open("wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        watchdog = threading.Timer(RUN_TIMEOUT_S, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen from waiting again
    if wall >= RUN_TIMEOUT_S:
        raise RunFailed(f"{' '.join(cmd)} was killed after {RUN_TIMEOUT_S:.0f} s")
    if proc.returncode != 0:
        raise RunFailed(f"{' '.join(cmd)} exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss  # Linux reports ru_maxrss in KiB


def count_services(spec: Path) -> int:
    """The keys of the top-level `services:` mapping (a text scan: msgen is not imported here)."""
    count = 0
    inside = False
    indent: int | None = None
    for line in spec.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            inside = line.split("#", 1)[0].strip() == "services:"
            continue
        if inside:
            width = len(line) - len(line.lstrip())
            indent = width if indent is None else indent
            if width == indent and line.split("#", 1)[0].rstrip().endswith(":"):
                count += 1
    return count


def count_output(root: Path) -> tuple[int, int]:
    """Generated files (without msgen's own .msgen/ metadata) and total bytes on disk."""
    files = 0
    size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and ".msgen" in dirnames:
            for name in os.listdir(root / ".msgen"):
                size += (root / ".msgen" / name).stat().st_size
            dirnames.remove(".msgen")
        for name in filenames:
            files += 1
            size += (Path(dirpath) / name).stat().st_size
    return files, size


def bench(case: Case, work: Path) -> Result:
    times: list[float] = []
    cpu: list[float] = []
    peak = 0
    files = size = 0
    for rep in range(case.repeat):
        out = work / f"out-{case.label}-{rep}"
        wall, cpu_s, rss = run_once(case.spec, out, work / "msgen.log")
        times.append(wall)
        cpu.append(cpu_s)
        peak = max(peak, rss)
        if rep == 0:
            files, size = count_output(out)
        shutil.rmtree(out)
        print(
            f"  {case.label} run {rep + 1}/{case.repeat}: {wall:.2f} s wall, {cpu_s:.2f} s CPU, {rss / 1024:.0f} MiB",
            file=sys.stderr,
        )
    return Result(case, times, cpu, peak, files, size)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results: list[Result]) -> None:
    header = (
        f"{'spec':<14} {'services':>8} {'files':>6} {'output':>8} {'runs':>4} "
        f"{'median s':>9} {'best s':>7} {'CPU s':>6} {'peak RSS':>9} {'best s/service':>15}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.case.label:<14} {r.case.services:>8} {r.files:>6} {r.output_bytes / 2**20:>6.1f}MB {len(r.times):>4} "
            f"{r.median:>9.2f} {r.best:>7.2f} {statistics.median(r.cpu):>6.2f} {r.peak_rss_kib / 1024:>6.0f}MiB "
            f"{r.best / r.case.services:>15.3f}"
        )
    print()

    shop = next((r for r in results if r.case.label == "shop"), None)
    if shop is not None:
        print(
            f"target  shop <= {SHOP_TARGET_S:.1f} s                    median {shop.median:6.2f} s   "
            f"{verdict(shop.median <= SHOP_TARGET_S)}"
        )
    synthetic = sorted((r for r in results if r.case.label.startswith("synthetic")), key=lambda r: r.case.services)
    large = next((r for r in synthetic if r.case.services == LARGE_SERVICES), None)
    if large is not None:
        print(
            f"target  {LARGE_SERVICES} services <= {LARGE_TARGET_S:.0f} s              median {large.median:6.2f} s   "
            f"{verdict(large.median <= LARGE_TARGET_S)}"
        )

    if synthetic:
        per = ", ".join(f"{r.case.services}: {r.best / r.case.services:.3f} s" for r in synthetic)
        print(f"time per service (best / services)       {per}")
    if len(synthetic) >= 3:
        # Linearity is judged on median CPU time (msgen + ruff): the work done, which other
        # jobs on the machine disturb far less than wall time. Best wall times are shown too.
        def steps(value: Callable[[Result], float]) -> list[tuple[int, int, float]]:
            return [
                (a.case.services, b.case.services, (value(b) - value(a)) / (b.case.services - a.case.services))
                for a, b in itertools.pairwise(synthetic)
            ]

        wall_steps = steps(lambda r: r.best)
        cpu_steps = steps(lambda r: statistics.median(r.cpu))
        show = ", ".join(f"{lo}->{hi}: {cost:.3f} s" for lo, hi, cost in wall_steps)
        print(f"one more service costs (best wall)       {show}")
        show = ", ".join(f"{lo}->{hi}: {cost:.3f} s" for lo, hi, cost in cpu_steps)
        print(f"one more service costs (median CPU)      {show}")
        first, last = cpu_steps[0][2], cpu_steps[-1][2]
        fixed = synthetic[0].best - wall_steps[0][2] * synthetic[0].case.services
        print(f"fixed cost (extrapolated to 0 services)  {fixed:.2f} s")
        linear = last <= first * LINEAR_TOLERANCE
        print(
            f"target  linear growth (last CPU step <= {LINEAR_TOLERANCE} x first)   "
            f"{last:.3f} vs {first:.3f} s/service   {verdict(linear)}"
        )


# -- where the time goes, in process -------------------------------------------------


def breakdown(spec: Path, services: int, work: Path) -> None:
    """Time the stages of one generation in this process, by wrapping msgen's functions."""
    t0 = time.perf_counter()
    import msgen.cli  # noqa: F401  (what `python -m msgen` imports before any work)

    t1 = time.perf_counter()
    import msgen.generate as generate_mod
    import msgen.loader as loader_mod
    import msgen.render as render_mod
    from msgen.writer import write_project

    t2 = time.perf_counter()
    spent: dict[str, float] = {}
    calls: dict[str, int] = {}
    originals: list[tuple[Any, str, Any]] = []

    def wrap(module: Any, name: str, label: str) -> None:
        original: Callable[..., Any] | None = getattr(module, name, None)
        if original is None:
            print(f"  (cannot time {module.__name__}.{name}: not found)", file=sys.stderr)
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - start
                calls[label] = calls.get(label, 0) + 1

        originals.append((module, name, original))
        setattr(module, name, timed)

    wrap(generate_mod, "load_spec", "load_spec")
    wrap(loader_mod, "_fast_plain", "load_spec: YAML parse")  # libyaml
    wrap(loader_mod, "_parse_yaml", "load_spec: YAML parse")  # ruamel, when libyaml left the spec to it
    wrap(generate_mod, "resolve", "resolve")
    wrap(generate_mod, "render_system", "render_system")
    wrap(render_mod, "openapi_document", "render: openapi_document (dict)")
    wrap(render_mod, "to_yaml", "render: to_yaml (contracts' YAML)")
    wrap(render_mod, "_render", "render: jinja templates (_render)")
    wrap(render_mod, "format_python", "render: format_python (ruff)")

    start = time.perf_counter()
    result = generate_mod.generate(spec)
    generated = time.perf_counter()
    write_project(work / "breakdown-out", result.files, result.system.spec_hash, force=True)
    written = time.perf_counter()
    shutil.rmtree(work / "breakdown-out")
    for module, name, original in originals:
        setattr(module, name, original)

    startup = _interpreter_startup()
    total = startup + (t2 - t0) + (written - start)
    rows: list[tuple[str, float, str]] = [
        ("python start-up (python -c pass)", startup, "1 process"),
        ("import msgen.cli (typer, rich)", t1 - t0, ""),
        ("import generate, render, writer", t2 - t1, ""),
    ]
    load = spent.get("load_spec", 0.0)
    parse = spent.get("load_spec: YAML parse", 0.0)
    rows += [
        ("load_spec: YAML parse", parse, ""),
        ("load_spec: positions + pydantic", load - parse, ""),
        ("resolve", spent.get("resolve", 0.0), ""),
    ]
    render_total = spent.get("render_system", 0.0)
    parts = [
        "render: to_yaml (contracts' YAML)",
        "render: openapi_document (dict)",
        "render: jinja templates (_render)",
        "render: format_python (ruff)",
    ]
    for label in parts:
        rows.append((label, spent.get(label, 0.0), f"{calls.get(label, 0)} calls"))
    rows.append(("render: the rest (views, avro, json)", render_total - sum(spent.get(p, 0.0) for p in parts), ""))
    rows.append(("write_project (staging, manifest, baseline)", written - generated, f"{len(result.files)} files"))

    print()
    print(f"Where one generation of {spec.name} ({services} services) spends its time, in process:")
    print(f"{'stage':<46} {'seconds':>8} {'share':>6}")
    for label, seconds, note in rows:
        print(f"{label:<46} {seconds:>8.2f} {seconds / total:>6.0%}  {note}")
    print(f"{'total':<46} {total:>8.2f}")


def _interpreter_startup() -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        best = min(best, time.perf_counter() - start)
    return best


def profile(spec: Path, services: int, work: Path, top: int = 25) -> None:
    """cProfile one in-process generate + write_project; print the top functions."""
    import cProfile
    import pstats

    from msgen.generate import generate
    from msgen.writer import write_project

    profiler = cProfile.Profile()
    profiler.enable()
    result = generate(spec)
    write_project(work / "profile-out", result.files, result.system.spec_hash, force=True)
    profiler.disable()
    shutil.rmtree(work / "profile-out")
    print()
    print(f"cProfile of generate + write_project on {spec.name} ({services} services)")
    print("(the profiler's own overhead roughly triples the times; compare shares, not seconds)")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


# -- main ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10,50,100", help="synthetic spec sizes, comma-separated (default: 10,50,100)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per spec (default 5; 3 from 100 services up)")
    parser.add_argument("--no-shop", action="store_true", help="skip examples/shop.yaml")
    parser.add_argument(
        "--breakdown", type=_size, metavar="N|shop", help="also time the stages of one run of that spec"
    )
    parser.add_argument("--profile", type=_size, metavar="N|shop", help="also cProfile one run of that spec")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where the runs write their projects (default: the system's temporary folder); "
        "file creation speed differs between file systems, and so does the writing stage",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if any(n < 1 for n in sizes) or args.repeat < 1:
        parser.error("sizes and --repeat must be positive")

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="msgen-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        cases: list[Case] = []
        if not args.no_shop:
            cases.append(Case("shop", SHOP, count_services(SHOP), args.repeat))
        for n in sizes:
            spec = work / f"synthetic-{n}.yaml"
            spec.write_text(synthetic_spec(n))
            cases.append(Case(f"synthetic-{n}", spec, n, args.repeat if n < 100 else min(args.repeat, 3)))

        load_before = os.getloadavg()[0]
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {_cpu_model()}, writing under {work.parent}")
        try:
            if cases:
                # One discarded run warms the file cache and the bytecode cache.
                run_once(cases[0].spec, work / "warm-up", work / "msgen.log")
                shutil.rmtree(work / "warm-up")
            results = [bench(case, work) for case in cases]
        except RunFailed as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
        creation = _file_creation_cost(work)
        print(
            f"creating a file under {work.parent} (open, 4 KiB write, close; 500 files in 10 new folders, the "
            f"machine's, not msgen's): {creation * 1e3:.3f} ms, so the shop's files alone take about "
            f"{creation * 250:.2f} s and 100 services' about {creation * 3560:.2f} s of the times below"
        )
        if results:
            print()
            report(results)

        if args.breakdown:
            breakdown(*_target(args.breakdown, work), work)
        if args.profile:
            profile(*_target(args.profile, work), work)
    return 0


def _file_creation_cost(work: Path, files: int = 500) -> float:
    """Seconds this file system takes to create one small file, as the writer does (median of three rounds).

    On some virtual disks creating a file costs thirty times what it costs on a quiet local disk or tmpfs,
    and it moves with the machine's load: printed beside the figures so that they can be read apart.
    """
    data = b"x" * 4096
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    rounds = []
    for attempt in range(3):
        base = work / f"creation-{attempt}"
        started = time.perf_counter()
        for folder in range(10):
            os.makedirs(base / str(folder))
            for index in range(files // 10):
                descriptor = os.open(base / str(folder) / str(index), flags, 0o644)
                os.write(descriptor, data)
                os.close(descriptor)
        rounds.append((time.perf_counter() - started) / files)
        shutil.rmtree(base)
    return statistics.median(rounds)


def _size(text: str) -> str:
    if text != "shop" and not (text.isdigit() and int(text) > 0):
        raise argparse.ArgumentTypeError("expected a number of services or 'shop'")
    return text


def _target(size: str, work: Path) -> tuple[Path, int]:
    """The spec to break down or profile: examples/shop.yaml or a synthetic one."""
    if size == "shop":
        return SHOP, count_services(SHOP)
    spec = work / f"synthetic-{size}.yaml"
    spec.write_text(synthetic_spec(int(size)))
    return spec, int(size)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
