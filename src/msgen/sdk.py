"""`msgen sdk`: the SDKs' generated calls, made from the public contract by well-kept generators.

msgen renders each SDK's package and its thin layer (render/sdk.py, kept by regen like any other
file). The calls and models come from generators, run here, outside the pure rendering:

- TypeScript: openapi-typescript (with the typescript it runs on), pinned, installed by npm under
  the tools folder; its output is `sdk/typescript/src/schema.ts`, the types openapi-fetch's calls
  are checked against. It needs Node and npm: without them msgen does everything else, and the
  package's own `npm run generate` makes the types wherever Node is.
- Python: openapi-python-client, pinned, in its own virtualenv under the tools folder
  (`MSGEN_SDK_TOOLS`, default `~/.cache/msgen/sdk-tools`): it pins an httpx older than the one
  msgen's runtime uses, so it cannot share msgen's environment. Its output goes to
  `sdk/python/<package>/generated/`, replaced whole each time (a listing of what was written,
  `.generated-files`, says what to remove when the contract loses an operation).

`msgen sdk` installs a missing generator; `msgen new` and `msgen regen` run the generators that are
already installed, and say how to get the others.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from msgen import model as m
from msgen.boundary import ProjectTree, checked
from msgen.errors import MsgenError
from msgen.render.public import public_path
from msgen.render.sdk import GENERATED, NPM_VERSIONS, PYTHON_SDK_DIR, TYPESCRIPT_SCHEMA, sdk_package

LANGUAGES = ("typescript", "python")
OPENAPI_PYTHON_CLIENT = "0.29.1"
LISTING = ".generated-files"
_TIMEOUT = 600


class SdkError(MsgenError):
    """A generator that could not be installed or failed."""


@dataclass
class SdkResult:
    generated: dict[str, int] = field(default_factory=dict)  # language -> files written
    missing: dict[str, str] = field(default_factory=dict)  # language -> how to get its generator


def default_tools_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "msgen" / "sdk-tools"


def tools_dir() -> Path:
    """Where the generators are installed: MSGEN_SDK_TOOLS, else a folder of the user's cache."""
    configured = os.environ.get("MSGEN_SDK_TOOLS")
    return Path(configured) if configured else default_tools_dir()


def python_generator(*, install: bool) -> Path | None:
    """openapi-python-client's executable; installed in its virtualenv first when `install`."""
    home = tools_dir() / f"openapi-python-client-{OPENAPI_PYTHON_CLIENT}"
    exe = home / "bin" / "openapi-python-client"
    if exe.is_file():
        return exe
    if not install:
        return None
    import venv  # only to install it (venv imports logging: a run that installs nothing needs neither)

    try:
        venv.create(home, with_pip=True, clear=True)
    except OSError as exc:
        raise SdkError(f"openapi-python-client could not be installed in {home}: {exc}") from None
    python = str(home / "bin" / "python")
    _install(
        "openapi-python-client",
        home,
        [python, "-m", "pip", "install", "--quiet", f"openapi-python-client=={OPENAPI_PYTHON_CLIENT}"],
    )
    return exe


def _install(what: str, home: Path, command: list[str]) -> None:
    """Run an installer of a generator, its failure told as an SdkError with the installer's last words."""
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        raise SdkError(f"{what} could not be installed in {home}: {detail.strip()[-500:]}") from None


def _python_config(package: str) -> str:
    # ruff's own defaults only (imports sorted, then formatted): its wider rule sets rewrite typed code;
    # no cache, which would be left in the SDK (and listed among its generated files)
    return (
        f"project_name_override: {package}\npackage_name_override: {GENERATED}\n"
        "post_hooks:\n  - ruff check . --isolated --no-cache --fix-only --select I,F401\n"
        "  - ruff format . --isolated --no-cache\n"
    )


def generate_python(root: Path, system: m.System, exe: Path) -> int:
    """sdk/python/<package>/generated/ from the public contract; the number of files written."""
    tree = ProjectTree(root)
    contract = tree.read_text(public_path(system))
    if contract is None:
        raise SdkError(f"{public_path(system)} is missing: run msgen regen first")
    target = f"{PYTHON_SDK_DIR}/{sdk_package(system)}/{GENERATED}"
    with tempfile.TemporaryDirectory(prefix="msgen-sdk-") as scratch:
        work = Path(scratch)
        (work / "contract.yaml").write_text(contract)
        (work / "config.yaml").write_text(_python_config(sdk_package(system)))
        env = {**os.environ, "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run(
            [
                str(exe),
                "generate",
                "--path",
                str(work / "contract.yaml"),
                "--meta",
                "none",
                "--output-path",
                str(work / "out"),
                "--config",
                str(work / "config.yaml"),
            ],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            env=env,
            cwd=work,
        )
        out = work / "out"
        if done.returncode != 0 or not out.is_dir():
            raise SdkError(f"openapi-python-client failed: {(done.stdout + done.stderr).strip()[-1500:]}")
        written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        _replace(tree, target, out, written)
    return len(written)


def _replace(tree: ProjectTree, target: str, source: Path, written: Iterable[str]) -> None:
    """Move the generator's files into `target`, and remove those it made last time and not now."""
    names = list(written)
    before = tree.read_text(f"{target}/{LISTING}") or ""
    for rel in before.splitlines():
        if rel and rel not in names:
            tree.remove(checked(f"{target}/{rel}", f"{target}/{LISTING}"))
    for rel in names:
        tree.move_in(source / rel, checked(f"{target}/{rel}", "the generator's output"))
    listing = source / LISTING
    listing.write_text("".join(f"{rel}\n" for rel in names))
    tree.move_in(listing, f"{target}/{LISTING}")


def typescript_generator(*, install: bool) -> Path | None:
    """openapi-typescript's executable; installed with npm first when `install` (None: no Node, or not installed)."""
    home = tools_dir() / f"openapi-typescript-{NPM_VERSIONS['openapi_typescript']}"
    exe = home / "node_modules" / ".bin" / "openapi-typescript"
    if exe.is_file() and shutil.which("node"):
        return exe
    npm = shutil.which("npm")
    if not install or npm is None or shutil.which("node") is None:
        return None
    home.mkdir(parents=True, exist_ok=True)
    _install(
        "openapi-typescript",
        home,
        [
            npm,
            "install",
            "--prefix",
            str(home),
            "--no-audit",
            "--no-fund",
            "--no-save",
            f"openapi-typescript@{NPM_VERSIONS['openapi_typescript']}",
            f"typescript@{NPM_VERSIONS['typescript']}",
        ],
    )
    return exe


def generate_typescript(root: Path, system: m.System, exe: Path) -> int:
    """sdk/typescript/src/schema.ts from the public contract (one file)."""
    tree = ProjectTree(root)
    contract = tree.read_text(public_path(system))
    if contract is None:
        raise SdkError(f"{public_path(system)} is missing: run msgen regen first")
    tree.check_writable(TYPESCRIPT_SCHEMA)
    with tempfile.TemporaryDirectory(prefix="msgen-sdk-") as scratch:
        work = Path(scratch)
        (work / "contract.yaml").write_text(contract)
        done = subprocess.run(
            [str(exe), str(work / "contract.yaml"), "--output", str(work / "schema.ts")],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            cwd=work,
        )
        if done.returncode != 0 or not (work / "schema.ts").is_file():
            raise SdkError(f"openapi-typescript failed: {(done.stdout + done.stderr).strip()[-1500:]}")
        tree.move_in(work / "schema.ts", TYPESCRIPT_SCHEMA)
    return 1


def generate_sdks(root: Path, system: m.System, languages: Iterable[str], *, install: bool) -> SdkResult:
    """Run the generator of each language; without `install`, a missing generator is only reported."""
    result = SdkResult()
    for language in languages:
        if language == "typescript":
            ts = typescript_generator(install=install)
            if ts is None:
                result.missing[language] = (
                    "msgen sdk --lang typescript (needs node and npm; or npm run generate in sdk/typescript)"
                )
                continue
            result.generated[language] = generate_typescript(root, system, ts)
        elif language == "python":
            exe = python_generator(install=install)
            if exe is None:
                result.missing[language] = "msgen sdk --lang python (installs openapi-python-client in its own venv)"
                continue
            result.generated[language] = generate_python(root, system, exe)
    return result
