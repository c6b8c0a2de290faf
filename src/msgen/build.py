"""`msgen build`: the project's images, built from its generated Dockerfiles with docker or podman.

Every service's and the gateway's image is tagged `<deploy.registry>/<app>:<version>` (the tags the
Kubernetes overlays deploy) and, with push, pushed; a pushed image's digest is what `msgen deploy --k8s
--build` pins in the overlay. Before building, msgen-runtime's wheel is put in wheels/ (cached), so the
images install the runtime msgen runs on when the package index does not serve it.

Flags the machine needs (another OCI runtime, ulimits, the network, a CA bundle mounted for pip...)
come from the environment, never from the project: MSGEN_ENGINE_FLAGS go before the engine's command
(`podman --runtime runc build ...`), MSGEN_BUILD_FLAGS after `build`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from msgen import model as m
from msgen import runtime_dist
from msgen.errors import MsgenError
from msgen.render.k8s import image_of

ENGINES = ("docker", "podman")
ENGINE_FLAGS_ENV = "MSGEN_ENGINE_FLAGS"
BUILD_FLAGS_ENV = "MSGEN_BUILD_FLAGS"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class BuildError(MsgenError):
    """An image could not be built or pushed."""


@dataclass(frozen=True)
class Image:
    app: str  # order-service, gateway
    dockerfile: str  # relative to the project
    tag: str  # registry/app:version
    digest: str | None = None  # sha256:..., once pushed

    @property
    def name(self) -> str:
        return self.tag.rsplit(":", 1)[0]


def images(system: m.System) -> list[Image]:
    """Every image of the system, in the order the Kubernetes overlays list them."""
    found = [Image(s.kebab, f"services/{s.name}/Dockerfile", image_of(system, s.kebab)) for s in system.services]
    found += [Image(t.kebab, f"services/{t.name}/Dockerfile", image_of(system, t.kebab)) for t in system.templated]
    found.append(Image("gateway", "gateway/Dockerfile", image_of(system, "gateway")))
    return found


def pick_engine(wanted: str | None) -> str:
    """The engine named, or the first of docker and podman found on PATH."""
    if wanted is not None:
        if wanted not in ENGINES:
            raise BuildError(f"unknown engine '{wanted}': choose {' or '.join(ENGINES)}")
        if shutil.which(wanted) is None:
            raise BuildError(f"{wanted} is not on PATH")
        return wanted
    for engine in ENGINES:
        if shutil.which(engine):
            return engine
    raise BuildError("neither docker nor podman is on PATH: install one to build the images")


def _flags(variable: str) -> list[str]:
    return shlex.split(os.environ.get(variable, ""))


def _stream(command: list[str], cwd: Path, progress: Callable[[str], None]) -> list[str]:
    """Run `command`, passing each line of its output to `progress`; the lines, or BuildError on failure."""
    lines: list[str] = []
    with subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            lines.append(line)
            progress(line)
        code = proc.wait()
    if code != 0:
        tail = "\n".join(lines[-15:])
        raise BuildError(f"{shlex.join(command[:3])} ... failed (exit {code}):\n{tail}")
    return lines


def build_images(
    project: Path,
    system: m.System,
    *,
    engine: str | None = None,
    only: str | None = None,
    push: bool = False,
    jobs: int = 1,
    progress: Callable[[str], None] = lambda line: None,
) -> list[Image]:
    """Build (and push) the images of `project`; `only`: one service's name, or gateway.

    With `jobs` > 1 the first image is built alone (it makes the dependency layers the others share),
    then the rest `jobs` at a time; each line of progress then starts with its image's name.
    """
    chosen = images(system)
    if only is not None:
        names = {s.name: s.kebab for s in system.services} | {t.name: t.kebab for t in system.templated}
        names["gateway"] = "gateway"
        if only not in names:
            raise BuildError(f"no service named '{only}': choose one of {', '.join(sorted(names))}")
        chosen = [i for i in chosen if i.app == names[only]]
    if jobs < 1:
        raise BuildError(f"--jobs must be at least 1, not {jobs}")
    for image in chosen:
        if not (project / image.dockerfile).is_file():
            raise BuildError(f"{image.dockerfile} is missing: regenerate the project (msgen regen)")
    tool = pick_engine(engine)
    wheel = runtime_dist.build_wheel(project / "wheels")
    progress(f"wheels/{wheel.name}: msgen-runtime for the images")
    lock = threading.Lock()

    def one(index: int, image: Image) -> Image:
        def say(line: str) -> None:
            with lock:
                progress(f"{image.app}: {line}" if jobs > 1 else line)

        say(f"[{index}/{len(chosen)}] {image.tag} from {image.dockerfile}")
        command = [tool, *_flags(ENGINE_FLAGS_ENV), "build", *_flags(BUILD_FLAGS_ENV)]
        _stream([*command, "-f", image.dockerfile, "-t", image.tag, "."], project, say)
        digest = _push(tool, image.tag, project, say) if push else None
        return Image(image.app, image.dockerfile, image.tag, digest)

    if not chosen:
        return []
    built = [one(1, chosen[0])]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        built += list(pool.map(one, range(2, len(chosen) + 1), chosen[1:]))
    return built


def _push(tool: str, tag: str, project: Path, progress: Callable[[str], None]) -> str:
    """Push `tag`; the digest the registry stored it under."""
    with tempfile.TemporaryDirectory(prefix="msgen-push-") as tmp:
        digest_file = Path(tmp) / "digest"
        if tool == "podman":
            command = [tool, *_flags(ENGINE_FLAGS_ENV), "push", "--digestfile", str(digest_file), tag]
            lines = _stream(command, project, progress)
        else:
            lines = _stream([tool, *_flags(ENGINE_FLAGS_ENV), "push", tag], project, progress)
        text = digest_file.read_text() if digest_file.is_file() else "\n".join(lines)
    found: list[str] = _DIGEST.findall(text)
    if not found:
        raise BuildError(f"{tool} pushed {tag} but printed no digest")
    return found[-1]
