"""msgen-runtime as the generated services see it: the requirement with its extras, and its wheel.

Every generated service and the gateway depend on ``msgen-runtime`` (never on msgen) within the range
semantic versioning calls compatible, with exactly the extras the spec makes them need. Its images
install it from the project's ``wheels/`` when the package index does not serve it: `msgen new` and
`msgen build` put its wheel there, built from the runtime msgen runs on (the checkout's runtime/
project with hatchling, or the installed distribution repacked with wheel) and cached by content: in the
project (a stamp beside the wheel) and in msgen's cache folder, so that a new project gets its copy without
a build.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import msgen_runtime
from msgen import model as m
from msgen.caches import cache_folder, read_entry, write_entry
from msgen.errors import MsgenError
from msgen.files import replace_file

DISTRIBUTION = "msgen-runtime"
WHEEL_PREFIX = "msgen_runtime-"
REPRODUCIBLE_EPOCH = "1580601600"  # 2020-02-02, the date hatchling gives a reproducible wheel's files
BROKER_EXTRAS = {"nats": "nats", "rabbitmq": "rabbit", "kafka": "kafka"}


def runtime_version() -> str:
    return msgen_runtime.__version__


def compatible_range(version: str) -> str:
    """`>=X.Y.Z,<X.(Y+1)` before 1.0 (a minor release may break), `>=X.Y.Z,<(X+1)` from 1.0 on."""
    parts = [int(p) for p in version.split(".")[:3]]
    major, minor = parts[0], parts[1]
    upper = f"0.{minor + 1}" if major == 0 else str(major + 1)
    return f">={version},<{upper}"


def requirement(extras: tuple[str, ...]) -> str:
    named = f"[{','.join(sorted(set(extras)))}]" if extras else ""
    return f"{DISTRIBUTION}{named}{compatible_range(runtime_version())}"


def streams_status(system: m.System, service: m.Service) -> bool:
    return any(saga.orchestrator == service.name and saga.entity for saga in system.sagas)


def service_extras(system: m.System, service: m.Service) -> tuple[str, ...]:
    """What the service's code needs: its broker when it has events, PostgreSQL (its deployed database),
    Redis for cached reads, SMTP when it sends mail, Server-Sent Events when it streams a saga's status."""
    extras = ["postgres"]
    if service.publishes or service.consumes or streams_status(system, service):
        extras.append(BROKER_EXTRAS[system.broker])
    if any(op.action == "get" and op.cache_ttl for op in service.operations):
        extras.append("redis")
    if service.emails:
        extras.append("smtp")
    if streams_status(system, service):
        extras.append("sse")
    return tuple(sorted(extras))


GATEWAY_EXTRAS = ("gateway",)


def install_layers(extras: tuple[str, ...]) -> list[str]:
    """The requirements an image installs one layer at a time, from the most shared to its own: the
    runtime alone (every image), then its database and broker (the services of one kind), then the rest."""
    layers = [requirement(())]
    common = tuple(e for e in extras if e in {"postgres", *BROKER_EXTRAS.values()})
    for step in (common, extras):
        if step and requirement(step) != layers[-1]:
            layers.append(requirement(step))
    return layers


# -- the wheel ---------------------------------------------------------------------------------


def _package_digest() -> str:
    """A digest of the runtime's code and, from a checkout, of the project that packages it: its wheel's cache key."""
    root = Path(msgen_runtime.__file__).parent
    h = hashlib.sha256(runtime_version().encode())
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".typed"}:
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    project = _source_project()
    if project is not None:  # its dependencies, extras and readme are the wheel's metadata
        for name in ("pyproject.toml", "README.md"):
            source = project / name
            h.update(b"\0project/" + name.encode() + b"\0" + (source.read_bytes() if source.is_file() else b""))
    return h.hexdigest()[:16]


def _source_project() -> Path | None:
    """The runtime/ project beside the code msgen runs on (a checkout, installed editable or on PYTHONPATH)."""
    candidate = Path(msgen_runtime.__file__).resolve().parents[2] / "runtime"
    return candidate if (candidate / "pyproject.toml").is_file() else None


def _installed_files() -> tuple[metadata.Distribution, list[Path]] | None:
    """The installed distribution's files, when msgen_runtime comes from it (not from an editable install)."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    files = [Path(str(dist.locate_file(f))) for f in dist.files or ()]
    package = Path(msgen_runtime.__file__).resolve().parent
    if not any(f.resolve().parent == package for f in files if f.name == "__init__.py"):
        return None
    return dist, files


def _repack(dist: metadata.Distribution, files: list[Path], out: Path) -> Path:
    """The installed files as a wheel again: `wheel pack` of the package and its metadata (minus what pip adds)."""
    version = dist.version
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="msgen-runtime-wheel-") as tmp:
        unpacked = Path(tmp) / f"msgen_runtime-{version}"
        site = Path(str(dist.locate_file("")))
        for path in files:
            rel = path.relative_to(site) if path.is_absolute() else path
            top = rel.parts[0]
            if top != "msgen_runtime" and not top.endswith(".dist-info"):
                continue
            if path.suffix == ".pyc" or rel.name in {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}:
                continue
            target = unpacked / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(site / rel, target)
        # The copies are dated now: without a fixed date the same runtime would pack to other bytes a
        # second later. Hatchling's own reproducible date, unless the user set one.
        epoch = os.environ.get("SOURCE_DATE_EPOCH") or REPRODUCIBLE_EPOCH
        _run(
            [sys.executable, "-m", "wheel", "pack", str(unpacked), "-d", str(out)],
            env={**os.environ, "SOURCE_DATE_EPOCH": epoch},
        )
    return _only_wheel(out)


def _build(project: Path, out: Path) -> Path:
    from hatchling.builders.wheel import WheelBuilder

    builder = WheelBuilder(str(project))
    for _ in builder.build(directory=str(out), versions=["standard"]):
        pass
    return _only_wheel(out)


def _only_wheel(folder: Path) -> Path:
    found = sorted(folder.glob(f"{WHEEL_PREFIX}*.whl"))
    if len(found) != 1:
        raise MsgenError(f"building the msgen-runtime wheel left {len(found)} wheels in {folder}")
    return found[0]


def _run(command: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300, env=env)
    if done.returncode != 0:
        raise MsgenError(f"{' '.join(command[:4])} failed: {(done.stderr or done.stdout).strip()[-800:]}")


def build_wheel(folder: Path) -> Path:
    """msgen-runtime's wheel in `folder` (the project's wheels/), built only when the runtime changed.

    A `.msgen-runtime.json` beside it records the digest of the code it was built from; another
    version's wheel left there is removed, so that pip finds exactly this one.
    """
    for place in (folder, folder / ".msgen-runtime.json"):
        if place.is_symlink():
            raise MsgenError(f"{place} is a symbolic link: msgen writes only inside the project, never through a link")
    digest = _package_digest()
    stamp = folder / ".msgen-runtime.json"
    existing = sorted(folder.glob(f"{WHEEL_PREFIX}*.whl")) if folder.is_dir() else []
    if stamp.is_file() and len(existing) == 1:
        try:
            recorded = json.loads(stamp.read_text())
        except (OSError, ValueError):
            recorded = {}
        if recorded.get("digest") == digest and recorded.get("wheel") == existing[0].name:
            return existing[0]
    name, data = _wheel(digest)
    folder.mkdir(parents=True, exist_ok=True)
    for old in existing:
        old.unlink()
    target = folder / name
    replace_file(target, data, mode=0o644)
    stamp.write_text(json.dumps({"digest": digest, "wheel": target.name}) + "\n")
    return target


_WHEEL_NAME = re.compile(rf"{re.escape(WHEEL_PREFIX)}[A-Za-z0-9_.+]+-py3-none-any\.whl")


def _wheel(digest: str) -> tuple[str, bytes]:
    """The runtime's wheel (file name, bytes): kept in msgen's cache folder under its digest, built on a miss.

    Building it with hatchling takes about 0.1 s, a tenth of a small `msgen new`. An entry is named
    `<digest>-<sha-256 of its bytes>-<wheel>` and used only if its bytes still have that hash.
    """
    kept = cache_folder("wheels")
    if kept is not None:
        for entry in sorted(kept.glob(f"{digest}-*-{WHEEL_PREFIX}*.whl")):
            _, checksum, name = entry.name.split("-", 2)
            data = read_entry(kept, entry.name)
            if data is not None and _WHEEL_NAME.fullmatch(name) and hashlib.sha256(data).hexdigest()[:32] == checksum:
                return name, data
    with tempfile.TemporaryDirectory(prefix="msgen-runtime-build-") as tmp:
        out = Path(tmp)
        project = _source_project()
        installed = None if project else _installed_files()
        if project is not None:
            built = _build(project, out)
        elif installed is not None:
            built = _repack(*installed, out)
        else:
            raise MsgenError("cannot build msgen-runtime's wheel: neither its project nor its distribution is here")
        data = built.read_bytes()
    if kept is not None:
        write_entry(kept, f"{digest}-{hashlib.sha256(data).hexdigest()[:32]}-{built.name}", data)
    return built.name, data
