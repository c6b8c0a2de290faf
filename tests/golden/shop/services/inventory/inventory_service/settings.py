"""Settings of the inventory service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "inventory"
    database_url: str = "sqlite+aiosqlite:///./inventory.db"
