"""Settings of the order service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "order"
    database_url: str = "sqlite+aiosqlite:///./order.db"
