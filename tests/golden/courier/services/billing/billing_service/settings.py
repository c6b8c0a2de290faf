"""Settings of the billing service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "billing"
    database_url: str = "sqlite+aiosqlite:///./billing.db"
    trace_sample_ratio: float = 0.05
