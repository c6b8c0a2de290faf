"""Settings of the user service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "user"
    database_url: str = "sqlite+aiosqlite:///./user.db"
    trace_sample_ratio: float = 0.01
