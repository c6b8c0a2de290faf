"""The gateway's settings, read from the environment; the generated gateway fills in the spec's values."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from msgen_runtime.settings import DEV_MODE_ENV, only_msgen_dev_mode

__all__ = ["GatewaySettings"]


class GatewaySettings(BaseSettings):
    """Base settings; the generated `Settings` adds one `<service>_url` per upstream (env `<SERVICE>_URL`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return only_msgen_dev_mode(init_settings, env_settings, dotenv_settings, file_secret_settings)

    service_name: str = "gateway"
    realm: str = Field("api", description="The realm named in WWW-Authenticate.")
    log_level: str = "INFO"
    trace_sample_ratio: float = Field(0.01, ge=0.0, le=1.0)
    redis_url: str | None = Field(
        None, description="Rate-limit counters shared by the replicas; in-process when unset."
    )

    oidc_issuer: str | None = Field(None, description="The `iss` of accepted tokens; no OIDC issuer when unset.")
    oidc_audience: str | None = Field(None, description="The `aud` every token must name.")
    oidc_jwks_url: str | None = Field(None, description="The issuer's JWKS; OIDC discovery from the issuer when unset.")
    oidc_allow_http: bool = Field(
        False,
        description="Fetch the issuer's keys over plain http (an issuer inside the cluster); https is required otherwise.",
    )
    jwks_cache_seconds: float = Field(300.0, gt=0, description="How long fetched signing keys are used.")
    jwks_min_refresh_seconds: float = Field(
        10.0, ge=0, description="Least time between two fetches triggered by an unknown key id."
    )
    jwks_fetch_timeout: float = Field(2.0, gt=0)
    token_leeway_seconds: float = Field(30.0, ge=0, description="Clock skew allowed on exp and nbf.")

    dev_issuer_enabled: bool = Field(
        False,
        description="Trust the project's dev issuer (with MSGEN_DEV_MODE only: `msgen up` sets both; never in production).",
    )
    dev_issuer: str = "urn:msgen:dev-issuer"
    dev_issuer_dir: str | None = Field(None, description="The dev issuer's key directory (created when missing).")

    dev_mode: bool = Field(
        False,
        validation_alias=DEV_MODE_ENV,
        description="Local development only (msgen up): start without an issuer or an internal secret.",
    )
    internal_auth_secret: SecretStr | None = Field(
        None, description="The key shared with the services: every forwarded request carries a token made with it."
    )
    internal_auth_secrets: SecretStr | None = Field(
        None,
        description="Instead of INTERNAL_AUTH_SECRET while rotating it: comma-separated keys, the first signs, "
        "all verify.",
    )

    rate_limit_requests: int = Field(100, ge=1)
    rate_limit_period: float = Field(1.0, gt=0)
    rate_limit_by: Literal["token", "ip"] = "token"
    rate_limit_strategy: Literal["moving-window", "fixed-window", "sliding-window-counter"] = "moving-window"
    rate_limit_namespace: str | None = Field(
        None, description="Prefix of the Redis keys (default msgen:<realm>:gateway)."
    )

    timeout: float = Field(5.0, gt=0, description="Default time limit of a proxied request (until its headers).")
    max_body: int = Field(1_048_576, ge=0, description="Largest request body, in bytes.")
    cors_origins: list[str] = Field(default_factory=list)
    cors_methods: list[str] = Field(default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE"])
    cors_headers: list[str] = Field(
        default_factory=lambda: ["Authorization", "Content-Type", "Last-Event-ID", "Prefer"]
    )

    upstream_retries: int = Field(2, ge=0, le=10, description="Retries of an idempotent read that did not get through.")
    upstream_max_connections: int = Field(200, ge=1)
    upstream_idle_seconds: float = Field(
        5.0, gt=0, le=300, description="How long an idle connection to an upstream is kept for the next request."
    )
    max_in_flight_requests: int = Field(
        256, ge=1, description="Requests waiting for their answer at once; beyond it, 503 with Retry-After."
    )
    max_event_streams: int = Field(
        1000, ge=1, description="Server-Sent Events streams relayed at once; beyond it, 503 with Retry-After."
    )
    body_timeout: float = Field(
        10.0, gt=0, description="Longest time to receive a request body (408 beyond it); no slot is held meanwhile."
    )
    request_deadline: float | None = Field(
        None, gt=0, description="Longest time to the start of an answer (default: the longest route timeout plus 2 s)."
    )
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_recovery_seconds: float = Field(5.0, gt=0)
    ready_checks_upstreams: bool = Field(True, description="Ready only while every upstream is ready.")
    ready_timeout: float = Field(0.5, gt=0)
    ready_cache_seconds: float = Field(2.0, ge=0)

    @field_validator(
        "oidc_issuer",
        "oidc_audience",
        "oidc_jwks_url",
        "redis_url",
        "dev_issuer_dir",
        "internal_auth_secret",
        "internal_auth_secrets",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    def upstream_url(self, name: str) -> str:
        """The base URL of upstream `name`: the `<name>_url` setting."""
        value = getattr(self, f"{name}_url", None)
        if not isinstance(value, str) or not value:
            raise ValueError(f"no URL for upstream {name!r}: set {name.upper()}_URL")
        return value.rstrip("/")
