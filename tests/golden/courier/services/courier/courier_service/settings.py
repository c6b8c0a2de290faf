"""Settings of the courier service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "courier"
    database_url: str = "sqlite+aiosqlite:///./courier.db"
    trace_sample_ratio: float = 0.05
