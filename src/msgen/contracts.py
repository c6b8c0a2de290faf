"""``msgen contracts verify``: replay every pact of a generated project against its providers.

Each provider is verified in its own Python process (its package and tests on
the path, a scratch SQLite database migrated for it), through the
`provider()` its tests/test_pact_provider.py describes; the processes run side
by side. The result is one line per consumer/provider pair, and pacts that no
service of the project can verify are failures too.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from msgen.errors import MsgenError


class ContractsError(MsgenError):
    """The project cannot be verified at all (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class PairReport:
    consumer: str
    provider: str
    pact: str
    interactions: int
    passed: bool
    output: str


@dataclass(frozen=True)
class ProviderDir:
    name: str  # product-service, as pacts name it
    directory: Path  # services/product
    package: str  # product_service


def providers(project: Path) -> dict[str, ProviderDir]:
    """The project's services that verify pacts, by the name pacts give them."""
    found = {}
    for test in sorted(project.glob("services/*/tests/test_pact_provider.py")):
        service_dir = test.parents[1]
        packages = [p.parent.name for p in service_dir.glob("*/main.py") if (p.parent / "__init__.py").exists()]
        if len(packages) != 1:
            continue
        name = f"{service_dir.name.replace('_', '-')}-service"
        found[name] = ProviderDir(name, service_dir, packages[0])
    return found


def _pact_pairs(pacts: Path) -> list[tuple[str, str, str, int]]:
    pairs = []
    for path in sorted(pacts.glob("*.json")):
        try:
            document = json.loads(path.read_text())
            pairs.append(
                (
                    document["consumer"]["name"],
                    document["provider"]["name"],
                    path.name,
                    len(document.get("interactions", [])),
                )
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ContractsError(f"{path}: not a pact file ({exc})") from None
    return pairs


GATEWAY = "gateway"  # the provider the SDKs' pacts name (msgen.render.sdk_pact)
GATEWAY_PROVIDER = "gateway/pact_provider.py"

PROVIDER_TIMEOUT = 600  # seconds for one provider's pacts: a hung state or app fails its pairs, not CI


def _verify_provider(
    provider: ProviderDir,
    pacts: Path,
    pairs: list[tuple[str, str, str, int]],
    extra: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> list[PairReport]:
    with tempfile.TemporaryDirectory(prefix="msgen-contracts-") as scratch:
        report = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "msgen_runtime.contracts"]
        command += [str(provider.directory), provider.package, str(pacts), str(report), *(extra or [])]
        try:
            completed = subprocess.run(
                command,
                cwd=provider.directory,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
                check=False,
                timeout=PROVIDER_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            reason = f"the verification of {provider.name} did not finish in {PROVIDER_TIMEOUT} s"
        else:
            if report.exists():
                return [PairReport(**item) for item in json.loads(report.read_text())]
            tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-20:])
            reason = f"the verification of {provider.name} stopped (exit code {completed.returncode}):\n{tail}"
    return _failed(provider.name, pairs, reason)


def _failed(provider: str, pairs: list[tuple[str, str, str, int]], reason: str) -> list[PairReport]:
    """Every pair of `provider` failed with it, named as its pact names it."""
    return [
        PairReport(consumer, name, pact, interactions, False, reason)
        for consumer, name, pact, interactions in pairs
        if name == provider
    ]


def _verify_gateway(project: Path, pacts: Path, pairs: list[tuple[str, str, str, int]]) -> list[PairReport]:
    """The SDKs' pacts, replayed against the gateway with every service behind it, as `msgen up` runs them.

    Each service runs on a scratch SQLite database (migrated), without its broker (the provider states are
    rows, and an accepted operation needs no saga to go on); the requests carry a token of the project's
    dev issuer with every scope of the API.
    """
    from msgen.localrun import LocalSystem, Options, load_project, plan, prepare_databases
    from msgen_runtime.gateway.devtokens import mint

    system = load_project(project)
    scopes = sorted({scope for s in system.services for op in s.operations for scope in op.scopes})
    # minted first: the dev issuer's key exists before the gateway starts and reads it
    token = mint(project, scopes=scopes, sub="msgen-contracts", ttl="30m")
    with tempfile.TemporaryDirectory(prefix="msgen-contracts-gateway-") as scratch:
        options = Options(
            workdir=Path(scratch),
            broker_url="nats://127.0.0.1:9",  # never reached: messaging is off
            log_level="WARNING",
            internal_auth_secret=secrets.token_urlsafe(32),
            extra_env={"MESSAGING_ENABLED": "false"},
        )
        specs = plan(project, options, system)
        running = LocalSystem(specs, Path(scratch) / "logs")
        try:
            prepare_databases(specs, options)
            running.start_all(timeout=PROVIDER_TIMEOUT / 3)
        except (MsgenError, OSError) as exc:  # a migration, a process that exits or is never ready
            running.stop_all()
            return _failed(GATEWAY, pairs, f"the gateway and its services could not be started: {exc}")
        try:
            services = [spec for spec in specs if spec.name != GATEWAY]
            extra = ["--url", running.url(GATEWAY)]
            for spec in services:
                extra += ["--service", str(spec.cwd), "--database", f"{spec.name}={spec.env['DATABASE_URL']}"]
            gateway = ProviderDir(GATEWAY, project / "gateway", "gateway_app")
            return _verify_provider(gateway, pacts, pairs, extra, {"MSGEN_CONTRACTS_TOKEN": token})
        finally:
            running.stop_all()


def verify_project(project: Path, pacts: Path | None = None) -> list[PairReport]:
    """Verify every pact in `pacts` (default: the project's pacts/) against the project's providers.

    A project whose spec has no consumer/provider pair has no pacts: that verifies nothing, and passes.
    """
    if not project.is_dir():
        raise ContractsError(f"{project}: no such project folder")
    is_project = (project / "msgen.yaml").is_file()
    folder = (pacts or project / "pacts").resolve()
    if not folder.is_dir():
        if pacts is None and is_project:
            return []
        raise ContractsError(f"{folder}: no such folder; a project made by msgen new keeps its pacts in pacts/")
    pairs = _pact_pairs(folder)
    if not pairs:
        if is_project:
            return []
        raise ContractsError(f"{folder}: no pact files")
    known = providers(project.resolve())
    wanted = sorted({provider for _, provider, _, _ in pairs if provider in known})
    gateway = any(p == GATEWAY for _, p, _, _ in pairs) and (project / GATEWAY_PROVIDER).is_file()
    workers = max(1, min(len(wanted), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        batches = pool.map(lambda name: _verify_provider(known[name], folder, pairs), wanted)
        results = [r for batch in batches for r in batch]
    if gateway:  # after the services' own: it runs them all at once
        results += _verify_gateway(project.resolve(), folder, pairs)
    for consumer, provider, pact, interactions in pairs:
        if provider not in known and not (gateway and provider == GATEWAY):
            reason = f"no service of {project} verifies {provider}"
            if provider == GATEWAY:
                reason = (
                    f"{project / GATEWAY_PROVIDER} is missing: msgen regen writes it (the gateway's provider states)"
                )
            results.append(PairReport(consumer, provider, pact, interactions, False, reason))
    return sorted(results, key=lambda r: (r.consumer, r.provider))
