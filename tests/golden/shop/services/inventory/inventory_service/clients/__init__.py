"""Clients of the services inventory calls (generated from the spec's calls).

Handlers use them through `clients()`, e.g. `await clients().product.get_product(...)`.
"""

from inventory_service.clients.product import ProductClient
from inventory_service.settings import Settings


class Clients:
    """One client per downstream service, with the timeouts and retries of the spec."""

    def __init__(self, settings: Settings) -> None:
        self.product = ProductClient(
            "product",
            settings.product_url,
            timeout=0.3,
            retries=2,
            timeout_floor=settings.call_timeout_floor_seconds,
        )

    async def close(self) -> None:
        await self.product.close()


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
