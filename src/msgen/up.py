"""`msgen up`: the whole generated system on this machine, supervised by honcho.

honcho starts the nats-server and every service (and the gateway when the project
has one) at once; a service whose database is behind its migrations migrates it in
its own process first (msgen.launch). Their log lines are shown readable and
coloured (msgen.logformat), or as raw JSON with --log-format json; Ctrl-C or SIGTERM
stops them all. A watcher thread waits for every /health/ready as long as it takes
(or --ready-timeout), showing which services are ready and which still start, then
shows the status table, and with --demo starts the spec's first saga through its
entity's create operation and follows it to the end.
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

from msgen import logformat
from msgen import model as m
from msgen.demo import DemoBooks as DemoBooks
from msgen.demo import DemoCall as DemoCall
from msgen.demo import DemoPlan as DemoPlan
from msgen.demo import DemoRef as DemoRef
from msgen.demo import Front as _Front
from msgen.demo import demo_refs as _demo_refs
from msgen.demo import fill_refs as _fill_refs
from msgen.demo import operation as _operation
from msgen.demo import unwritten_calls as unwritten_calls
from msgen.errors import printable
from msgen.localrun import (
    Options,
    ProcessSpec,
    RunError,
    create_databases,
    load_project,
    migrations_behind,
    plan,
    with_migrations,
)
from msgen.names import a


class BrokerLastManager(Manager):  # type: ignore[misc]
    """honcho's Manager, stopping the services first and the processes they depend on (the nats-server) after.

    A service stopped together with its broker logs broken connections and may hang in its shutdown
    (until honcho's SIGKILL); stopped first, it drains and closes its connections cleanly.
    """

    def __init__(self, last: set[str], grace: float = 4.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._last = last
        self._grace = grace  # below honcho's KILL_WAIT (5 s), which then kills whatever is left

    def _killall(self, force: bool = False) -> None:
        if force:
            super()._killall(force=True)
            return
        first = [n for n, p in self._processes.items() if n not in self._last and "returncode" not in p]
        for name in first:
            self._system_print(f"sending SIGTERM to {name} (pid {self._processes[name]['pid']})\n")
            self._procmgr.terminate(self._processes[name]["pid"])
        threading.Thread(target=self._stop_last, args=(first,), daemon=True).start()

    def _stop_last(self, first: list[str]) -> None:
        deadline = time.monotonic() + self._grace
        while time.monotonic() < deadline and any("returncode" not in self._processes[n] for n in first):
            time.sleep(0.05)
        for name in self._last:
            process = self._processes.get(name)
            if process is not None and "returncode" not in process and process.get("pid"):
                self._system_print(f"sending SIGTERM to {name} (pid {process['pid']})\n")
                self._procmgr.terminate(process["pid"])


class RecordingPrinter(Printer):  # type: ignore[misc]
    """honcho's printer, keeping the last lines of each process to show when one fails.

    With `readable` (msgen up's default), each line goes to `console` as msgen.logformat lays it out:
    a service's JSON record in coloured columns, any other line as it came; otherwise honcho prints
    the raw lines (`--log-format json`). rich colours only a terminal (or with FORCE_COLOR set).
    """

    def __init__(self, *args: Any, console: Console | None = None, readable: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last: dict[str, collections.deque[str]] = collections.defaultdict(lambda: collections.deque(maxlen=30))
        self.console = console
        self.readable = readable and console is not None
        self.sink: Callable[[str, str], None] | None = None  # the dashboard's log store

    def write(self, message: Any) -> None:
        data = message.data if isinstance(message.data, str) else message.data.decode(errors="replace")
        self.last[message.name].extend(data.splitlines())
        if self.sink is not None and message.type == "line":
            self.sink(message.name, data)
        if not self.readable or message.type != "line":
            super().write(message)
            return
        assert self.console is not None
        for raw in data.splitlines():
            self.console.print(logformat.line(message.name or "", raw, message.time), soft_wrap=True)


LOG_FORMATS = ("human", "json")


@dataclass
class UpResult:
    ready: bool = False
    ready_after: float = 0.0
    failed: str | None = None
    not_ready: str | None = None  # why the service named by `failed` is not ready (--ready-timeout passed)
    demo_status: str | None = None
    demo_expected: str | None = None  # the status that makes the demo a success (the saga's completed one)
    demo_hint: str | None = None  # why the saga cannot complete as generated (a call step's operation is a stub)
    pids: dict[str, int] = field(default_factory=dict)


class DemoError(RunError):
    """The spec has nothing --demo can follow (exit code 2: nothing was started)."""

    exit_code = 2


def _demo_books(system: m.System, saga: m.Saga) -> tuple[DemoBooks, ...]:
    """Every listable entity of another service that refers to the saga's entity: the steps' books (spec
    `books`), and the other records kept about it (e.g. notifications)."""
    assert saga.entity is not None
    steps = {(s.service, s.books.entity.name): s for s in saga.steps if s.books is not None}
    books = []
    for service in system.services:
        for entity in service.entities:
            key = next((f.name for f in entity.fields if f.ref == (saga.orchestrator, saga.entity.name)), None)
            listing = _operation(service, entity.name, "list")
            if key is None or listing is None or service.name == saga.orchestrator:
                continue
            step = steps.get((service.name, entity.name))
            status = next((f.name for f in entity.fields if f.name == "status"), "")
            books.append(
                DemoBooks(
                    step=step.name if step else "",
                    service=service.name,
                    entity=entity.name,
                    list_path=listing.path,
                    key_field=step.books.key_field if step and step.books else key,
                    status_field=step.books.field if step and step.books else status,
                    applied=step.books.applied if step and step.books else "",
                    scopes=listing.scopes,
                )
            )
    return tuple(books)


def demo_plan(system: m.System) -> DemoPlan:
    """The demo of `system`: its first saga with an entity and statuses, started by an asynchronous create."""
    from msgen.render.examples import example_payload
    from msgen.render.python import status_stream_path

    for saga in system.sagas:
        if saga.entity is None or saga.status_completed is None:
            continue
        service = saga.orchestrator_service
        assert service is not None  # resolved with the saga
        entity = saga.entity
        ops = [op for op in service.operations if op.entity is entity]
        create = next((op for op in ops if op.action == "create" and op.is_async), None)
        if create is None:
            continue
        reads = [scope for op in ops if op.action == "get" for scope in op.scopes]
        get = _operation(service, entity.name, "get")
        return DemoPlan(
            service=service.name,
            saga=saga.name,
            entity=entity.name,
            create_path=create.path,
            stream_path=f"/{system.api_version}{status_stream_path(entity)}",
            body=example_payload(entity, service),
            scopes=tuple(dict.fromkeys([*create.scopes, *reads])),
            completed=saga.status_completed,
            refs=_demo_refs(service, entity),
            books=_demo_books(system, saga),
            calls=tuple(
                DemoCall(step.name, step.service, step.call, step.participant.package)
                for step in saga.steps
                if step.call is not None and step.participant is not None
            ),
            get_path=get.path if get else None,
            recorded=tuple((step.name, target) for step in saga.steps for _, target in step.records),
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
    log_format: str = "human",
    ready_timeout: float | None = None,
    log_console: Console | None = None,
    dashboard: bool = True,
) -> UpResult:
    """Start everything, block until Ctrl-C/SIGTERM (or the demo's end), stop everything.

    Readiness is waited for as long as it takes (progress on `console`), or `ready_timeout` seconds;
    the processes' lines go to `log_console` (stdout), readable or as JSON (`log_format`).
    """
    if log_format not in LOG_FORMATS:
        raise RunError(f"--log-format {log_format}: choose human or json")
    started = time.monotonic()
    system = load_project(project)
    scenario = demo_plan(system) if demo else None  # before anything starts: a spec without one is refused
    specs = plan(project, options, system)
    publishers = {e.name: e.publisher for e in system.events}
    # Each service behind its migrations' head migrates in its own process as it starts (msgen.launch):
    # in parallel, without a Python start and an import of its models more, and nobody waits for all.
    create_databases(specs, options)
    behind = {spec.name for spec in migrations_behind(specs)}
    specs = [with_migrations(spec) if spec.name in behind else spec for spec in specs]
    if behind:
        names = ", ".join(spec.name for spec in specs if spec.name in behind)
        console.print(f"Migrating the databases of {names} to their head as they start.")
    else:
        console.print("Every database is at its migrations' head: nothing to migrate.")
    board = _dashboard(project, options, system, specs, console) if dashboard else None
    printer = RecordingPrinter(
        console=log_console or Console(highlight=False, soft_wrap=True), readable=log_format == "human"
    )
    brokers = {s.name for s in specs if not s.ready_url}  # the nats-server, when msgen up runs one
    manager = BrokerLastManager(brokers, printer=printer)
    for spec in specs:
        # exec: honcho's shell becomes the process, so the pid shown (and signalled) is the service's own
        manager.add_process(
            spec.name, "exec " + shlex.join(spec.args), env={**_base_env(), **spec.env}, cwd=str(spec.cwd)
        )
    result = UpResult(demo_expected=scenario.completed if scenario else None)
    if scenario is not None and (hint := unwritten_calls(project, scenario)) is not None:
        result.demo_hint = hint  # said now, and again below the demo's outcome when the saga did not complete
        console.print(hint, style="yellow", markup=False)
    steps = next_steps(project, system, specs) if scenario is None else []
    if board is not None:
        board.collector.processes = lambda: {
            n: {"pid": p.get("pid"), "returncode": p.get("returncode")} for n, p in manager._processes.items()
        }
        printer.sink = board.feed
        steps[1:1] = [f"  open {board.url}    # the dashboard"] if steps else []
    summary = Summary(options.workdir / "summary.txt", steps)
    watcher = threading.Thread(
        target=_watch,
        args=(manager, specs, console, result, started, scenario, token, publishers, summary, ready_timeout),
        daemon=True,
    )
    watcher.start()
    try:
        manager.loop()
    finally:
        if board is not None:
            board.stop()
    summary.path.unlink(missing_ok=True)  # it told what runs: nothing does now
    result.pids = {name: int(p["pid"]) for name, p in manager._processes.items() if p.get("pid")}
    if result.failed is None and not result.ready and scenario is None:
        result.failed = _culprit(manager, [s for s in specs if s.ready_url])
    if result.failed and result.not_ready is not None:
        console.print(f"[red]{result.failed} is not ready[/red] after {ready_timeout:g} s: ", end="")
        console.print(result.not_ready, markup=False)
        console.print("its last lines:")
        for line in printer.last.get(result.failed, []):
            console.print(f"  {line}", markup=False)
    elif result.failed:
        console.print(f"[red]{result.failed} failed to start[/red]; its last lines:")
        for line in printer.last.get(result.failed, []):
            console.print(f"  {line}", markup=False)
    return result


def _dashboard(project: Path, options: Options, system: m.System, specs: list[ProcessSpec], console: Console) -> Any:
    """The dashboard of this run (msgen.dashboard), started, and the services told to send it their traces;
    None when it could not start (the run goes on without it)."""
    from msgen.dashboard import Dashboard, Target
    from msgen.localrun import free_port, read_local_admin_token

    port = dashboard_port(options, specs)
    gateway = next((f"http://127.0.0.1:{s.port}" for s in specs if s.name == "gateway"), None)
    targets = [Target(s.name, f"http://127.0.0.1:{s.port}" if s.ready_url else None, s.port) for s in specs]
    board = Dashboard(
        project.resolve(),
        system,
        targets,
        store=options.workdir / "telemetry.sqlite3",
        port=port or free_port(),
        admin_token=read_local_admin_token(project),
        processes=dict,
        gateway=gateway,
    )
    board.start()
    if not board.wait_started():
        board.stop()
        console.print(f"[yellow]the dashboard could not listen on 127.0.0.1:{board.port}[/yellow]: running without it")
        return None
    console.print(f"Dashboard: {board.url} (services, logs, traces, sagas, dead letters, API explorer)", markup=False)
    for spec in specs:
        if spec.ready_url:
            spec.env.update(board.otlp_env())
    return board


def dashboard_port(options: Options, specs: list[ProcessSpec]) -> int | None:
    """With fixed ports, the one after the nats-server's (8008 for the shop), when free; None: any free port."""
    import socket

    if options.base_port is None:
        return None
    port = options.base_port + len({s.name for s in specs} | {"gateway", "nats"})
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None
    return port


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
    ready_timeout: float | None = None,
) -> None:
    services = [s for s in specs if s.ready_url]
    if not _wait_ready(manager, services, console, result, started, ready_timeout):
        return
    result.ready = True
    result.ready_after = time.monotonic() - started
    table = Table(title=f"ready in {result.ready_after:.1f} s — Ctrl-C stops everything", show_edge=False)
    for column in ("service", "url", "pid", "ready"):
        table.add_column(column)
    for spec in specs:
        pid = manager._processes[spec.name].get("pid")
        url = f"http://127.0.0.1:{spec.port}" if spec.ready_url else f"nats://127.0.0.1:{spec.port}"
        table.add_row(spec.name, url, str(pid), "yes")  # every service answered its readiness probe
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


def _probe(url: str, client: httpx.Client) -> tuple[bool, str]:
    """Whether a readiness URL answers 200; otherwise what it answered (or why it could not be asked)."""
    try:
        answer = client.get(url)
    except httpx.TransportError as exc:
        return False, f"{url} cannot be reached yet ({type(exc).__name__})"
    if answer.status_code == 200:
        return True, ""
    return False, f"{url} answers {answer.status_code}: {printable(answer.text[:300])}"


def _wait_ready(
    manager: Manager,
    services: list[ProcessSpec],
    console: Console,
    result: UpResult,
    started: float,
    ready_timeout: float | None,
) -> bool:
    """Wait until every service answers its readiness probe, showing which are ready and which still start.

    No limit unless `ready_timeout` (seconds from the start of msgen up); then the first service not
    ready is the failure, with the last answer of its probe. A process that exits ends the wait at once.
    """
    deadline = None if ready_timeout is None else started + ready_timeout
    ready: set[str] = set()
    why: dict[str, str] = {}
    last_report = time.monotonic()
    with httpx.Client(timeout=2) as client:
        while len(ready) < len(services):
            if manager._terminating:
                return False
            for spec in services:
                if spec.name in ready:
                    continue
                if manager._processes[spec.name].get("returncode") is not None:
                    result.failed = _culprit(manager, services) or spec.name
                    manager.terminate()
                    return False
                ok, why[spec.name] = _probe(spec.ready_url or "", client)
                if ok:
                    ready.add(spec.name)
                    console.print(
                        f"[green]ready[/green] {spec.name} ({len(ready)} of {len(services)}, "
                        f"{time.monotonic() - started:.1f} s)",
                        highlight=False,
                    )
            waiting = [s.name for s in services if s.name not in ready]
            now = time.monotonic()
            if waiting and deadline is not None and now >= deadline:
                # the one that answers but is not ready says most (it runs; a check fails), then the others
                waiting.sort(key=lambda name: "cannot be reached" in why.get(name, "cannot be reached"))
                result.failed = waiting[0]
                result.not_ready = why.get(waiting[0]) or "it never answered"
                for name in waiting[1:]:
                    console.print(f"not ready either: {name}: {why.get(name) or 'it never answered'}", markup=False)
                manager.terminate()
                return False
            if waiting and now - last_report >= 5:  # a slow start shows what it waits for
                last_report = now
                console.print(
                    f"still starting after {now - started:.0f} s: {', '.join(waiting)}", markup=False, highlight=False
                )
            if waiting:
                time.sleep(0.1)
    return True


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


def _books(front: _Front, console: Console, scenario: DemoPlan, ident: str) -> None:
    """What the other services recorded about this saga's entity (the steps' books, notifications...)."""
    if not scenario.books:
        return
    found: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + 10  # the steps' last events may still be on their way
    while True:
        for books in scenario.books:
            listed = front.request(books.service, "GET", books.list_path or "", params={"limit": 200})
            if listed.status_code == 200:
                items = listed.json().get("items", [])
                found[books.entity] = [r for r in items if str(r.get(books.key_field)) == ident]
        if all(found.get(b.entity) for b in scenario.books if b.step) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    table = Table(title=f"what the services recorded for {scenario.entity.lower()} {ident}", show_edge=False)
    for column in ("service", "record", "status", "saga step"):
        table.add_column(column)
    for books in scenario.books:
        rows = found.get(books.entity) or []
        for row in rows:
            status = str(row.get(books.status_field, "")) if books.status_field else ""
            table.add_row(books.service, f"{books.entity} {row['id']}", status, books.step)
        if not rows:
            table.add_row(books.service, f"no {books.entity}", "", books.step)
    console.print(table)
    steps = [b for b in scenario.books if b.step]
    if steps:
        done = ", ".join(f"{b.service} records {a(b.entity)} {b.applied}" for b in steps)
        called = ", ".join(f"{c.operation} of service {c.service}" for c in scenario.calls)
        which = "every saga step but the calls" if called else "every saga step"
        calls = f"; the called operations are yours to write ({called})" if called else ""
        console.print(
            f"The generated default handlers let {which} succeed ({done}){calls}; your rules go in each "
            "service's handlers/events.py."
        )


def _demo(
    specs: list[ProcessSpec],
    console: Console,
    token: Callable[[list[str]], str] | None,
    publishers: dict[str, str],
    scenario: DemoPlan,
) -> str:
    front = _Front(specs, token, scenario)
    noun = scenario.entity.lower()
    # a call step's status change is caused by the call's answer, not by an event
    causes = {**publishers, **{c.step: f"{c.service}, answering {c.operation}" for c in scenario.calls}}
    with front.client:
        body = _fill_refs(front, console, scenario)
        console.print(f"Creating {a(noun)} through {front.where(scenario.service)}: it starts saga {scenario.saga}…")
        t0 = time.monotonic()
        answer = front.request(
            scenario.service,
            "POST",
            scenario.create_path,
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if answer.status_code != 202:
            raise RunError(f"POST {scenario.create_path} answered {answer.status_code}: {answer.text}")
        ident = answer.json()["id"]
        console.print(f"202 Accepted: {noun} {ident}, Location {answer.headers.get('location')}")
        timeline = Table(title=f"saga {scenario.saga} for {noun} {ident}", show_edge=False)
        for column in ("after", "status", "because of", "published by"):
            timeline.add_column(column)
        status = ""
        stream_path = scenario.stream_path.replace("{id}", ident)
        with front.client.stream(
            "GET", front.url(scenario.service, stream_path), headers=front.headers_for(scenario.service)
        ) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                status = event["status"]
                timeline.add_row(
                    f"{(time.monotonic() - t0) * 1000:.0f} ms",
                    status,
                    event["cause"],
                    causes.get(event["cause"], "?"),
                )
        console.print(timeline)
        console.print(f"{scenario.entity} {ident} is [bold]{status}[/bold].")
        _recorded(front, console, scenario, ident)
        _books(front, console, scenario, ident)
    return status


def _recorded(front: _Front, console: Console, scenario: DemoPlan, ident: str) -> None:
    """The fields the saga's steps stored on its entity (spec `records`), read back through the API."""
    if not scenario.recorded or scenario.get_path is None:
        return
    answer = front.request(scenario.service, "GET", scenario.get_path.replace("{id}", ident))
    if answer.status_code != 200:
        console.print(f"[yellow]GET {scenario.get_path} answered {answer.status_code}[/yellow]")
        return
    row = answer.json()
    shown = ", ".join(
        f"{name} {row[name]} (step {step})" for step, name in scenario.recorded if row.get(name) is not None
    )
    if shown:  # a saga that failed before its steps recorded anything has nothing to show
        console.print(f"Recorded on {scenario.entity.lower()} {ident}: {shown}.", markup=False)
