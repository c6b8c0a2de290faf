"""Names and patterns several renderers share, in a module of their own so that sharing them makes no import cycle."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from msgen import model as m
from msgen.names import PUBLIC_CONTRACT as PUBLIC_CONTRACT  # msgen.names decides it; still importable here
from msgen.names import snake


@dataclass(frozen=True)
class GatewayRoute:
    """One public route of the gateway: the method and path it serves, the service behind it, what it needs.

    Made by render/gateway.py, and for the older API versions still served by render/versions.py.
    """

    method: str
    path: str
    upstream: str
    scopes: tuple[str, ...]
    timeout: float | None
    idempotent_read: bool
    sse: bool
    prefix: bool = False  # a template service's prefix: every path under it too
    rate_limit: tuple[int, float, m.RateLimitBy] | None = None
    max_wait: float = 0.0  # a saga-starting create: the longest Prefer: wait added to its timeout


# PostgreSQL text cannot hold NUL characters: refuse them at the door (422), as the contract says.
NO_NUL_PATTERN = r"^[^\x00]*$"
URL_PATTERN = r"^https?://[^\s\x00]+$"


def decimal_description(constraints: dict[str, Any]) -> str | None:
    """What a decimal's bounds say in words (its contract's pattern does not read well): None without bounds."""
    bounds = [f"at least {constraints['min']}" if "min" in constraints else ""]
    bounds.append(f"at most {constraints['max']}" if "max" in constraints else "")
    if not any(bounds):
        return None
    return f"A decimal number, {' and '.join(b for b in bounds if b)}."


def sdk_package(system: m.System) -> str:
    return f"{snake(system.name)}_sdk"


def path_pattern(path: str) -> str:
    """A regular expression of a route's path: each {parameter} is one segment."""
    parts = re.split(r"\{[^/{}]+\}", path)
    return "[^/]+".join(re.escape(part) for part in parts)


# The longest `Prefer: wait` the gateway adds to a saga-starting create's route timeout: the services'
# default request deadline (REQUEST_TIMEOUT_SECONDS), which also bounds the wait in the service.
PREFER_WAIT_MAX = 10.0


def waiting_saga(system: m.System, service: m.Service, op: m.Operation) -> m.Saga | None:
    """The saga an asynchronous, idempotent create starts, when its answer may wait for the saga's end.

    Such a create takes RFC 7240's `Prefer: wait=N`: 201 with the entity once its saga has ended, if it
    ends within N seconds, else the 202 it answers without the header. Its entity is the saga's, with a
    final status, orchestrated by the service itself (where the status log is).
    """
    if not (op.is_async and op.idempotent and op.action == m.Action.CREATE and op.entity):
        return None
    if op.path_params or op.query:
        return None
    return next(
        (
            saga
            for saga in system.sagas
            if saga.entity is op.entity
            and saga.orchestrator == service.name
            and (saga.status_completed or saga.status_failed)
        ),
        None,
    )


def prefer_description(entity: m.Entity) -> str:
    """The contract's word on a saga-starting create's `Prefer` header (the routes and the OpenAPI say it)."""
    return (
        f"RFC 7240. `wait=N`: answer 201 with the {entity.name} once its saga has ended, if it ends within N "
        f"seconds (at most the request deadline: {PREFER_WAIT_MAX:g} s by default); otherwise 202 as without it."
    )
