"""RED metrics (rate, errors, duration) by route template, and the access log.

Metric names follow the alert rules msgen generates:
``sum(rate(http_server_errors_total[5m])) / sum(rate(http_requests_total[5m]))``.
"""

from __future__ import annotations

import logging

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Scope

__all__ = ["DURATION", "QUIET_PATHS", "REQUESTS", "SERVER_ERRORS", "access_log", "metrics_endpoint", "route_template"]

REQUESTS = Counter("http_requests_total", "HTTP requests served.", ["method", "route", "status"])
SERVER_ERRORS = Counter("http_server_errors_total", "HTTP requests answered with a 5xx.", ["method", "route", "status"])
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0),
)
access_log = logging.getLogger("msgen.access")
QUIET_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})  # counted, but not in the access log


def route_template(scope: Scope) -> str:
    """The matched route's template (/v1/orders/{id}), never the raw path: bounded label values."""
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        if not hasattr(candidate, "path"):  # an included router: its routes are not ours to walk
            continue
        match, _ = candidate.matches(scope)
        if match == Match.FULL:
            return str(candidate.path)
    return "unmatched"


async def metrics_endpoint(_request: Request) -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
