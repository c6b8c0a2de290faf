"""Settings of the dispatch service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "dispatch"
    database_url: str = "sqlite+aiosqlite:///./dispatch.db"
    trace_sample_ratio: float = 0.05
    # customer: customer-service in the cluster; override with CUSTOMER_URL
    customer_url: str = "http://customer-service"
    # pricing: pricing-service in the cluster; override with PRICING_URL
    pricing_url: str = "http://pricing-service"
