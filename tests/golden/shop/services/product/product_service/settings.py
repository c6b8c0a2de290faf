"""Settings of the product service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "product"
    database_url: str = "sqlite+aiosqlite:///./product.db"
    trace_sample_ratio: float = 0.01
