"""Settings of the shop gateway, read from the environment (defaults from the spec)."""

from pathlib import Path
from typing import Literal

from msgen_runtime.gateway import GatewaySettings
from pydantic import Field

# The project's gateway/ folder: the dev issuer's keys are made in its dev-issuer/ on first use.
GATEWAY_DIR = Path(__file__).resolve().parents[1]


class Settings(GatewaySettings):
    # named in WWW-Authenticate
    realm: str = "shop"
    # observability.tracing.sample_ratio
    trace_sample_ratio: float = 0.01
    # gateway.auth.issuer; env OIDC_ISSUER
    oidc_issuer: str | None = "https://auth.shop.example/"
    # gateway.auth.audience; env OIDC_AUDIENCE
    oidc_audience: str | None = "shop-api"
    # gateway.auth.jwks_url (discovery when None)
    oidc_jwks_url: str | None = "https://auth.shop.example/.well-known/jwks.json"
    # trusted only when DEV_ISSUER_ENABLED=true
    dev_issuer: str = "urn:msgen:shop:dev-issuer"
    # gateway.rate_limit.requests
    rate_limit_requests: int = 100
    # gateway.rate_limit.per, in seconds
    rate_limit_period: float = 1.0
    # gateway.rate_limit.by
    rate_limit_by: Literal["token", "ip"] = "token"
    # prefix of the Redis keys
    rate_limit_namespace: str | None = "msgen:shop:gateway"
    # gateway.timeout: a route without its own
    timeout: float = 5.0
    # gateway.max_body, in bytes
    max_body: int = 1048576
    # gateway.cors.origins
    cors_origins: list[str] = Field(default_factory=lambda: ["https://shop.example"])
    # gateway.cors.methods
    cors_methods: list[str] = Field(default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE"])
    # gateway.cors.headers
    cors_headers: list[str] = Field(
        default_factory=lambda: ["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-ID"]
    )
    # the dev issuer's keys, created on first use (DEV_ISSUER_ENABLED=true only)
    dev_issuer_dir: str | None = str(GATEWAY_DIR / "dev-issuer")

    # the user service: http://user-service in the cluster; override with USER_URL
    user_url: str = "http://user-service"
    # the product service: http://product-service in the cluster; override with PRODUCT_URL
    product_url: str = "http://product-service"
    # the inventory service: http://inventory-service in the cluster; override with INVENTORY_URL
    inventory_url: str = "http://inventory-service"
    # the order service: http://order-service in the cluster; override with ORDER_URL
    order_url: str = "http://order-service"
    # the payment service: http://payment-service in the cluster; override with PAYMENT_URL
    payment_url: str = "http://payment-service"
    # the notification service: http://notification-service in the cluster; override with NOTIFICATION_URL
    notification_url: str = "http://notification-service"
