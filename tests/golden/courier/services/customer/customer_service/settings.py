"""Settings of the customer service, read from the environment."""

from msgen_runtime.settings import ServiceSettings
from pydantic import Field


class Settings(ServiceSettings):
    service_name: str = "customer"
    database_url: str = "sqlite+aiosqlite:///./customer.db"
    trace_sample_ratio: float = 0.05
    # who may call it (the `iss` of the internal tokens it accepts); override with INTERNAL_CALLERS='["gateway"]'
    internal_callers: list[str] = Field(default_factory=lambda: ["gateway", "dispatch", "notification"])
