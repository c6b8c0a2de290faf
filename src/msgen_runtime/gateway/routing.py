"""The gateway's route table: which upstream serves a method and path, and what the route needs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["READ_METHODS", "Route", "RouteLimit", "RouteMatch", "RouteTable"]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class RouteLimit:
    """A route's own rate limit: `requests` per `period` seconds, counted per token subject or client IP."""

    requests: int
    period: float
    by: str = "token"  # or "ip"


@dataclass(frozen=True)
class Route:
    """One public operation: `method path` is served by `upstream`."""

    method: str
    path: str  # the template, e.g. /v1/orders/{id}; also the `route` label of the metrics
    upstream: str  # the service name, e.g. order
    scopes: tuple[str, ...] = ()  # every one is needed; none: a public route
    timeout: float | None = None  # seconds; None: the gateway's default
    idempotent_read: bool = False  # retried when the upstream cannot be reached
    sse: bool = False  # a Server-Sent Events stream: no read timeout on the body
    prefix: bool = False  # also every path under `path` (a service made from a template: its paths are its own)
    rate_limit: RouteLimit | None = None  # counted on its own, instead of the gateway's limit
    # a create that starts a saga: `Prefer: wait=N` lengthens the timeout by N seconds, `max_wait` at most
    max_wait: float = 0.0


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    params: dict[str, str]


@dataclass(frozen=True)
class _Compiled:
    route: Route
    pattern: re.Pattern[str]
    literals: int  # segments without a parameter: the more, the more specific
    prefix: bool  # an exact route wins over a prefix route of as many literal segments


@dataclass
class RouteTable:
    """Matches a request to a route; literal segments win over parameters (/orders/search before /orders/{id})."""

    routes: tuple[Route, ...]
    _compiled: list[_Compiled] = field(init=False, repr=False)

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        compiled = []
        for route in self.routes:
            regex = "".join(
                f"(?P<{part[1:-1]}>[^/]+)" if _PARAM.fullmatch(part) else re.escape(part)
                for part in re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", route.path)
                if part
            )
            literals = sum(1 for segment in route.path.split("/") if segment and not _PARAM.search(segment))
            tail = "(?:/.*)?" if route.prefix else ""
            compiled.append(_Compiled(route, re.compile(f"^{regex}{tail}$"), literals, route.prefix))
        self._compiled = sorted(compiled, key=lambda c: (-c.literals, c.prefix))

    def upstreams(self) -> tuple[str, ...]:
        return tuple(sorted({route.upstream for route in self.routes}))

    def match(self, method: str, path: str) -> tuple[RouteMatch | None, tuple[str, ...]]:
        """The route for `method path`, or None and the methods the path does allow (empty: unknown path)."""
        if any(segment in (".", "..") for segment in path.split("/")):
            return None, ()
        allowed: list[str] = []
        for candidate in self._compiled:
            found = candidate.pattern.match(path)
            if found is None:
                continue
            if candidate.route.method == method:
                return RouteMatch(candidate.route, found.groupdict()), ()
            allowed.append(candidate.route.method)
        return None, tuple(sorted(set(allowed)))
