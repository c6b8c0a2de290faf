"""Settings of the payment service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "payment"
    database_url: str = "sqlite+aiosqlite:///./payment.db"
    trace_sample_ratio: float = 0.01
