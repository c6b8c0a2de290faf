"""Settings of the notification service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "notification"
    database_url: str = "sqlite+aiosqlite:///./notification.db"
    trace_sample_ratio: float = 0.05
