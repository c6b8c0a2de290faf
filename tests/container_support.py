"""Building and running the generated images with podman on a machine without Docker or a registry.

No base image can be pulled here, so a Debian-built stand-in replaces the official python image the
Dockerfiles name: a minimal Debian bookworm root file system with Debian's Python 3.11, made with
debootstrap and imported into podman once per machine (a few minutes; podman keeps it). The mirror
is read from the machine's apt sources at run time.

podman runs with the runc runtime, lowered ulimits and the host network; pip inside a build trusts the
host's CA bundle. Those flags reach `msgen build` through MSGEN_BUILD_FLAGS, never the generated project.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from filelock import FileLock

from tests.processes import run, run_ok, tail

BASE_IMAGE = "localhost/msgen-test-base:bookworm"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
ENGINE_FLAGS = ["--runtime", "runc"]
LIMITS = ["--network=host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
BUILD_FLAGS = [*LIMITS, "-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro", "--env", f"PIP_CERT={CA_BUNDLE}"]


def podman_available() -> bool:
    return shutil.which("podman") is not None and shutil.which("runc") is not None


def podman(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    """podman with the engine flags, in a session of its own (tests/processes.py); with `check`, the test
    fails with the output's tail unless it exits 0."""
    done = run(["podman", *ENGINE_FLAGS, *args], timeout=timeout)
    if check and done.returncode != 0:
        pytest.fail(
            f"podman {' '.join(args)} exited {done.returncode}:\n{tail(done.stdout)}\n{tail(done.stderr)}",
            pytrace=False,
        )
    return done


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0


def debian_mirror() -> str:
    """The first Debian mirror of the machine's apt sources (deb822 or one-line format)."""
    candidates = [*sorted(Path("/etc/apt/sources.list.d").glob("*.sources")), Path("/etc/apt/sources.list")]
    for path in candidates:
        if not path.is_file():
            continue
        text = path.read_text()
        for match in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if "security" not in match.group(1):
                return match.group(1)
        for match in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M):
            return match.group(1)
    raise RuntimeError("no Debian mirror in the apt sources")


def ensure_base_image() -> str:
    """The stand-in base image, built with debootstrap when podman does not have it yet.

    Under a machine-wide file lock: podman's images are the machine's, so two test runs (or two workers)
    must not build it at once; the second finds it made.
    """
    with FileLock(Path(tempfile.gettempdir()) / "msgen-test-base-image.lock"):
        return _ensure_base_image()


def _ensure_base_image() -> str:
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    with tempfile.TemporaryDirectory(prefix="msgen-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        run_ok(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                rootfs,
                debian_mirror(),
            ],
            timeout=1800,
        )
        (rootfs / "usr/bin/python").unlink(missing_ok=True)
        (rootfs / "usr/bin/python").symlink_to("python3")
        archive = Path(tmp) / "rootfs.tar"
        run_ok(["tar", "-C", rootfs, "-cf", archive, "."], timeout=600)
        run_ok(["podman", "import", archive, BASE_IMAGE], timeout=600)
    return BASE_IMAGE


if __name__ == "__main__":  # pragma: no cover - `python -m tests.container_support` prepares the machine
    print(ensure_base_image(), os.environ.get("MSGEN_BUILD_FLAGS", ""))
