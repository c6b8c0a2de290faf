"""The generated API gateway's runtime: tokens, scopes, rate limits and a streaming reverse proxy.

A generated `gateway/` project holds only its route table and settings; it
calls `create_gateway_app` for everything else. See docs/gateway.md.

The names below are imported on first use: `msgen token` loads devtokens alone,
without the web stack the app needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from msgen_runtime.gateway.app import create_gateway_app
    from msgen_runtime.gateway.routing import Route, RouteLimit, RouteTable
    from msgen_runtime.gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "Route", "RouteLimit", "RouteTable", "create_gateway_app"]
_HOME = {
    "create_gateway_app": "msgen_runtime.gateway.app",
    "Route": "msgen_runtime.gateway.routing",
    "RouteLimit": "msgen_runtime.gateway.routing",
    "RouteTable": "msgen_runtime.gateway.routing",
    "GatewaySettings": "msgen_runtime.gateway.settings",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
