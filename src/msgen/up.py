"""`msgen up`: the whole generated system on this machine, supervised by honcho.

Migrations run first; then honcho starts the nats-server and every service (and
the gateway when the project has one), prefixes their logs with coloured names,
and stops them all on Ctrl-C or SIGTERM. A watcher thread waits for every
/health/ready, shows the status table, and with --demo starts the spec's first
saga through its entity's create operation and follows it to the end.
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
class DemoRef:
    """A `ref` field of the demo's body, filled with an existing entity of its service (created when none)."""

    path: tuple[str, ...]  # ("user_id",), or ("lines", "product_id") for each item of lines
    service: str
    entity: str
    list_path: str | None  # /v1/products
    create_path: str | None
    body: dict[str, Any]
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class DemoBooks:
    """A participant's entity recording a saga step (spec `books`), listed after the saga's end."""

    step: str
    service: str
    entity: str
    list_path: str | None
    key_field: str
    status_field: str
    applied: str
    scopes: tuple[str, ...]


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
    refs: tuple[DemoRef, ...] = ()
    books: tuple[DemoBooks, ...] = ()

    @property
    def all_scopes(self) -> list[str]:
        more = [scope for ref in self.refs for scope in ref.scopes] + [s for b in self.books for s in b.scopes]
        return list(dict.fromkeys([*self.scopes, *more]))


def _operation(service: m.Service, entity: str, action: str) -> m.Operation | None:
    return next((op for op in service.operations if op.entity == entity and op.action == action), None)


def _demo_refs(system: m.System, service: m.Service, entity: m.Entity) -> tuple[DemoRef, ...]:
    from msgen.render.examples import example_payload

    refs = []
    for path, f in m.entity_refs(entity, service.value_objects):
        assert f.ref is not None
        target = next((s for s in system.services if s.name == f.ref[0]), None)
        if target is None or not any(e.name == f.ref[1] for e in target.entities):
            continue
        listing = _operation(target, f.ref[1], "list")
        create = _operation(target, f.ref[1], "create")
        create = create if create is not None and not create.is_async else None
        refs.append(
            DemoRef(
                path=path,
                service=target.name,
                entity=f.ref[1],
                list_path=listing.path if listing else None,
                create_path=create.path if create else None,
                body=example_payload(target.entity(f.ref[1]), target),
                scopes=tuple(dict.fromkeys([*(listing.scopes if listing else ()), *(create.scopes if create else ())])),
            )
        )
    return tuple(refs)


def _demo_books(system: m.System, saga: m.Saga) -> tuple[DemoBooks, ...]:
    """Every listable entity of another service that refers to the saga's entity: the steps' books (spec
    `books`), and the other records kept about it (e.g. notifications)."""
    assert saga.entity is not None
    steps = {(s.service, s.books.entity): s for s in saga.steps if s.books is not None}
    books = []
    for service in system.services:
        for entity in service.entities:
            key = next((f.name for f in entity.fields if f.ref == (saga.orchestrator, saga.entity)), None)
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
            refs=_demo_refs(system, service, entity),
            books=_demo_books(system, saga),
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
    brokers = {s.name for s in specs if not s.ready_url}  # the nats-server, when msgen up runs one
    manager = BrokerLastManager(brokers, printer=printer)
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


class _Front:
    """Requests of the demo: through the gateway with a dev token, or straight to a service with the
    internal credential the gateway would send."""

    def __init__(self, specs: list[ProcessSpec], token: Callable[[list[str]], str] | None, scenario: DemoPlan) -> None:
        self.by_name = {s.name: s for s in specs}
        self.gateway = self.by_name.get("gateway")
        self.headers = {"X-Correlation-ID": f"demo-{uuid.uuid4().hex[:8]}"}
        if self.gateway is not None and token is not None:
            self.headers["Authorization"] = f"Bearer {token(scenario.all_scopes)}"
        self.client = httpx.Client(timeout=30)

    def where(self, service: str) -> str:
        return "the gateway" if self.gateway is not None else f"the {service} service"

    def url(self, service: str, path: str) -> str:
        spec = self.gateway or self.by_name[service]
        return f"http://127.0.0.1:{spec.port}{path}"

    def headers_for(self, service: str) -> dict[str, str]:
        secret = self.by_name[service].env.get("INTERNAL_AUTH_SECRET")
        if self.gateway is not None or not secret:
            return dict(self.headers)
        from msgen_runtime.callers import HEADER, InternalAuth

        # it speaks as the gateway would (the services trust the gateway), to this service alone
        minted = InternalAuth(secret, issuer="gateway", ttl=300).mint("user:demo", audience=service)
        return {**self.headers, HEADER: minted}

    def request(self, service: str, method: str, path: str, **options: Any) -> httpx.Response:
        headers = {**self.headers_for(service), **options.pop("headers", {})}
        return self.client.request(method, self.url(service, path), headers=headers, **options)


def _fill_refs(front: _Front, console: Console, scenario: DemoPlan) -> dict[str, Any]:
    """The demo's body with each ref pointing at an existing entity: the first listed, or one created."""
    body: dict[str, Any] = json.loads(json.dumps(scenario.body))
    chosen: dict[tuple[str, str], str] = {}
    for ref in scenario.refs:
        key = (ref.service, ref.entity)
        if key not in chosen:
            ident = None
            if ref.list_path is not None:
                listed = front.request(ref.service, "GET", ref.list_path, params={"limit": 1})
                items = listed.json().get("items") if listed.status_code == 200 else None
                if items:
                    ident = str(items[0]["id"])
                    console.print(f"Using {ref.entity} {ident} (existing)")
            if ident is None and ref.create_path is not None:
                made = front.request(
                    ref.service,
                    "POST",
                    ref.create_path,
                    json=ref.body,
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
                if made.status_code != 201:
                    raise RunError(f"POST {ref.create_path} answered {made.status_code}: {made.text}")
                ident = str(made.json()["id"])
                console.print(f"Created {ref.entity} {ident} through {front.where(ref.service)}")
            if ident is None:
                console.print(f"[yellow]no {ref.entity} to refer to: its service lists and creates none[/yellow]")
                continue
            chosen[key] = ident
        _set(body, ref.path, chosen[key])
    return body


def _set(body: Any, path: tuple[str, ...], value: str) -> None:
    head, rest = path[0], path[1:]
    if not isinstance(body, dict) or head not in body:
        return
    if not rest:
        body[head] = value
        return
    for item in body[head] if isinstance(body[head], list) else [body[head]]:
        _set(item, rest, value)


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
        console.print(
            f"The generated default handlers let every saga step succeed ({done}); your rules go in each "
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
                    publishers.get(event["cause"], "?"),
                )
        console.print(timeline)
        console.print(f"{scenario.entity} {ident} is [bold]{status}[/bold].")
        _books(front, console, scenario, ident)
    return status
