"""Settings every service reads from its environment (twelve-factor)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Base settings; a generated service adds its own defaults."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = "service"
    database_url: str = "sqlite+aiosqlite:///./service.db"
    database_echo: bool = False
    database_pool_size: int = 10
    log_level: str = "INFO"
