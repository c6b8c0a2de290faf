"""Settings of the notification service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "notification"
    database_url: str = "sqlite+aiosqlite:///./notification.db"
    trace_sample_ratio: float = 0.05
    # customer: customer-service in the cluster; override with CUSTOMER_URL
    customer_url: str = "http://customer-service"
