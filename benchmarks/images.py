"""The generated shop's images: how big they are and how fast a service in one is ready.

Generates the shop with the given base image and registry, builds its images with `msgen build`
(MSGEN_ENGINE_FLAGS / MSGEN_BUILD_FLAGS apply, as for any build), then prints per image its size,
what it adds to the base, and its /opt/venv; then, per service, the cold start: from `podman run`
(or docker run) of a fresh container to the first 200 of /health/ready, and, inside the container,
the Python part alone (interpreter start, imports, the app factory, uvicorn's startup, the first ready
answer). The images are removed at the end unless --keep.

    python benchmarks/images.py --base-image localhost/msgen-test-base:bookworm --engine podman \\
        --engine-flags "--runtime runc" --run-flags "--network=host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024"

On a machine like msgen's test machine, also export MSGEN_BUILD_FLAGS (docs/deploy.md#msgen-build).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from msgen import build as images  # noqa: E402
from msgen.generate import generate  # noqa: E402
from msgen.localrun import free_port  # noqa: E402
from msgen.writer import write_project  # noqa: E402

MB = 1_000_000
# Inside the container: the Python part of a cold start, from the interpreter's first instruction.
_INNER = """
import time, threading, urllib.request, sys
t0 = time.perf_counter()
import uvicorn
port = int(sys.argv[1])
def probe():
    while True:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1).status == 200:
                print(f"{time.perf_counter() - t0:.3f}", flush=True)
                server.should_exit = True
                return
        except Exception:
            time.sleep(0.005)
config = uvicorn.Config(sys.argv[2], factory=True, host="127.0.0.1", port=port, log_level="warning")
server = uvicorn.Server(config)
threading.Thread(target=probe, daemon=True).start()
server.run()
"""


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-image", default="python:3.12.12-slim-bookworm")
    parser.add_argument("--engine", default="podman")
    parser.add_argument("--engine-flags", default="", help="flags before the engine's command")
    parser.add_argument("--run-flags", default="", help="flags of `run` (network, ulimits)")
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--starts", type=int, default=3, help="cold starts per service")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    engine = [args.engine, *shlex.split(args.engine_flags)]
    run_flags = shlex.split(args.run_flags)

    with tempfile.TemporaryDirectory(prefix="msgen-images-bench-") as tmp:
        spec = (ROOT / "examples" / "shop.yaml").read_text()
        spec = spec.replace("base_image: python:3.12.12-slim-bookworm", f"base_image: {args.base_image}")
        spec = spec.replace("registry: ghcr.io/example/shop", "registry: localhost/msgen-bench")
        (Path(tmp) / "shop.yaml").write_text(spec)
        generated = generate(Path(tmp) / "shop.yaml")
        project = Path(tmp) / "shop"
        write_project(project, generated.files, generated.system.spec_hash)
        env = {**os.environ, images.ENGINE_FLAGS_ENV: args.engine_flags}
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "msgen", "build", str(project), "--engine", args.engine, "--jobs", str(args.jobs)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(f"msgen build --jobs {args.jobs}: {time.monotonic() - started:.0f} s for the shop's 7 images")
        built = images.images(generated.system)
        try:
            size = lambda ref: int(run([*engine, "image", "inspect", "--format", "{{.Size}}", ref]).stdout)  # noqa: E731
            base = size(args.base_image)
            print(f"base image {args.base_image}: {base / MB:.0f} MB")
            print(f"{'image':<24}{'size MB':>9}{'+base MB':>10}{'venv MiB':>9}")
            for image in built:
                venv = run(
                    [*engine, "run", "--rm", *run_flags, "--entrypoint", "du", image.tag, "-s", "-k", "/opt/venv"]
                )
                total = size(image.tag)
                print(
                    f"{image.app:<24}{total / MB:>9.0f}{(total - base) / MB:>10.0f}{int(venv.stdout.split()[0]) / 1024:>9.0f}"
                )
            print(f"{'cold start (s)':<24}{'container':>10}{'python':>9}   (median of {args.starts})")
            for service in generated.system.services:
                tag = next(i.tag for i in built if i.app == service.kebab)
                app = f"{service.package}.main:create_app"
                outer, inner = [], []
                for _ in range(args.starts):
                    port = free_port()
                    with tempfile.TemporaryDirectory(prefix="msgen-db-") as data:
                        os.chmod(data, 0o777)
                        database = f"sqlite+aiosqlite:///{data}/db.sqlite"
                        common = [*run_flags, "-v", f"{data}:{data}", "-e", f"DATABASE_URL={database}"]
                        common += ["-e", "MSGEN_DEV_MODE=1", "-e", "MESSAGING_ENABLED=false", "-e", "LOG_LEVEL=WARNING"]
                        run([*engine, "run", "--rm", *common, tag, "alembic", "upgrade", "head"])
                        t0 = time.monotonic()
                        name = run(
                            [
                                *engine,
                                "run",
                                "-d",
                                *common,
                                tag,
                                "uvicorn",
                                app,
                                "--factory",
                                "--host",
                                "127.0.0.1",
                                "--port",
                                str(port),
                            ]
                        ).stdout.strip()
                        try:
                            while True:
                                try:
                                    if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                                        break
                                except httpx.HTTPError:
                                    time.sleep(0.005)
                            outer.append(time.monotonic() - t0)
                        finally:
                            subprocess.run(
                                [*engine, "rm", "--force", "--time", "1", name], capture_output=True, check=False
                            )
                        inside = run(
                            [*engine, "run", "--rm", *common, tag, "python", "-c", _INNER, str(free_port()), app]
                        )
                        inner.append(float(inside.stdout.split()[-1]))
                outer.sort()
                inner.sort()
                print(f"{service.kebab:<24}{outer[len(outer) // 2]:>10.2f}{inner[len(inner) // 2]:>9.2f}")
        finally:
            if not args.keep:
                for image in built:
                    subprocess.run([*engine, "rmi", "--force", image.tag], capture_output=True, check=False)


if __name__ == "__main__":
    main()
