"""Custom operations: business logic, yours to edit.

msgen wrote a working default for each operation; change it freely: `msgen regen`
merges what the generator changes into your version and never drops your edits,
while the routes, schemas and models around it follow the spec.
"""

from decimal import Decimal
from typing import Literal

from msgen_runtime.problems import NotImplementedYet
from sqlalchemy.ext.asyncio import AsyncSession

from pricing_service.schemas import Quote


async def quote_delivery(
    session: AsyncSession,
    zone: str,
    *,
    distance_km: Decimal,
    express: bool = False,
    currency: Literal["EUR", "GBP"] = "EUR",
) -> Quote:
    """The fee of a delivery in a zone."""
    raise NotImplementedYet("quoteDelivery", "services/pricing/pricing_service/handlers/operations.py")
