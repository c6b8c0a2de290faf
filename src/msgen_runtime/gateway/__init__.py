"""The generated API gateway's runtime: tokens, scopes, rate limits and a streaming reverse proxy.

A generated `gateway/` project holds only its route table and settings; it
calls `create_gateway_app` for everything else. See docs/gateway.md.
"""

from msgen_runtime.gateway.app import create_gateway_app
from msgen_runtime.gateway.routing import Route, RouteLimit, RouteTable
from msgen_runtime.gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "Route", "RouteLimit", "RouteTable", "create_gateway_app"]
