"""Settings every service reads from its environment (twelve-factor) and from secret files.

A secret can be a file instead of a variable: `/run/secrets/DATABASE_URL` holds what `DATABASE_URL`
would (Kubernetes mounts its Secrets there read-only, compose its `secrets:`). A variable wins over a
file of the same name. MSGEN_SECRETS_DIR names another folder; named but missing, the process refuses
to start rather than run without its secrets.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SecretsSettingsSource, SettingsConfigDict

__all__ = [
    "DEV_MODE_ENV",
    "LEASE_MARGIN_SECONDS",
    "MIN_ADMIN_TOKEN_LENGTH",
    "AliasOnly",
    "ServiceSettings",
    "only_msgen_dev_mode",
]

LEASE_MARGIN_SECONDS = 1.0  # a lease outlasts the request deadline by at least this much
DEV_MODE_ENV = "MSGEN_DEV_MODE"
MIN_ADMIN_TOKEN_LENGTH = 32  # as for INTERNAL_AUTH_SECRET: a short token can be guessed
SECRETS_DIR_ENV = "MSGEN_SECRETS_DIR"
DEFAULT_SECRETS_DIR = Path("/run/secrets")  # where Kubernetes (as msgen mounts them) and compose put secret files


class AliasOnly(PydanticBaseSettingsSource):
    """An environment or .env source where the fields named in `names` count only under their alias.

    Dev mode opens a process up: `DEV_MODE=1` (a common name, and env names are case-insensitive)
    or a `dev_mode=` line in a `.env` file must not turn it on; only MSGEN_DEV_MODE does.
    """

    def __init__(self, source: PydanticBaseSettingsSource, names: frozenset[str]) -> None:
        super().__init__(source.settings_cls)
        self.source = source
        self.names = names

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.source.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {key: value for key, value in self.source().items() if key not in self.names}


def only_msgen_dev_mode(
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The default sources, with `dev_mode` read from the environment as MSGEN_DEV_MODE only, and secret
    files from the secrets folder (see the module's docstring)."""
    names = frozenset({"dev_mode"})
    files = secret_files(file_secret_settings)
    return init_settings, AliasOnly(env_settings, names), AliasOnly(dotenv_settings, names), files


def secret_files(default: PydanticBaseSettingsSource) -> PydanticBaseSettingsSource:
    """Settings from the files of MSGEN_SECRETS_DIR, or of /run/secrets when that folder exists."""
    named = os.environ.get(SECRETS_DIR_ENV)
    folder = Path(named) if named else DEFAULT_SECRETS_DIR
    if not folder.is_dir():
        if named:
            raise ValueError(f"{SECRETS_DIR_ENV}={named} is not a folder: the secrets it should hold are missing")
        return default
    return SecretsSettingsSource(default.settings_cls, secrets_dir=folder)


class ServiceSettings(BaseSettings):
    """Base settings; a generated service adds its own defaults and downstream URLs."""

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

    service_name: str = "service"
    database_url: str = "sqlite+aiosqlite:///./service.db"
    database_echo: bool = False
    database_pool_size: int | None = Field(
        None, ge=1, description="Connections per process (default: 1 on SQLite, 10 otherwise)."
    )
    redis_url: str | None = Field(None, description="Shared cache; in-process cache when unset.")
    cache_enabled: bool = True
    cache_namespace: str | None = Field(
        None, description="Prefix of this service's cache keys (default msgen:<service>)."
    )
    log_level: str = "INFO"
    log_personal_data: bool = Field(
        False, description="Log email addresses as they are (local debugging only); masked (j***@example.com) when off."
    )
    trace_sample_ratio: float = Field(0.01, ge=0.0, le=1.0)
    idempotency_ttl_seconds: int = Field(86_400, ge=1)
    idempotency_purge_seconds: float = Field(600.0, gt=0)
    idempotency_lease_seconds: float | None = Field(
        None,
        gt=0,
        description="How long an unfinished first attempt holds its key before a retry takes it over "
        "(default: the request timeout plus 2 s; at least the request timeout plus 1 s).",
    )
    request_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="A request without its answer by then is cancelled and rolled back (503); "
        "less when the gateway says it waits less.",
    )
    call_timeout_floor_seconds: float = Field(
        0.0,
        ge=0,
        le=300,
        description="No call to another service waits less than this, whatever its timeout in the spec "
        "(0: the spec's timeouts). For a machine slower than the spec assumes, without regenerating.",
    )
    max_in_flight_requests: int = Field(
        64, ge=1, description="Requests waiting for their answer at once; beyond it, 503 with Retry-After."
    )
    max_event_streams: int = Field(
        100, ge=1, description="Server-Sent Events streams open at once; beyond it, 503 with Retry-After."
    )
    broker_url: str | None = Field(
        None, description="nats://, kafka:// or amqp://; the spec's broker on 127.0.0.1 when unset."
    )
    broker_username: str | None = Field(
        None, description="Put into an amqp:// BROKER_URL that names no user (e.g. from the operator's Secret)."
    )
    broker_password: SecretStr | None = Field(None, description="The password of BROKER_USERNAME.")
    dev_mode: bool = Field(
        False,
        validation_alias=DEV_MODE_ENV,
        description="Local development (msgen up, compose, tests): /docs on, API calls without a credential "
        "accepted while no INTERNAL_AUTH_SECRET is set. Never in production.",
    )
    internal_auth_secret: SecretStr | None = Field(
        None, description="The key shared with the gateway and the other services: API calls must carry its token."
    )
    internal_auth_secrets: SecretStr | None = Field(
        None,
        description="Instead of INTERNAL_AUTH_SECRET while rotating it: comma-separated keys, the first signs, "
        "all verify.",
    )
    internal_callers: list[str] = Field(
        default_factory=lambda: ["gateway"],
        description="Who may call this service: the gateway and the services that call it (the `iss` of "
        "their internal tokens); the generated settings list the spec's callers.",
    )
    admin_token: SecretStr | None = Field(
        None, description="/admin/* (dead letters) asks for 'Authorization: Bearer <token>'; closed when unset."
    )
    messaging_enabled: bool = Field(
        True,
        description="Connect to the broker: relay the outbox and consume. Off, events still wait in the outbox.",
    )
    schema_registry_url: str | None = Field(None, description="Confluent wire format against this registry when set.")
    consumer_attempts: int = Field(
        5, ge=1, le=20, description="Tries of a failing handler before the dead-letter topic."
    )
    consumer_backoff_seconds: float = Field(0.1, ge=0, description="First retry delay; it doubles each time.")
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "no-reply@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False

    @model_validator(mode="after")
    def _lease_outlasts_the_deadline(self) -> Self:
        lease = self.idempotency_lease_seconds
        if lease is not None and lease < self.request_timeout_seconds + LEASE_MARGIN_SECONDS:
            raise ValueError(
                f"IDEMPOTENCY_LEASE_SECONDS ({lease:g}) must be at least REQUEST_TIMEOUT_SECONDS "
                f"({self.request_timeout_seconds:g}) plus {LEASE_MARGIN_SECONDS:g}: a retry would take over "
                "the key of an attempt still running"
            )
        return self

    @model_validator(mode="after")
    def _broker_credentials_into_the_url(self) -> Self:
        """amqp://host:5672/ plus BROKER_USERNAME and BROKER_PASSWORD (files of an operator's Secret) make one URL."""
        if self.broker_username is None or not self.broker_url:
            return self
        url = urlsplit(self.broker_url)
        if url.scheme not in ("amqp", "amqps"):
            raise ValueError(f"BROKER_USERNAME is set but BROKER_URL is not an amqp:// URL ({url.scheme}://)")
        if url.username is not None:
            raise ValueError("BROKER_USERNAME is set but BROKER_URL already names a user: keep one of them")
        user = quote(self.broker_username, safe="")
        if self.broker_password is not None:
            user += ":" + quote(self.broker_password.get_secret_value(), safe="")
        self.broker_url = urlunsplit(url._replace(netloc=f"{user}@{url.netloc}"))
        return self

    def idempotency_lease(self) -> float:
        """Seconds an in-flight Idempotency-Key is held: past the request deadline, its attempt is over."""
        return self.idempotency_lease_seconds or self.request_timeout_seconds + 2.0

    @field_validator("admin_token", "internal_auth_secret", "internal_auth_secrets", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("admin_token")
    @classmethod
    def _admin_token_is_long(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_ADMIN_TOKEN_LENGTH:
            raise ValueError(
                f"ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LENGTH} characters (e.g. `openssl rand -hex 32`)"
            )
        return value
