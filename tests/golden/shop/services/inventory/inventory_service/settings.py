"""Settings of the inventory service, read from the environment."""

from msgen_runtime.settings import ServiceSettings


class Settings(ServiceSettings):
    service_name: str = "inventory"
    database_url: str = "sqlite+aiosqlite:///./inventory.db"
    trace_sample_ratio: float = 0.01
    # product: product-service in the cluster; override with PRODUCT_URL
    product_url: str = "http://product-service"
