"""What `msgen up --demo` and the dashboard's API explorer send: the demo's plan, and requests through the front.

The demo starts the spec's first saga through its entity's create operation (msgen.up);
the dashboard fills an example's references the same way. Both reach the services
through the gateway with a dev token, or straight with the internal credential the
gateway would send (`Front`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from msgen import model as m
from msgen.localrun import ProcessSpec, RunError


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
class DemoCall:
    """A call step of the demo's saga: an operation of the step's service that msgen cannot write for you."""

    step: str
    service: str
    operation: str  # quoteDelivery
    package: str  # pricing_service

    def stub(self, project: Path) -> Path | None:
        """The handler module that still holds msgen's stub of the operation (answering 501), if any."""
        handlers = project / "services" / self.service / self.package / "handlers"
        raises = re.compile(rf"raise\s+NotImplementedYet\(\s*[\"']{re.escape(self.operation)}[\"']")
        for module in sorted(handlers.glob("*.py")):
            if raises.search(module.read_text(encoding="utf-8")):
                return module.relative_to(project)
        return None


def unwritten_calls(project: Path, scenario: DemoPlan) -> str | None:
    """One line naming the call steps whose operation is still msgen's stub, and where to write it; or None.

    Such a call answers 501 until the step's timeout: the saga cannot complete before someone writes it.
    """
    stubs = [(call, module) for call in scenario.calls if (module := call.stub(project)) is not None]
    if not stubs:
        return None
    named = "; ".join(
        f"step {call.step} calls {call.operation} of service {call.service}, still msgen's stub (501): write it "
        f"in {module.as_posix()}"
        for call, module in stubs
    )
    return f"Saga {scenario.saga} needs hand-written handlers to complete: {named}."


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
    calls: tuple[DemoCall, ...] = ()
    get_path: str | None = None  # /v1/orders/{id}: what the saga's steps recorded on the entity (`records`)
    recorded: tuple[tuple[str, str], ...] = ()  # (step, entity field)

    @property
    def all_scopes(self) -> list[str]:
        more = [scope for ref in self.refs for scope in ref.scopes] + [s for b in self.books for s in b.scopes]
        return list(dict.fromkeys([*self.scopes, *more]))


def operation(service: m.Service, entity: str, action: str) -> m.Operation | None:
    return next(
        (op for op in service.operations if op.entity is not None and op.entity.name == entity and op.action == action),
        None,
    )


def demo_refs(service: m.Service, entity: m.Entity) -> tuple[DemoRef, ...]:
    from msgen.render.examples import example_payload

    refs = []
    for path, f in m.entity_refs(entity, service.value_objects):
        target, ref_entity = f.ref_service, f.entity
        if target is None or ref_entity is None:
            continue
        listing = operation(target, ref_entity.name, "list")
        create = operation(target, ref_entity.name, "create")
        create = create if create is not None and not create.is_async else None
        refs.append(
            DemoRef(
                path=path,
                service=target.name,
                entity=ref_entity.name,
                list_path=listing.path if listing else None,
                create_path=create.path if create else None,
                body=example_payload(ref_entity, target),
                scopes=tuple(dict.fromkeys([*(listing.scopes if listing else ()), *(create.scopes if create else ())])),
            )
        )
    return tuple(refs)


class Front:
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


def fill_refs(front: Front, console: Console, scenario: DemoPlan) -> dict[str, Any]:
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
