"""Clients of the services order calls (generated from the spec's calls).

Handlers use them through `clients()`, e.g. `await clients().product.get_product(...)`.
"""

from msgen_runtime.cache import make_cache

from order_service.clients.product import ProductClient
from order_service.clients.user import UserClient
from order_service.settings import Settings


class Clients:
    """One client per downstream service, with the timeouts and retries of the spec."""

    def __init__(self, settings: Settings) -> None:
        # the answers of the calls with a cache_ttl: Redis when REDIS_URL is set, else in this process
        namespace = settings.cache_namespace or f"msgen:{settings.service_name}"
        self.cache = make_cache(
            f"{settings.service_name}.calls",
            settings.redis_url,
            f"{namespace}:calls",
            enabled=settings.cache_enabled,
        )
        self.product = ProductClient(
            "product",
            settings.product_url,
            timeout=0.3,
            retries=2,
            timeout_floor=settings.call_timeout_floor_seconds,
            cache=self.cache,
        )
        self.user = UserClient(
            "user",
            settings.user_url,
            timeout=0.5,
            retries=2,
            timeout_floor=settings.call_timeout_floor_seconds,
        )

    async def close(self) -> None:
        await self.product.close()
        await self.user.close()
        await self.cache.close()


_current: Clients | None = None


def configure_clients(settings: Settings) -> Clients:
    """Create the clients of the app being built."""
    global _current
    _current = Clients(settings)
    return _current


def clients() -> Clients:
    """The clients of the running app."""
    if _current is None:
        raise RuntimeError("the clients are created with the app: call create_app() first")
    return _current
