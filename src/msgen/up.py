"""`msgen up`: the whole generated system on this machine, supervised by honcho.

Migrations run first; then honcho starts the nats-server and every service (and
the gateway when the project has one), prefixes their logs with coloured names,
and stops them all on Ctrl-C or SIGTERM. A watcher thread waits for every
/health/ready, shows the status table, and with --demo places an order and
follows it to the end.
"""

from __future__ import annotations

import collections
import io
import json
import shlex
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from honcho.manager import Manager
from honcho.printer import Printer
from rich.console import Console
from rich.table import Table

from msgen import model as m
from msgen.localrun import Options, ProcessSpec, RunError, load_project, plan, prepare_databases


class RecordingPrinter(Printer):  # type: ignore[misc]
    """honcho's printer, keeping the last lines of each process to show when one fails."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last: dict[str, collections.deque[str]] = collections.defaultdict(lambda: collections.deque(maxlen=30))

    def write(self, message: Any) -> None:
        data = message.data if isinstance(message.data, str) else message.data.decode(errors="replace")
        self.last[message.name].extend(data.splitlines())
        super().write(message)


@dataclass
class UpResult:
    ready: bool = False
    ready_after: float = 0.0
    failed: str | None = None
    demo_status: str | None = None
    demo_expected: str | None = None  # the status that makes the demo a success (the saga's completed one)
    pids: dict[str, int] = field(default_factory=dict)


class DemoError(RunError):
    """The spec has nothing --demo can follow (exit code 2: nothing was started)."""

    exit_code = 2


@dataclass(frozen=True)
class DemoPlan:
    """What --demo does: start the saga through its entity's create operation, follow its status stream."""

    service: str  # the orchestrator (answers when there is no gateway)
    saga: str
    entity: str
    create_path: str  # /v1/orders
    stream_path: str  # /v1/orders/{id}/events
    body: dict[str, Any]
    scopes: tuple[str, ...]
    completed: str  # CONFIRMED


def demo_plan(system: m.System) -> DemoPlan:
    """The demo of `system`: its first saga with an entity and statuses, started by an asynchronous create."""
    from msgen.render.examples import example_payload
    from msgen.render.python import status_stream_path

    for saga in system.sagas:
        if saga.entity is None or saga.status_completed is None:
            continue
        service = system.service(saga.orchestrator)
        entity = service.entity(saga.entity)
        ops = [op for op in service.operations if op.entity == entity.name]
        create = next((op for op in ops if op.action == "create" and op.is_async), None)
        if create is None:
            continue
        reads = [scope for op in ops if op.action == "get" for scope in op.scopes]
        return DemoPlan(
            service=service.name,
            saga=saga.name,
            entity=entity.name,
            create_path=create.path,
            stream_path=f"/{system.api_version}{status_stream_path(entity)}",
            body=example_payload(entity, service),
            scopes=tuple(dict.fromkeys([*create.scopes, *reads])),
            completed=saga.status_completed,
        )
    raise DemoError(
        "--demo follows a saga through its status stream: this spec has no saga with an 'entity' and a "
        "'status', started by an asynchronous create operation (async: true) of that entity"
    )


def run(
    project: Path,
    options: Options,
    *,
    console: Console,
    demo: bool = False,
    token: Callable[[list[str]], str] | None = None,
) -> UpResult:
    """Start everything, block until Ctrl-C/SIGTERM (or the demo's end), stop everything."""
    started = time.monotonic()
    system = load_project(project)
    scenario = demo_plan(system) if demo else None  # before anything starts: a spec without one is refused
    specs = plan(project, options, system)
    publishers = {e.name: e.publisher for e in system.events}
    migrated = prepare_databases(specs, options)
    if migrated:
        console.print(f"Migrated the databases of {', '.join(migrated)} to their head.")
    else:
        console.print("Every database is at its migrations' head: nothing to migrate.")
    printer = RecordingPrinter()
    manager = Manager(printer=printer)
    for spec in specs:
        # exec: honcho's shell becomes the process, so the pid shown (and signalled) is the service's own
        manager.add_process(
            spec.name, "exec " + shlex.join(spec.args), env={**_base_env(), **spec.env}, cwd=str(spec.cwd)
        )
    result = UpResult(demo_expected=scenario.completed if scenario else None)
    steps = next_steps(project, system, specs) if scenario is None else []
    summary = Summary(options.workdir / "summary.txt", steps)
    watcher = threading.Thread(
        target=_watch,
        args=(manager, specs, console, result, started, scenario, token, publishers, summary),
        daemon=True,
    )
    watcher.start()
    manager.loop()
    summary.path.unlink(missing_ok=True)  # it told what runs: nothing does now
    result.pids = {name: int(p["pid"]) for name, p in manager._processes.items() if p.get("pid")}
    if result.failed is None and not result.ready and scenario is None:
        result.failed = _culprit(manager, [s for s in specs if s.ready_url])
    if result.failed:
        console.print(f"[red]{result.failed} failed to start[/red]; its last lines:")
        for line in printer.last.get(result.failed, []):
            console.print(f"  {line}", markup=False)
    return result


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _watch(
    manager: Manager,
    specs: list[ProcessSpec],
    console: Console,
    result: UpResult,
    started: float,
    scenario: DemoPlan | None,
    token: Callable[[list[str]], str] | None,
    publishers: dict[str, str],
    summary: Summary,
) -> None:
    services = [s for s in specs if s.ready_url]
    deadline = time.monotonic() + 90
    ready: set[str] = set()
    while time.monotonic() < deadline and len(ready) < len(services):
        if manager._terminating:
            return
        for spec in services:
            if spec.name in ready:
                continue
            returncode = manager._processes[spec.name].get("returncode")
            if returncode is not None:
                result.failed = _culprit(manager, services) or spec.name
                manager.terminate()
                return
            try:
                if httpx.get(spec.ready_url or "", timeout=1).status_code == 200:
                    ready.add(spec.name)
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    if len(ready) < len(services):
        result.failed = next(s.name for s in services if s.name not in ready)
        manager.terminate()
        return
    result.ready = True
    result.ready_after = time.monotonic() - started
    table = Table(title=f"ready in {result.ready_after:.1f} s — Ctrl-C stops everything", show_edge=False)
    for column in ("service", "url", "pid", "ready"):
        table.add_column(column)
    for spec in specs:
        pid = manager._processes[spec.name].get("pid")
        url = f"http://127.0.0.1:{spec.port}" if spec.ready_url else f"nats://127.0.0.1:{spec.port}"
        table.add_row(spec.name, url, str(pid), "yes" if spec.name in ready or not spec.ready_url else "no")
    console.print(table)
    for line in summary.steps:
        console.print(line, markup=False)
    summary.write(table)
    if summary.steps:
        console.print(f"(this summary stays in {summary.path} while everything runs)", markup=False)
    if scenario is not None:
        try:
            result.demo_status = _demo(specs, console, token, publishers, scenario)
        except Exception as exc:  # the demo's failure is reported, and everything still stops cleanly
            console.print(f"[red]demo failed:[/red] {exc}")
            result.demo_status = "FAILED"
        manager.terminate()


@dataclass
class Summary:
    """The table and next steps printed once everything is ready, kept in a file: logs scroll them away."""

    path: Path
    steps: list[str]

    def write(self, table: Table) -> None:
        record = Console(record=True, width=200, file=io.StringIO(), color_system=None, emoji=False)
        record.print(table)
        for line in self.steps:
            record.print(line, markup=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(record.export_text())


def next_steps(project: Path, system: m.System, specs: list[ProcessSpec]) -> list[str]:
    """What to try once the system runs: a token and a request through the gateway, the dead letters."""
    by_name = {s.name: s for s in specs}
    where = shlex.quote(str(project))
    steps = ["Next:"]
    gateway = by_name.get("gateway")
    reads = [
        (op, service)
        for service in system.services
        for op in service.operations
        if op.method == "GET" and "{" not in op.path
    ]
    if gateway is not None and reads:
        op, _ = next(((op, s) for op, s in reads if op.scopes), reads[0])
        scopes = " ".join(f"--scope {shlex.quote(scope)}" for scope in op.scopes)
        url = f"http://127.0.0.1:{gateway.port}{op.path}"
        if op.scopes:
            steps.append(f"  msgen token {scopes} {where}    # a token for the gateway (--list-scopes lists them)")
            steps.append(f'  curl -s -H "Authorization: Bearer $(msgen token {scopes} {where})" {url}')
        else:
            steps.append(f"  curl -s {url}")
    else:
        first = next((s for s in specs if s.ready_url), None)
        if first is not None:
            steps.append(f"  curl -s {first.ready_url}")
    consumer = next((s.name for s in system.services if s.consumes and s.name in by_name), None)
    if consumer is not None:
        steps.append(
            f"  msgen dlq http://127.0.0.1:{by_name[consumer].port} --project {where}    # {consumer}'s dead letters"
        )
    return steps


def _culprit(manager: Manager, services: list[ProcessSpec]) -> str | None:
    """The process that exited on its own: honcho stops the others with SIGTERM (-15) right after."""
    time.sleep(0.5)  # let the exit codes of the others arrive
    for spec in services:
        code = manager._processes[spec.name].get("returncode")
        if code is not None and code not in (0, -15, -9):
            return spec.name
    return None


def _demo(
    specs: list[ProcessSpec],
    console: Console,
    token: Callable[[list[str]], str] | None,
    publishers: dict[str, str],
    scenario: DemoPlan,
) -> str:
    by_name = {s.name: s for s in specs}
    front = by_name.get("gateway") or by_name[scenario.service]
    base = f"http://127.0.0.1:{front.port}"
    headers = {"X-Correlation-ID": f"demo-{uuid.uuid4().hex[:8]}"}
    if "gateway" in by_name and token is not None:
        headers["Authorization"] = f"Bearer {token(list(scenario.scopes))}"
    secret = front.env.get("INTERNAL_AUTH_SECRET")
    if "gateway" not in by_name and secret:  # straight to the service: the credential the gateway would send
        from msgen_runtime.callers import HEADER, InternalAuth

        # it speaks as the gateway would (the services trust the gateway), to this service alone
        headers[HEADER] = InternalAuth(secret, issuer="gateway", ttl=300).mint("user:demo", audience=scenario.service)
    noun = scenario.entity.lower()
    where = "the gateway" if "gateway" in by_name else f"the {scenario.service} service"
    console.print(
        f"Placing an {noun} through {where}…" if noun[:1] in "aeiou" else f"Placing a {noun} through {where}…"
    )
    t0 = time.monotonic()
    with httpx.Client(timeout=30) as client:
        answer = client.post(
            f"{base}{scenario.create_path}",
            json=scenario.body,
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        if answer.status_code != 202:
            raise RunError(f"POST {scenario.create_path} answered {answer.status_code}: {answer.text}")
        ident = answer.json()["id"]
        console.print(f"202 Accepted: {noun} {ident}, Location {answer.headers.get('location')}")
        timeline = Table(title=f"saga {scenario.saga} for {noun} {ident}", show_edge=False)
        for column in ("after", "status", "because of", "published by"):
            timeline.add_column(column)
        status = ""
        stream_url = f"{base}{scenario.stream_path.replace('{id}', ident)}"
        with client.stream("GET", stream_url, headers=headers) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                status = event["status"]
                timeline.add_row(
                    f"{(time.monotonic() - t0) * 1000:.0f} ms",
                    status,
                    event["cause"],
                    publishers.get(event["cause"], "?"),
                )
    console.print(timeline)
    console.print(f"{scenario.entity} {ident} is [bold]{status}[/bold].")
    return status
