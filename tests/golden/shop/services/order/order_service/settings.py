"""Settings of the order service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "order"
    database_url: str = "sqlite+aiosqlite:///./order.db"
    trace_sample_ratio: float = 0.01
    # product: product-service in the cluster; override with PRODUCT_URL
    product_url: str = "http://product-service"
    # user: user-service in the cluster; override with USER_URL
    user_url: str = "http://user-service"
