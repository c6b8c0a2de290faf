"""Settings of the courier gateway, read from the environment (defaults from the spec)."""

from pathlib import Path
from typing import Literal

from msgen_runtime.gateway import GatewaySettings
from pydantic import Field

# The project's gateway/ folder: the dev issuer's keys are made in its dev-issuer/ on first use.
GATEWAY_DIR = Path(__file__).resolve().parents[1]


class Settings(GatewaySettings):
    # named in WWW-Authenticate
    realm: str = "courier"
    # observability.tracing.sample_ratio
    trace_sample_ratio: float = 0.05
    # gateway.auth.issuer; env OIDC_ISSUER
    oidc_issuer: str | None = "https://auth.courier.example/"
    # gateway.auth.audience; env OIDC_AUDIENCE
    oidc_audience: str | None = "courier-api"
    # gateway.auth.jwks_url (discovery when None)
    oidc_jwks_url: str | None = "https://auth.courier.example/.well-known/jwks.json"
    # trusted only when DEV_ISSUER_ENABLED=true
    dev_issuer: str = "urn:msgen:courier:dev-issuer"
    # gateway.rate_limit.requests
    rate_limit_requests: int = 50
    # gateway.rate_limit.per, in seconds
    rate_limit_period: float = 1.0
    # gateway.rate_limit.by
    rate_limit_by: Literal["token", "ip"] = "token"
    # prefix of the Redis keys
    rate_limit_namespace: str | None = "msgen:courier:gateway"
    # gateway.timeout: a route without its own
    timeout: float = 5.0
    # gateway.max_body, in bytes
    max_body: int = 262144
    # gateway.cors.origins
    cors_origins: list[str] = Field(default_factory=lambda: ["https://courier.example"])
    # gateway.cors.methods
    cors_methods: list[str] = Field(default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE"])
    # gateway.cors.headers
    cors_headers: list[str] = Field(
        default_factory=lambda: [
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "X-Correlation-ID",
            "Last-Event-ID",
        ]
    )
    # the dev issuer's keys, created on first use (DEV_ISSUER_ENABLED=true only)
    dev_issuer_dir: str | None = str(GATEWAY_DIR / "dev-issuer")

    # the customer service: http://customer-service in the cluster; override with CUSTOMER_URL
    customer_url: str = "http://customer-service"
    # the pricing service: http://pricing-service in the cluster; override with PRICING_URL
    pricing_url: str = "http://pricing-service"
    # the courier service: http://courier-service in the cluster; override with COURIER_URL
    courier_url: str = "http://courier-service"
    # the dispatch service: http://dispatch-service in the cluster; override with DISPATCH_URL
    dispatch_url: str = "http://dispatch-service"
    # the billing service: http://billing-service in the cluster; override with BILLING_URL
    billing_url: str = "http://billing-service"
    # the notification service: http://notification-service in the cluster; override with NOTIFICATION_URL
    notification_url: str = "http://notification-service"
